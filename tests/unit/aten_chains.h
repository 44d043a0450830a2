// llama.cpp's elementwise chains as plain ATen ops, written out again: what the fused kernels and
// autograd nodes are compared with (tests) and timed against (benchmarks). Torch only, no gtest.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

namespace s2d::testing {

// HF's RMSNorm: weight * (x.float() * rsqrt(mean(x.float()^2) + eps)).to(x.dtype).
inline at::Tensor rms_norm_chain(const at::Tensor& x, const at::Tensor& w, double eps) {
  at::Tensor xf = x.to(at::kFloat);
  xf = xf * at::rsqrt(xf.pow(2).mean(-1, true) + eps);
  return w * xf.to(x.scalar_type());
}

// [x1, x2] -> [-x2, x1] over the last dim.
inline at::Tensor rotate_half(const at::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return at::cat({-x.slice(-1, half), x.slice(-1, 0, half)}, -1);
}

// RoPE on heads x [B, heads, T, D] with cos, sin [B, 1, T, D].
inline at::Tensor rope_chain(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  return x * cos + rotate_half(x) * sin;
}

// silu(gate) * up with gate and up the halves of gate_up [..., 2 I].
inline at::Tensor silu_mul_chain(const at::Tensor& gate_up, int64_t I) {
  const auto halves = gate_up.split(I, -1);
  return at::silu(halves[0]) * halves[1];
}

}  // namespace s2d::testing
