// Fused CUDA kernels for inference (src/model/cuda/fused_kernels.cu) in place of ATen chains of
// elementwise ops: at a decode step each ATen op is a kernel launch (about 41 per layer), and
// the host time to issue them bounds the step at small batches. Each function returns what its
// ATen chain returns, bit for bit (the kernels round where each ATen op rounds; the RMSNorm's
// mean of squares stays an ATen reduction, for its summation order), or an undefined tensor
// where it does not apply: a build without nvcc, the kernels switched off, not a contiguous
// fp32/bf16/fp16 CUDA tensor, or autograd recording (training reaches the kernels through
// fused_autograd_ops.h). The caller then runs the ATen chain.
//
// Off by default until measured on a GPU: S2D_CUDA_FUSED=1 in the environment switches them on.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <utility>

namespace s2d {

// Whether the kernels were compiled in (a CUDA build of libtorch and nvcc at configure time).
bool cuda_fused_kernels_built();
// Overrides S2D_CUDA_FUSED (tests compare both paths in one process).
void set_cuda_fused_kernels(bool on);

// What the functions below accept.
bool fusable_on_cuda(const at::Tensor& x);

// HF's LlamaRMSNorm: weight * (x.float() * rsqrt(mean(x.float()^2) + eps)).to(x.dtype). x [..., H], weight [H].
at::Tensor rms_norm_cuda(const at::Tensor& x, const at::Tensor& weight, double eps);

// The residual add and the norm after it: {h + d, rms_norm_cuda(h + d, weight, eps)}, one kernel for
// the add and the squares (ATen still takes their mean). h, d [..., H] of one dtype.
std::pair<at::Tensor, at::Tensor> add_rms_norm_cuda(const at::Tensor& h, const at::Tensor& d, const at::Tensor& weight,
                                                    double eps);

// silu(gate) * up with gate and up the halves of gate_up [..., 2 I] -> [..., I].
at::Tensor silu_mul_cuda(const at::Tensor& gate_up, int64_t I);

// RoPE (rotate-half layout) on the q and k parts of the fused projection, as rope_qk_cpu:
// qkv [B, T, (NH + 2 KV) * D] and cos, sin [B, T, D] -> q [B, T, NH, D], k [B, T, KV, D].
std::pair<at::Tensor, at::Tensor> rope_qk_cuda(const at::Tensor& qkv, const at::Tensor& cos, const at::Tensor& sin,
                                               int64_t NH, int64_t KV, int64_t D);

// rope_qk_cuda for a decode step (T == 1), which also writes the rotated key and the value into the
// caches at each row's column: qkv [B, 1, F], cos, sin [B, 1, D], k_cache, v_cache [B, KV, C, D]
// (contiguous), pos [B] int64 on the device -> q [B, 1, NH, D]. What the step's scatter of k and
// v into the caches did, in the same kernel as the rotation.
at::Tensor rope_qk_append_cuda(const at::Tensor& qkv, const at::Tensor& cos, const at::Tensor& sin, int64_t NH,
                               int64_t KV, int64_t D, at::Tensor& k_cache, at::Tensor& v_cache, const at::Tensor& pos);

// Training's kernels, called inside fused_autograd_ops.h's autograd nodes (where autograd records
// nothing). Each returns what the chain's autograd returns, bit for bit, or undefined where it
// does not apply.

// The gradient of silu_mul_cuda: gate_up [..., 2 I] and grad [..., I] -> d gate_up [..., 2 I].
at::Tensor silu_mul_backward_cuda(const at::Tensor& gate_up, const at::Tensor& grad, int64_t I);

// x * cos + rotate_half(x) * sin with fp32 tables (training: autocast's bf16 projections, or fp32):
// x [B, H, T, D] with unit stride over D, cos, sin [B, 1, T, D] fp32 -> [B, H, T, D] fp32, stored
// [B, T, H, D] as the chain's TensorIterator lays out a transposed projection.
at::Tensor rope_fp32_tables_cuda(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

// Its gradient: grad [B, H, T, D] fp32 -> d x [B, H, T, D] in x_dtype.
at::Tensor rope_fp32_tables_backward_cuda(const at::Tensor& grad, const at::Tensor& cos, const at::Tensor& sin,
                                          at::ScalarType x_dtype);

// The residual add and the RMSNorm after it in training (fused_autograd_ops.h's node), as
// {h + d, at::rms_norm(h + d, weight, eps)} to rounding (the row sums run in the kernel's order):
// h [..., H] in the sum's dtype, d [..., H] (autocast's bf16 beside an fp32 h, or h's dtype),
// weight [H] in h's dtype, all contiguous -> s in h's dtype, y in y_dtype, rstd [rows] fp32 (for
// the backward). Undefined tensors where the kernel does not apply.
bool add_rms_norm_train_applies(const at::Tensor& h, const at::Tensor& d, const at::Tensor& weight,
                                at::ScalarType y_dtype);
struct AddRmsNormForward {
  at::Tensor s, y, rstd;
};
AddRmsNormForward add_rms_norm_train_cuda(const at::Tensor& h, const at::Tensor& d, const at::Tensor& weight,
                                          double eps, at::ScalarType y_dtype);

// Its gradients for gy (y's, in y's dtype) and gs (s's own, from the residual stream; may be
// undefined): gh in s's dtype, gd in d_dtype (gh itself where d_dtype is s's), gw in the
// weight's dtype where `weight_grad`.
struct AddRmsNormGrads {
  at::Tensor gh, gd, gw;
};
AddRmsNormGrads add_rms_norm_train_backward_cuda(const at::Tensor& gy, const at::Tensor& gs, const at::Tensor& s,
                                                 const at::Tensor& weight, const at::Tensor& rstd,
                                                 at::ScalarType d_dtype, bool weight_grad);

}  // namespace s2d
