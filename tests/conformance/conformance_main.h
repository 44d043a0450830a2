// What the conformance test programs' main()s share: their flags (--NAME VALUE, after gtest took
// its own) and the report lines they append to DIR/report.txt (printed at the end of a test run).
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <iostream>
#include <string>

namespace s2d::conformance {

class Flags {
 public:
  // Takes gtest's flags out of argv first.
  Flags(int& argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    argc_ = argc, argv_ = argv;
  }
  std::string get(const std::string& name, const std::string& otherwise = "") const {
    for (int i = 1; i + 1 < argc_; ++i)
      if (argv_[i] == name) return argv_[i + 1];
    return otherwise;
  }

 private:
  int argc_ = 0;
  char** argv_ = nullptr;
};

// For a missing flag: the usage line, and the exit code for bad input.
inline int usage(const std::string& line) {
  std::cerr << "usage: " << line << "\n";
  return 2;
}

// Prints `line` and appends it to dir/report.txt.
inline void report(const std::string& dir, const std::string& line) {
  std::cout << line << std::endl;
  std::ofstream(dir + "/report.txt", std::ios::app) << line << "\n";
}

}  // namespace s2d::conformance
