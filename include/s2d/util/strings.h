// Small string helpers shared across layers.
#pragma once

#include <cstdint>
#include <string>

namespace s2d {

// Without leading and trailing spaces, tabs and newlines.
std::string trim(const std::string& s);

// FNV-1a 64-bit hash: stable across platforms and runs (seeds, splits), unlike std::hash.
uint64_t fnv1a(const std::string& s);

// One number through a printf format: format_number("%.1f%%", 12.34) == "12.3%".
std::string format_number(const char* format, double v);

}  // namespace s2d
