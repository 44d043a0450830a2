// Launchers of the fused CUDA inference kernels (fused_kernels.cu). Torch-free, so that nvcc
// compiles the kernels without libtorch's headers; fused_cuda_ops.cpp checks shapes and dtypes and
// calls these on the current stream. Each returns the launch's cudaError_t as an int (0: launched).
//
// Every kernel rounds exactly as the ATen chain it replaces does in that dtype: each ATen op
// computes in fp32 and rounds its result to the tensor's dtype, so the kernels round after the
// same steps (a bf16 `a * b + c * d` is round(round(a * b) + round(c * d))).
#pragma once

#include <cstdint>

namespace s2d::cuda_kernels {

enum class DType { F32, BF16, F16 };

// out[r, i] = weight[i] * round(x[r, i] * inv[r]), inv[r] = rsqrt(var[r] + eps) in fp32, where
// var [rows] fp32 is the mean of x's squares (computed by ATen, so its summation order is ATen's).
// x, out [rows, H] contiguous; weight [H].
int rms_norm_scale(const void* x, const float* var, const void* weight, void* out, int64_t rows, int64_t H, float eps,
                   DType dtype, void* stream);

// out[r, i] = round(round(silu(gate[r, i])) * up[r, i]), with gate and up the two halves of
// gate_up [rows, 2 I] (contiguous) and out [rows, I].
int silu_mul(const void* gate_up, void* out, int64_t rows, int64_t I, DType dtype, void* stream);

// RoPE (rotate-half layout) on the first NH + KV heads of qkv [rows, (NH + 2 KV) * D] (contiguous):
// y = round(round(x * cos) + round(rotate_half(x) * sin)) with cos, sin [rows, D]; q goes to
// q_out [rows, NH, D], k to k_out [rows, KV, D].
int rope_qk(const void* qkv, const void* cos, const void* sin, void* q_out, void* k_out, int64_t rows, int64_t NH,
            int64_t KV, int64_t D, DType dtype, void* stream);

// The residual add before an RMSNorm: h_out = round(h + d), and sq = float(h_out)^2 in fp32, the
// chain's `x.float().pow(2)` (ATen then takes its mean, so the norm keeps the chain's bits).
// h, d, h_out [n] contiguous; sq [n] fp32.
int add_square(const void* h, const void* d, void* h_out, float* sq, int64_t n, DType dtype, void* stream);

// rope_qk for one new token per row, writing the rotated key to k_cache[b, g, pos[b]] and the
// value (qkv's last KV heads, copied) to v_cache[b, g, pos[b]] instead of a scatter after:
// qkv [B, (NH + 2 KV) * D], cos, sin [B, D], q_out [B, NH, D], caches [B, KV, C, D], all
// contiguous; pos [B] int64. A row whose pos is outside [0, C) writes nothing to the cache.
int rope_qk_append(const void* qkv, const void* cos, const void* sin, const int64_t* pos, void* q_out, void* k_cache,
                   void* v_cache, int64_t B, int64_t NH, int64_t KV, int64_t D, int64_t C, DType dtype, void* stream);

}  // namespace s2d::cuda_kernels
