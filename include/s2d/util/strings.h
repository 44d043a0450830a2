// Small string helpers shared across layers.
#pragma once

#include <cstdint>
#include <string>

namespace s2d {

// Without leading and trailing spaces, tabs and newlines.
std::string trim(const std::string& s);

// FNV-1a 64-bit hash: stable across platforms and runs (seeds, splits), unlike std::hash.
uint64_t fnv1a(const std::string& s);

}  // namespace s2d
