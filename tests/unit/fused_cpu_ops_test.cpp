// The one-loop fp32 CPU ops (fused_cpu_ops.h) against the ATen chains they replace at inference.
#include "s2d/model/fused_cpu_ops.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

using namespace s2d;

namespace {
at::Tensor rotate_half(const at::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return at::cat({-x.slice(-1, half), x.slice(-1, 0, half)}, -1);
}
}  // namespace

TEST(FusedCpuOps, RmsNormMatchesHfsChain) {
  c10::InferenceMode guard;
  at::manual_seed(0);
  const at::Tensor x = at::randn({3, 2, 576}) * 4, w = at::randn({576});
  const double eps = 1e-5;
  const at::Tensor want = w * (x * at::rsqrt(x.pow(2).mean(-1, true) + eps));
  EXPECT_LT((rms_norm_cpu(x, w, eps) - want).abs().max().item<double>(), 1e-5);
}

TEST(FusedCpuOps, RopeOfQAndKMatchesRotateHalf) {
  c10::InferenceMode guard;
  at::manual_seed(1);
  const int64_t B = 2, T = 3, NH = 4, KV = 2, D = 16;
  const at::Tensor qkv = at::randn({B, T, (NH + 2 * KV) * D});
  const at::Tensor angles = at::randn({B, T, D / 2}) * 10;
  const at::Tensor emb = at::cat({angles, angles}, -1);
  const at::Tensor cos = emb.cos(), sin = emb.sin();  // [B, T, D]
  const auto [q, k] = rope_qk_cpu(qkv, cos, sin, NH, KV, D);
  const auto parts = qkv.split_with_sizes({NH * D, KV * D, KV * D}, -1);
  const at::Tensor c = cos.unsqueeze(2), s = sin.unsqueeze(2);  // over heads: [B, T, 1, D]
  const at::Tensor q_in = parts[0].view({B, T, NH, D}), k_in = parts[1].view({B, T, KV, D});
  EXPECT_LT((q - (q_in * c + rotate_half(q_in) * s)).abs().max().item<double>(), 1e-6);
  EXPECT_LT((k - (k_in * c + rotate_half(k_in) * s)).abs().max().item<double>(), 1e-6);
}

TEST(FusedCpuOps, OnlyContiguousFp32CpuTensorsOutsideAutograd) {
  const at::Tensor x = at::randn({2, 8});
  EXPECT_TRUE(fusable_on_cpu(x));
  EXPECT_FALSE(fusable_on_cpu(x.t()));
  EXPECT_FALSE(fusable_on_cpu(x.to(at::kBFloat16)));
  EXPECT_FALSE(fusable_on_cpu(x.clone().requires_grad_(true)));
}
