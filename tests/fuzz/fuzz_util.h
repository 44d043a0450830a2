// Shared by the fuzz targets: input bytes as a file (for readers that take a path), and the rule
// that an s2d::Error is the expected answer to bad input while any other exception is a bug.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "s2d/util/error.h"

namespace s2d::fuzz {

// A per-process file under /dev/shm (tmpfs: no disk I/O per run), rewritten with `data`.
inline const std::string& write_input(const uint8_t* data, size_t size) {
  static const std::string path = "/dev/shm/s2d_fuzz." + std::to_string(::getpid());
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f != nullptr) {
    if (size > 0) std::fwrite(data, 1, size, f);
    std::fclose(f);
  }
  return path;
}

// Runs `fn`; an s2d::Error (a clear input error) is fine, anything else escapes to libFuzzer.
template <class Fn>
void expect_clean(Fn&& fn) {
  try {
    fn();
  } catch (const s2d::Error&) {
  }
}

}  // namespace s2d::fuzz
