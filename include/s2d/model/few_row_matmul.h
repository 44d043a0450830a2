// out = x @ w on the CPU in fp32 for the few rows of a decode step: x [M, K], w [K, N] row-major
// (the packed [in, out] layout of LlamaWeights), M <= kMaxRows.
//
// With few rows the product is bound by reading w once from memory, and MKL's sgemm does not
// reach that bound at these shapes: for M > 1 it copies panels of w on every call, and its sgemv
// streams below the machine's bandwidth (docs/benchmarks.md has the measurements). This kernel
// reads w once, in column strips of J vectors: for each strip it walks down the K rows, keeping a
// tile of up to 8 rows x J vectors of sums in registers, and later row tiles find the strip in
// cache. Each sum runs over k = 0..K-1 in order, so a row's result does not depend on how many
// other rows share the call.
//
// Torch-free; the ISA-specific code lives in one translation unit per instruction set, each built
// with its own -m flags (src/model/kernels/), and is only called where this CPU has it.
#pragma once

#include <cstdint>

namespace s2d::few_rows {

enum class Simd { None, Avx2, Avx512 };

constexpr int64_t kMaxRows = 32;

// The widest instruction set this CPU and OS run, capped by S2D_CPU_SIMD=none (every product
// through MKL, to compare) or S2D_CPU_SIMD=avx2 (the narrower kernel on a wider CPU).
Simd detect();
const char* simd_name(Simd s);
// Floats per vector: thread chunks of columns should start at multiples of it.
int64_t lanes(Simd s);

// out[m * ldo + n] = sum_k x[m * K + k] * w[k * ldw + n] for m < M and n in [n0, n1), with
// 1 <= M <= kMaxRows. Simd::None is a plain loop (the reference the tests compare against); the
// others must be supported by this CPU (see detect()).
void matmul_columns(Simd s, const float* x, int64_t M, int64_t K, const float* w, int64_t ldw, int64_t n0, int64_t n1,
                    float* out, int64_t ldo);

}  // namespace s2d::few_rows
