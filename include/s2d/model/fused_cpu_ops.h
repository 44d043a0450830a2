// One-pass fp32 CPU versions of some of the decoder's chains, for inference: at a
// decode step every ATen op costs microseconds of dispatch and allocation against a few hundred
// floats of work, and HF's RMSNorm is 6 ops, its RoPE 12 for q and k. Each function here is one
// loop over contiguous memory and returns a new tensor; the ATen chains in llama.cpp stay the
// path for autograd, other dtypes and devices.
#pragma once

#include <ATen/core/Tensor.h>

#include <utility>

namespace s2d {

// True for fp32, contiguous CPU tensors outside autograd: what the functions below accept.
bool fusable_on_cpu(const at::Tensor& x);

// HF's LlamaRMSNorm in fp32, rounded as HF rounds it: weight * (x * rsqrt(mean(x^2) + eps)),
// the mean by ATen's reduction (2 ops instead of 6). x [..., H], weight [H].
at::Tensor rms_norm_cpu(const at::Tensor& x, const at::Tensor& weight, double eps);

// RoPE (rotate-half layout) on the q and k parts of the fused projection:
// qkv [B, T, (NH + 2 KV) * D] and cos, sin [B, T, D] -> q [B, T, NH, D], k [B, T, KV, D].
std::pair<at::Tensor, at::Tensor> rope_qk_cpu(const at::Tensor& qkv, const at::Tensor& cos, const at::Tensor& sin,
                                              int64_t NH, int64_t KV, int64_t D);

// One decode step's attention (decode_attention_kernel.h) over each slot's filled columns:
// q [B, NH, 1, D], a view of a contiguous [B, 1, NH, D]; k, v [B, KV, W, D], the first W columns of
// a contiguous cache [B, KV, C, D]; last [B] int64 on the CPU: slot b attends columns [0, last[b]].
// Returns [B, 1, NH * D], or an undefined tensor where the kernel does not apply (not fusable, a
// head dim the vectors do not divide, last[b] >= W): the caller then runs SDPA.
at::Tensor decode_attention_cpu(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& last);

}  // namespace s2d
