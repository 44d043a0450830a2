// The few-row matmul's kernel, written once over a vector traits type `Vec` that the including
// translation unit defines for its instruction set (few_row_avx2.cpp, few_row_avx512.cpp):
//   Vec::V, Vec::kLanes, Vec::kRegs, zero(), load(p), store(p, v), broadcast(f), fma(a, b, acc),
//   prefetch(p).
// Everything here has internal linkage: each TU is built with its own -m flags, and a shared inline
// function would let the linker keep one TU's AVX-512 copy for every caller.
#pragma once

#include <cstdint>

namespace {

// Vectors per strip for a tile of M rows: M x J sums plus the J loaded vectors of w stay in
// registers (two spare for the broadcast and addressing).
template <int M>
constexpr int strip_vectors() {
  const int j = (Vec::kRegs - 2) / (M + 1);
  return j < 1 ? 1 : (j > 8 ? 8 : j);
}

// Rows [0, M) of the tile at x (row stride K) times columns [n, n + J * kLanes) of w.
template <int M, int J>
inline void strip(const float* x, int64_t K, const float* w, int64_t ldw, int64_t n, float* out, int64_t ldo) {
  typename Vec::V acc[M][J];
  for (int m = 0; m < M; ++m)
    for (int j = 0; j < J; ++j) acc[m][j] = Vec::zero();
  const float* row = w + n;
  for (int64_t k = 0; k < K; ++k, row += ldw) {
    // A few rows ahead: the strips of one row are ldw floats apart, too far for the prefetcher.
    for (int j = 0; j < J; j += 64 / (4 * Vec::kLanes)) Vec::prefetch(row + 8 * ldw + j * Vec::kLanes);
    typename Vec::V wv[J];
    for (int j = 0; j < J; ++j) wv[j] = Vec::load(row + j * Vec::kLanes);
    for (int m = 0; m < M; ++m) {
      const typename Vec::V xm = Vec::broadcast(x[m * K + k]);
      for (int j = 0; j < J; ++j) acc[m][j] = Vec::fma(xm, wv[j], acc[m][j]);
    }
  }
  for (int m = 0; m < M; ++m)
    for (int j = 0; j < J; ++j) Vec::store(out + m * ldo + n + j * Vec::kLanes, acc[m][j]);
}

// Columns [n0, n1) for a tile of M rows: strips of J vectors, then single vectors, then the
// columns past the last whole vector one by one (the same fused multiply-adds in the same order).
template <int M>
void tile_columns(const float* x, int64_t K, const float* w, int64_t ldw, int64_t n0, int64_t n1, float* out,
                  int64_t ldo) {
  constexpr int J = strip_vectors<M>();
  constexpr int64_t L = Vec::kLanes;
  int64_t n = n0;
  for (; n + J * L <= n1; n += J * L) strip<M, J>(x, K, w, ldw, n, out, ldo);
  for (; n + L <= n1; n += L) strip<M, 1>(x, K, w, ldw, n, out, ldo);
  for (; n < n1; ++n)
    for (int m = 0; m < M; ++m) {
      float s = 0;
      for (int64_t k = 0; k < K; ++k) s = __builtin_fmaf(x[m * K + k], w[k * ldw + n], s);
      out[m * ldo + n] = s;
    }
}

void one_tile(const float* x, int64_t M, int64_t K, const float* w, int64_t ldw, int64_t n0, int64_t n1, float* out,
              int64_t ldo) {
  switch (M) {
    case 1: tile_columns<1>(x, K, w, ldw, n0, n1, out, ldo); break;
    case 2: tile_columns<2>(x, K, w, ldw, n0, n1, out, ldo); break;
    case 3: tile_columns<3>(x, K, w, ldw, n0, n1, out, ldo); break;
    case 4: tile_columns<4>(x, K, w, ldw, n0, n1, out, ldo); break;
    case 5: tile_columns<5>(x, K, w, ldw, n0, n1, out, ldo); break;
    case 6: tile_columns<6>(x, K, w, ldw, n0, n1, out, ldo); break;
    case 7: tile_columns<7>(x, K, w, ldw, n0, n1, out, ldo); break;
    default: tile_columns<8>(x, K, w, ldw, n0, n1, out, ldo); break;
  }
}

// Up to 8 rows in one pass over w. More rows go in tiles of 8 over chunks of 24 vectors (a
// multiple of most strip widths), so that the later tiles read the chunk from cache, not memory.
void all_tiles(const float* x, int64_t M, int64_t K, const float* w, int64_t ldw, int64_t n0, int64_t n1, float* out,
               int64_t ldo) {
  if (M <= 8) return one_tile(x, M, K, w, ldw, n0, n1, out, ldo);
  const int64_t chunk = 24 * Vec::kLanes;
  for (int64_t c0 = n0; c0 < n1; c0 += chunk) {
    const int64_t c1 = c0 + chunk < n1 ? c0 + chunk : n1;
    for (int64_t m0 = 0; m0 < M; m0 += 8)
      one_tile(x + m0 * K, M - m0 < 8 ? M - m0 : 8, K, w, ldw, c0, c1, out + m0 * ldo, ldo);
  }
}

}  // namespace
