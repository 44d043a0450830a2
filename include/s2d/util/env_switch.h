// An opt-in switch read once from the environment (NAME=1 turns it on), which tests can override
// to compare both paths in one process. For features that stay off until measured on a GPU.
#pragma once

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace s2d {

class EnvSwitch {
 public:
  explicit constexpr EnvSwitch(const char* name) : name_(name) {}
  bool on() {
    int v = state_.load();
    if (v < 0) {
      const char* s = std::getenv(name_);
      v = s != nullptr && std::strcmp(s, "1") == 0;
      state_.store(v);
    }
    return v == 1;
  }
  void set(bool on) { state_.store(on ? 1 : 0); }

 private:
  const char* name_;
  std::atomic<int> state_{-1};  // -1: not read yet; then 0 or 1
};

}  // namespace s2d
