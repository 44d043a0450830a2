// What the tests of the fused kernels share: a fixture that turns them on where they can run, and
// llama.cpp's ATen chains that they replace, written out again (on any device).
#pragma once

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include "s2d/model/fused_cuda_ops.h"

namespace s2d::testing {

// Skips without a CUDA build with nvcc and a GPU; S2D_CUDA_FUSED on for the test.
class FusedKernelsOnGpu : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_fused_kernels_built() || !at::hasCUDA()) GTEST_SKIP() << "needs a CUDA build with nvcc and a GPU";
    set_cuda_fused_kernels(true);
  }
  void TearDown() override { set_cuda_fused_kernels(false); }
  c10::InferenceMode inference_;
};

// HF's RMSNorm: weight * (x.float() * rsqrt(mean(x.float()^2) + eps)).to(x.dtype).
inline at::Tensor rms_norm_chain(const at::Tensor& x, const at::Tensor& w, double eps) {
  at::Tensor xf = x.to(at::kFloat);
  xf = xf * at::rsqrt(xf.pow(2).mean(-1, true) + eps);
  return w * xf.to(x.scalar_type());
}

inline at::Tensor rotate_half(const at::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return at::cat({-x.slice(-1, half), x.slice(-1, 0, half)}, -1);
}

// RoPE on heads x [B, heads, T, D] with cos, sin [B, 1, T, D].
inline at::Tensor rope_chain(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  return x * cos + rotate_half(x) * sin;
}

}  // namespace s2d::testing
