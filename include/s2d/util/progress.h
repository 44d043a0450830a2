// Progress on stderr: count, rate and ETA.
// On a TTY it redraws one bar in place; elsewhere (CI, pipes, log files) it prints a plain line
// at most every `interval_s` seconds, so logs stay readable. Not thread-safe: one owner thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace s2d {

class Progress {
 public:
  // `total` <= 0 means unknown (no bar, no ETA). `unit` names what is counted ("tasks").
  Progress(std::string label, int64_t total, std::string unit = "items", double interval_s = 5.0);
  ~Progress();

  void advance(int64_t n = 1) { update(done_ + n); }
  void update(int64_t done);
  // Free text shown after the numbers, e.g. "412 tok/s".
  void set_extra(std::string extra) { extra_ = std::move(extra); }
  void finish();

  // The line as it would be printed now (exposed for tests).
  std::string render(double elapsed_s) const;
  static std::string format_duration(double seconds);

 private:
  void draw(bool final);

  std::string label_, unit_, extra_;
  int64_t total_, done_ = 0;
  double interval_s_;
  bool tty_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace s2d
