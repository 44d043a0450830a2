// What the tests of the fused kernels share: a fixture that turns them on where they can run, and
// the cases they share (the ATen chains they replace are in aten_chains.h).
#pragma once

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include "aten_chains.h"
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

// A decode step's RoPE with the KV append (rope_qk_append_cuda's job), and what the chains give:
// q rotated, and the rotated key and the value written at each row's column of copies of the
// caches. The last row's column is outside the cache (the kernel writes nothing there).
struct DecodeRopeCase {
  int64_t B = 4, NH = 4, KV = 2, D, C;
  at::Tensor qkv, cos, sin, pos;      // [B, 1, (NH + 2 KV) * D], [B, 1, D] x 2, [B] int64
  at::Tensor k_cache, v_cache;        // [B, KV, C, D], for the kernel to write
  at::Tensor q_want, k_want, v_want;  // [B, 1, NH, D], and the caches after the step
};
inline DecodeRopeCase decode_rope_case(at::ScalarType dtype, const c10::Device& device, int64_t D, int64_t C) {
  DecodeRopeCase r{.D = D, .C = C};
  const int64_t B = r.B, NH = r.NH, KV = r.KV;
  auto randn = [&](at::IntArrayRef shape, uint64_t seed) {
    at::manual_seed(seed);
    return at::randn(shape).to(device, dtype);
  };
  r.qkv = randn({B, 1, (NH + 2 * KV) * D}, 5);
  at::manual_seed(6);
  const at::Tensor angles = (at::randn({B, 1, D}) * 3).to(device);
  r.cos = angles.cos().to(dtype), r.sin = angles.sin().to(dtype);
  r.pos = at::tensor(std::vector<int64_t>{0, C / 2, C - 1, C}).to(device);
  r.k_cache = randn({B, KV, C, D}, 7), r.v_cache = randn({B, KV, C, D}, 8);
  const auto parts = r.qkv.split_with_sizes({NH * D, KV * D, KV * D}, -1);
  const at::Tensor c = r.cos.unsqueeze(1), s = r.sin.unsqueeze(1);  // [B, 1, 1, D]
  r.q_want = rope_chain(parts[0].view({B, 1, NH, D}).transpose(1, 2), c, s).transpose(1, 2);
  const at::Tensor k = rope_chain(parts[1].view({B, 1, KV, D}).transpose(1, 2), c, s);  // [B, KV, 1, D]
  const at::Tensor v = parts[2].view({B, 1, KV, D}).transpose(1, 2);
  r.k_want = r.k_cache.clone(), r.v_want = r.v_cache.clone();
  for (int64_t b = 0; b + 1 < B; ++b) {
    const int64_t col = r.pos[b].item<int64_t>();
    r.k_want[b].narrow(1, col, 1).copy_(k[b]);
    r.v_want[b].narrow(1, col, 1).copy_(v[b]);
  }
  return r;
}

}  // namespace s2d::testing
