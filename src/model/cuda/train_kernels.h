// Launchers of the fused CUDA training kernels (train_kernels.cu): the forward and backward of
// silu·mul and RoPE as single kernels, for fused_autograd_ops.cpp's autograd nodes. Torch-free, as
// fused_kernels.h; each returns the launch's cudaError_t as an int (0: launched).
//
// Each result has the bits of the ATen chain's autograd in that dtype: every ATen op computes in
// fp32 and rounds its result, and autograd rounds a gradient to its input's dtype.
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

}  // namespace s2d::cuda_kernels
