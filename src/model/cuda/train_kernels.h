// Launchers of the fused CUDA training kernels (train_kernels.cu): the forward and backward of
// silu·mul, RoPE, and the residual add with its RMSNorm, as single kernels, for
// fused_autograd_ops.cpp's autograd nodes. Torch-free, as fused_kernels.h; each returns the
// launch's cudaError_t as an int (0: launched).
//
// silu·mul's and RoPE's results have the bits of the ATen chain's autograd in that dtype: every
// ATen op computes in fp32 and rounds its result, and autograd rounds a gradient to its input's
// dtype. The norm's sums over a row are the kernel's own, so it matches at::rms_norm to rounding.
#pragma once

#include <cstdint>

#include "fused_kernels.h"  // DType

namespace s2d::cuda_kernels {

// The gradient of silu(gate) * up: gate_up [rows, 2 I] and grad [rows, I] (contiguous, one dtype)
// -> grad_gate_up [rows, 2 I] = [silu_backward(round(grad * up), gate), round(grad * round(silu(gate)))].
int silu_mul_backward(const void* gate_up, const void* grad, void* grad_gate_up, int64_t rows, int64_t I, DType dtype,
                      void* stream);

// RoPE with fp32 tables on x of any float dtype (training under autocast: a bf16 projection, fp32
// cos and sin), so the products and the sum are fp32: x [B, H, T, D] with strides
// (sb, sh, st, 1) in `dtype`; cos, sin [B, T, D] fp32 contiguous -> out [B, T, H, D] fp32.
int rope_fp32_tables(const void* x, int64_t sb, int64_t sh, int64_t st, const float* cos, const float* sin, float* out,
                     int64_t B, int64_t H, int64_t T, int64_t D, DType dtype, void* stream);

// rope_fp32_tables's gradient: grad [B, H, T, D] fp32 with strides (sb, sh, st, 1) -> grad_x
// [B, T, H, D] in `dtype`, round(round(grad * cos) + rotate_half^T(round(grad * sin))) with
// rotate_half^T([y1, y2]) = [y2, -y1], each product rounded to x's dtype as autograd does.
int rope_fp32_tables_backward(const float* grad, int64_t sb, int64_t sh, int64_t st, const float* cos, const float* sin,
                              void* grad_x, int64_t B, int64_t H, int64_t T, int64_t D, DType dtype, void* stream);

// The residual add and the RMSNorm after it, for training (at::rms_norm's numerics, not
// bit-exact: the row sums run in the kernel's order). h [rows, H] in `dtype` (the sum's dtype), d
// [rows, H] in `d_dtype`, w [H] in `dtype`, all contiguous ->
//   s = round(h + d) [rows, H] in `dtype`, the residual stream;
//   y = round(s * rstd * w) [rows, H] in `y_dtype` (autocast's dtype where s is fp32: the GEMM
//   after it would cast y anyway);
//   rstd [rows] fp32 = rsqrt(mean(s^2) + eps), for the backward.
int add_rms_norm_forward(const void* h, const void* d, const void* w, void* s, void* y, float* rstd, int64_t rows,
                         int64_t H, float eps, DType dtype, DType d_dtype, DType y_dtype, void* stream);

// Blocks add_rms_norm_backward runs for `rows` rows: the rows of its weight-gradient partials.
int64_t add_rms_norm_backward_blocks(int64_t rows);

// Its gradient, for gy [rows, H] in `y_dtype` and gs [rows, H] in `dtype` (the gradient that
// reaches s from the residual stream's later use; null: none):
//   v = gs + rstd * gy * w - s * rstd^3 * sum(gy * w * s) / H, in fp32, for each row;
//   gh = round(v) [rows, H] in `dtype`; gd = round(v) in `d_dtype` (null: not wanted, as where
//   d_dtype is dtype and gh serves for both);
//   gw_partial [add_rms_norm_backward_blocks(rows), H] fp32: sums of gy * s * rstd over each block's
//   rows, which the caller adds up (null: the weight is frozen).
int add_rms_norm_backward(const void* gy, const void* gs, const void* s, const void* w, const float* rstd, void* gh,
                          void* gd, float* gw_partial, int64_t rows, int64_t H, DType dtype, DType d_dtype,
                          DType y_dtype, void* stream);

}  // namespace s2d::cuda_kernels
