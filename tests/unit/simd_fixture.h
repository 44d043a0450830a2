// The instruction sets the CPU kernel tests run: the plain reference, and every vector set this
// CPU has (AVX2 also on an AVX-512 machine).
#pragma once

#include <vector>

#include "s2d/model/few_row_matmul.h"

namespace s2d::testing {

inline std::vector<few_rows::Simd> simd_here() {
  std::vector<few_rows::Simd> out = {few_rows::Simd::None};
  if (few_rows::detect() != few_rows::Simd::None) out.push_back(few_rows::Simd::Avx2);
  if (few_rows::detect() == few_rows::Simd::Avx512) out.push_back(few_rows::Simd::Avx512);
  return out;
}

}  // namespace s2d::testing
