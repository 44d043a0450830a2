// The gradients of llama.cpp's silu·mul and RoPE, through autograd's record of the ATen chains or
// through fused_autograd_ops.h's nodes, on any device: the tests compare the two bit for bit, and
// the emulated kernels against the chain's.
#pragma once

#include <ATen/ATen.h>

#include "fused_kernel_fixture.h"
#include "s2d/model/fused_autograd_ops.h"

namespace s2d::testing {

inline at::Tensor seeded_randn(at::IntArrayRef shape, const at::TensorOptions& options, uint64_t seed) {
  at::manual_seed(seed);
  return at::randn(shape).to(options);
}

// The largest |got - want| / |want| over the elements, in fp64.
inline double max_relative_error(const at::Tensor& got, const at::Tensor& want) {
  const at::Tensor w = want.to(at::kDouble);
  return ((got.to(at::kDouble) - w).abs() / w.abs().clamp_min(1e-300)).max().item<double>();
}

// The largest |got - want| over the largest |want|, in fp64: for gradients, whose elements may
// cancel to near zero.
inline double max_scaled_error(const at::Tensor& got, const at::Tensor& want) {
  const at::Tensor w = want.to(at::kDouble);
  return ((got.to(at::kDouble) - w).abs().max() / w.abs().max()).item<double>();
}

// silu(gate) * up over gate_up [..., 2 I], and d gate_up for the upstream gradient `up_grad` [..., I].
struct SiluMulRun {
  at::Tensor y, grad;
};
inline SiluMulRun silu_mul_run(const at::Tensor& gate_up_value, int64_t I, const at::Tensor& up_grad, bool node) {
  const at::Tensor gate_up = gate_up_value.detach().clone().requires_grad_(true);
  const at::Tensor y = node ? silu_mul(gate_up, I) : silu_mul_chain(gate_up, I);
  (y * up_grad).sum().backward();  // y's gradient is up_grad exactly
  return {y.detach(), gate_up.grad()};
}

// RoPE on the q and k heads of a fused projection qkv [B, T, (NH + 2 KV) * D], viewed as the
// attention does ([B, heads, T, D], strided); cos, sin [B, 1, T, D]. The upstream gradients are
// fixed random tensors; `grad` is d qkv [B, T, (NH + 2 KV) * D].
struct RopeRun {
  at::Tensor q, k, grad;        // q [B, NH, T, D], k [B, KV, T, D] rotated
  at::Tensor q_up, k_up, v_up;  // their upstream gradients (v: [B, KV, T, D] in qkv's dtype)
};
inline RopeRun rope_run(const at::Tensor& qkv_value, const at::Tensor& cos, const at::Tensor& sin, int64_t NH,
                        int64_t KV, bool node) {
  const at::Tensor qkv = qkv_value.detach().clone().requires_grad_(true);
  const int64_t B = qkv.size(0), T = qkv.size(1), D = qkv.size(2) / (NH + 2 * KV);
  const auto parts = qkv.split_with_sizes({NH * D, KV * D, KV * D}, -1);
  const at::Tensor q = parts[0].view({B, T, NH, D}).transpose(1, 2), k = parts[1].view({B, T, KV, D}).transpose(1, 2);
  const at::Tensor v = parts[2].view({B, T, KV, D}).transpose(1, 2);
  RopeRun r;
  r.q = node ? apply_rope(q, cos, sin) : rope_chain(q, cos, sin);
  r.k = node ? apply_rope(k, cos, sin) : rope_chain(k, cos, sin);
  r.q_up = seeded_randn(r.q.sizes(), r.q.options(), 31), r.k_up = seeded_randn(r.k.sizes(), r.k.options(), 32);
  r.v_up = seeded_randn(v.sizes(), v.options(), 33);
  ((r.q * r.q_up).sum() + (r.k * r.k_up).sum() + (v * r.v_up).sum()).backward();
  r.q = r.q.detach(), r.k = r.k.detach(), r.grad = qkv.grad();
  return r;
}

// RoPE tables [B, 1, T, D] for random angles, in `dtype`.
inline std::pair<at::Tensor, at::Tensor> rope_tables(int64_t B, int64_t T, int64_t D,
                                                     const at::TensorOptions& options) {
  const at::Tensor angles = seeded_randn({B, 1, T, D}, options.dtype(at::kFloat), 30) * 3;
  return {angles.cos().to(options), angles.sin().to(options)};
}

}  // namespace s2d::testing
