// The few-row matmul's kernel, written once over a vector traits type `Vec` that the including
// translation unit defines for its instruction set (few_row_avx2.cpp, few_row_avx512.cpp):
//   Vec::V, Vec::kLanes, Vec::kRegs, zero(), load(p), store(p, v), broadcast(f), fma(a, b, acc).
// Everything here has internal linkage: each TU is built with its own -m flags, and a shared inline
// function would let the linker keep one TU's AVX-512 copy for every caller.
#pragma once

#include <cstdint>

#include "s2d/model/few_row_matmul.h"

namespace {

constexpr int kPanelVectors = static_cast<int>(s2d::few_rows::kPanelWidth) / Vec::kLanes;
static_assert(kPanelVectors * Vec::kLanes == s2d::few_rows::kPanelWidth, "a panel is whole vectors");

// Vectors per strip for a tile of M rows: the largest divisor of a panel's vectors for which the
// M x J sums plus the J loaded vectors of w stay in registers (two spare for the broadcast and
// addressing).
template <int M>
constexpr int strip_vectors() {
  int j = (Vec::kRegs - 2) / (M + 1);
  while (j > 1 && kPanelVectors % j != 0) --j;
  return j < 1 ? 1 : j;
}

// Rows [0, M) of the tile at x (row stride K) times J vectors of columns at w (row stride ldw),
// into out (row stride ldo).
template <int M, int J>
inline void strip(const float* x, int64_t K, const float* w, int64_t ldw, float* out, int64_t ldo) {
  typename Vec::V acc[M][J];
  for (int m = 0; m < M; ++m)
    for (int j = 0; j < J; ++j) acc[m][j] = Vec::zero();
  for (int64_t k = 0; k < K; ++k, w += ldw) {
    typename Vec::V wv[J];
    for (int j = 0; j < J; ++j) wv[j] = Vec::load(w + j * Vec::kLanes);
    for (int m = 0; m < M; ++m) {
      const typename Vec::V xm = Vec::broadcast(x[m * K + k]);
      for (int j = 0; j < J; ++j) acc[m][j] = Vec::fma(xm, wv[j], acc[m][j]);
    }
  }
  for (int m = 0; m < M; ++m)
    for (int j = 0; j < J; ++j) Vec::store(out + m * ldo + j * Vec::kLanes, acc[m][j]);
}

// One panel [K, P] (row stride P) for a tile of M rows: columns [0, width) of it into out. A full
// panel is whole strips; the last one of a matrix may end in single vectors and then single columns
// (the same fused multiply-adds in the same order).
template <int M>
void panel_tile(const float* x, int64_t K, const float* panel, int64_t width, float* out, int64_t ldo) {
  constexpr int J = strip_vectors<M>();
  constexpr int64_t L = Vec::kLanes, P = s2d::few_rows::kPanelWidth;
  int64_t n = 0;
  for (; n + J * L <= width; n += J * L) strip<M, J>(x, K, panel + n, P, out + n, ldo);
  for (; n + L <= width; n += L) strip<M, 1>(x, K, panel + n, P, out + n, ldo);
  for (; n < width; ++n)
    for (int m = 0; m < M; ++m) {
      float s = 0;
      for (int64_t k = 0; k < K; ++k) s = __builtin_fmaf(x[m * K + k], panel[k * P + n], s);
      out[m * ldo + n] = s;
    }
}

void one_tile(const float* x, int64_t M, int64_t K, const float* panel, int64_t width, float* out, int64_t ldo) {
  switch (M) {
    case 1: panel_tile<1>(x, K, panel, width, out, ldo); break;
    case 2: panel_tile<2>(x, K, panel, width, out, ldo); break;
    case 3: panel_tile<3>(x, K, panel, width, out, ldo); break;
    case 4: panel_tile<4>(x, K, panel, width, out, ldo); break;
    case 5: panel_tile<5>(x, K, panel, width, out, ldo); break;
    case 6: panel_tile<6>(x, K, panel, width, out, ldo); break;
    case 7: panel_tile<7>(x, K, panel, width, out, ldo); break;
    default: panel_tile<8>(x, K, panel, width, out, ldo); break;
  }
}

// Panels [p0, p1), each read once from memory: its tiles of 8 rows follow one another while it
// is in cache.
void all_panels(const float* x, int64_t M, int64_t K, const float* panels, int64_t N, int64_t p0, int64_t p1,
                float* out, int64_t ldo) {
  constexpr int64_t P = s2d::few_rows::kPanelWidth;
  for (int64_t p = p0; p < p1; ++p) {
    const float* panel = panels + p * K * P;
    const int64_t n0 = p * P, width = N - n0 < P ? N - n0 : P;
    for (int64_t m0 = 0; m0 < M; m0 += 8)
      one_tile(x + m0 * K, M - m0 < 8 ? M - m0 : 8, K, panel, width, out + m0 * ldo + n0, ldo);
  }
}

}  // namespace
