// out = x @ w on the CPU in fp32 for the few rows of a decode step: x [M, K], w [K, N] stored as
// *panels* (below), M <= kMaxRows.
//
// With few rows the product is bound by reading w once from memory. Read down the columns of a
// row-major [K, N] matrix, each row of a strip is a separate cache line run N floats from the last,
// and on the 2-core CI machine one thread then streams about 15 GB/s, half of what it reads
// sequentially (docs/benchmarks.md). So the decode weights get a second layout, panels of
// kPanelWidth columns, each stored row by row: block p holds columns [p * P, p * P + P) of w as
// [K, P], contiguous. The kernel walks one panel at a time, sequentially, keeping a tile of up to
// 8 rows x J vectors of sums in registers; the panel (K x P floats, at most a few hundred KiB)
// stays in cache for the later row tiles. Each sum runs over k = 0..K-1 in order, so a row's
// result does not depend on how many other rows share the call.
//
// Torch-free; the ISA-specific code lives in one translation unit per instruction set, each built
// with its own -m flags (src/model/kernels/), and is only called where this CPU has it.
#pragma once

#include <cstdint>

namespace s2d::few_rows {

enum class Simd { None, Avx2, Avx512 };

constexpr int64_t kMaxRows = 32;
// Columns per panel: 3 AVX-512 vectors, 6 AVX2 ones.
constexpr int64_t kPanelWidth = 48;

// Panels a [K, N] matrix takes: ceil(N / kPanelWidth) blocks of K * kPanelWidth floats.
constexpr int64_t panel_count(int64_t N) { return (N + kPanelWidth - 1) / kPanelWidth; }

// The most rows a product should take through the kernel rather than through MKL: kMaxRows, but
// 8 on Intel CPUs, where MKL runs its own fastest code and overtakes the kernel past about 8
// rows (SmolLM2 decode on a 2-core Xeon with AVX-512, tok/s kernel / MKL: 105 / 91 at batch 4,
// 155 / 137 at 8, 192 / 201 at 16, 219 / 289 at 32; on an AMD EPYC the kernel led at every batch
// up to 32: 314 / 218 tok/s there, where MKL takes slower code paths).
int64_t max_rows();

// The widest instruction set this CPU and OS run, capped by S2D_CPU_SIMD=none (every product
// through MKL, to compare) or S2D_CPU_SIMD=avx2 (the narrower kernel on a wider CPU).
Simd detect();
const char* simd_name(Simd s);

// For m < M and the columns n of panels [p0, p1) below N:
//   out[m * ldo + n] = sum_k x[m * K + k] * w[k, n],  w[k, n] = panels[(n / P) * K * P + k * P + n % P]
// with 1 <= M <= kMaxRows. Simd::None is a plain loop (the reference the tests compare against); the
// others must be supported by this CPU (see detect()).
void matmul_panels(Simd s, const float* x, int64_t M, int64_t K, const float* panels, int64_t N, int64_t p0, int64_t p1,
                   float* out, int64_t ldo);

}  // namespace s2d::few_rows
