// Helpers shared by the unit tests: a fresh temp dir per test, whole-file read/write, and this
// process's resident memory.
#pragma once

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "s2d/util/atomic_file.h"

namespace s2d::testing {

inline std::string fresh_dir(const std::string& name) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  auto dir = std::filesystem::temp_directory_path() / "s2d_tests" /
             (std::string(info->test_suite_name()) + "." + info->name() + "." + name);
  s2d::remove_tree(dir.string());  // not fs::remove_all: see atomic_file.h
  std::filesystem::create_directories(dir);
  return dir.string();
}

// Bytes of this process's memory resident now (Linux: /proc/self/statm).
inline int64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * static_cast<int64_t>(::sysconf(_SC_PAGESIZE));
}

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs `expr`, expecting an s2d::Error whose one-line message contains every listed fragment.
#define EXPECT_S2D_ERROR(expr, expected_kind, ...)                                                                     \
  do {                                                                                                                 \
    try {                                                                                                              \
      expr;                                                                                                            \
      ADD_FAILURE() << "expected an s2d::Error from " #expr;                                                           \
    } catch (const s2d::Error& e) {                                                                                    \
      EXPECT_EQ(e.kind(), expected_kind) << e.what();                                                                  \
      for (const char* frag : {__VA_ARGS__})                                                                           \
        EXPECT_NE(std::string(e.what()).find(frag), std::string::npos) << "missing '" << frag << "' in: " << e.what(); \
    }                                                                                                                  \
  } while (0)

}  // namespace s2d::testing
