// The fused CUDA kernels (fused_cuda_ops.h) against the ATen chains they replace, bit for bit, in
// fp32, bf16 and fp16, and a model's logits with and without them. They need a CUDA build with
// nvcc and a GPU: skipped elsewhere; scripts/gpu/run_all.sh runs them.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include "engine_fixture.h"
#include "fused_kernel_fixture.h"

namespace s2d {
using namespace s2d::testing;

namespace {

using FusedCuda = FusedKernelsOnGpu;

const at::ScalarType kDtypes[] = {at::kFloat, at::kBFloat16, at::kHalf};

at::Tensor randn_on_gpu(at::IntArrayRef shape, at::ScalarType dtype, uint64_t seed) {
  at::manual_seed(seed);
  return at::randn(shape).to(at::kCUDA, dtype);
}

// A random tiny model on the GPU in `dtype`.
LlamaModel model_in(at::ScalarType dtype, uint64_t seed) {
  LlamaModel m = random_model(tiny_config(400, 64), seed, at::kCUDA);
  LlamaWeights w = m.weights();
  for_each_weight(m.config(), w, [&](const std::string&, at::Tensor& t) { t = t.to(dtype); });
  return LlamaModel(m.config(), w);
}

}  // namespace

TEST_F(FusedCuda, RmsNormEqualsTheAtenChain) {
  for (const auto dtype : kDtypes)
    for (const int64_t H : {64, 200, 4096}) {
      const at::Tensor x = randn_on_gpu({2, 3, H}, dtype, 1), w = randn_on_gpu({H}, dtype, 2);
      const at::Tensor got = rms_norm_cuda(x, w, 1e-6);
      ASSERT_TRUE(got.defined()) << dtype << " H " << H;
      EXPECT_TRUE(got.equal(rms_norm_chain(x, w, 1e-6))) << dtype << " H " << H;
    }
}

TEST_F(FusedCuda, SiluMulEqualsTheAtenChain) {
  for (const auto dtype : kDtypes) {
    const int64_t I = 300;
    const at::Tensor gate_up = randn_on_gpu({2, 5, 2 * I}, dtype, 3) * 4;
    const at::Tensor got = silu_mul_cuda(gate_up, I);
    ASSERT_TRUE(got.defined()) << dtype;
    EXPECT_TRUE(got.equal(silu_mul_chain(gate_up, I))) << dtype;
  }
}

TEST_F(FusedCuda, RopeEqualsTheAtenChain) {
  const int64_t B = 2, T = 7, NH = 4, KV = 2, D = 64;
  for (const auto dtype : kDtypes) {
    const at::Tensor qkv = randn_on_gpu({B, T, (NH + 2 * KV) * D}, dtype, 4);
    const at::Tensor angles = randn_on_gpu({B, T, D}, at::kFloat, 5) * 3;
    const at::Tensor cos = angles.cos().to(dtype), sin = angles.sin().to(dtype);  // [B, T, D]
    auto [q, k] = rope_qk_cuda(qkv, cos, sin, NH, KV, D);
    ASSERT_TRUE(q.defined()) << dtype;
    const auto parts = qkv.split_with_sizes({NH * D, KV * D, KV * D}, -1);
    const at::Tensor c = cos.unsqueeze(1), s = sin.unsqueeze(1);  // [B, 1, T, D]
    const at::Tensor q_ref = parts[0].view({B, T, NH, D}).transpose(1, 2),
                     k_ref = parts[1].view({B, T, KV, D}).transpose(1, 2);
    EXPECT_TRUE(q.transpose(1, 2).equal(rope_chain(q_ref, c, s))) << dtype;
    EXPECT_TRUE(k.transpose(1, 2).equal(rope_chain(k_ref, c, s))) << dtype;
  }
}

TEST_F(FusedCuda, AddRmsNormEqualsTheAtenChain) {
  for (const auto dtype : kDtypes)
    for (const int64_t H : {64, 200, 4096}) {
      const at::Tensor h = randn_on_gpu({2, 3, H}, dtype, 6), d = randn_on_gpu({2, 3, H}, dtype, 7);
      const at::Tensor w = randn_on_gpu({H}, dtype, 8);
      const auto [sum, x] = add_rms_norm_cuda(h, d, w, 1e-5);
      ASSERT_TRUE(sum.defined() && x.defined()) << dtype << " H " << H;
      EXPECT_TRUE(sum.equal(h + d)) << dtype << " H " << H;
      EXPECT_TRUE(x.equal(rms_norm_chain(h + d, w, 1e-5))) << dtype << " H " << H;
    }
}

// The rotation and the cache writes of a decode step in one kernel: what rope_qk_cuda and the
// step's scatter_ into the caches give. A column outside the cache writes nothing.
TEST_F(FusedCuda, RopeAppendWritesWhatTheScatterWrote) {
  for (const auto dtype : kDtypes) {
    DecodeRopeCase r = decode_rope_case(dtype, at::kCUDA, 64, 10);
    const at::Tensor q = rope_qk_append_cuda(r.qkv, r.cos, r.sin, r.NH, r.KV, r.D, r.k_cache, r.v_cache, r.pos);
    ASSERT_TRUE(q.defined()) << dtype;
    EXPECT_TRUE(q.equal(r.q_want)) << dtype;
    EXPECT_TRUE(r.k_cache.equal(r.k_want)) << dtype;
    EXPECT_TRUE(r.v_cache.equal(r.v_want)) << dtype;
  }
}

// A decode step over cache slots with the kernels: the chains' logits and caches, bit for bit.
TEST_F(FusedCuda, DecodeSlotsAreUnchanged) {
  for (const auto dtype : {at::kFloat, at::kBFloat16}) {
    const LlamaModel model = model_in(dtype, 22);
    const at::TensorOptions opts = at::TensorOptions().device(at::kCUDA).dtype(dtype);
    const at::Tensor prompt = at::randint(400, {3, 6}, at::TensorOptions().dtype(at::kLong)).to(at::kCUDA);
    const at::Tensor lens = at::tensor(std::vector<int64_t>{6, 4, 5}).to(at::kCUDA);
    KVCache fused(model.config(), 3, 12, opts), chain(model.config(), 3, 12, opts);
    model.prefill_right_padded(prompt, lens, fused);
    set_cuda_fused_kernels(false);
    model.prefill_right_padded(prompt, lens, chain);
    at::Tensor ids = at::randint(400, {3}, at::TensorOptions().dtype(at::kLong)).to(at::kCUDA), cols = lens.clone();
    for (int step = 0; step < 4; ++step) {
      set_cuda_fused_kernels(true);
      const at::Tensor with = model.decode_slots(ids, cols, fused, 12);
      set_cuda_fused_kernels(false);
      const at::Tensor without = model.decode_slots(ids, cols, chain, 12);
      ASSERT_TRUE(with.equal(without)) << dtype << ", step " << step << ": max difference "
                                       << (with - without).abs().max().item<double>();
      ids = with.argmax(-1);
      cols = cols + 1;
    }
    for (size_t l = 0; l < fused.k.size(); ++l) {
      EXPECT_TRUE(fused.k[l].equal(chain.k[l])) << dtype << ", layer " << l << " keys";
      EXPECT_TRUE(fused.v[l].equal(chain.v[l])) << dtype << ", layer " << l << " values";
    }
    set_cuda_fused_kernels(true);
  }
}

// A decode with the kernels gives the ATen chains' logits, bit for bit.
TEST_F(FusedCuda, ModelLogitsAreUnchanged) {
  for (const auto dtype : {at::kFloat, at::kBFloat16}) {
    const LlamaModel model = model_in(dtype, 21);
    const at::Tensor ids = at::randint(400, {3, 9}, at::TensorOptions().dtype(at::kLong)).to(at::kCUDA);
    const at::Tensor mask = at::ones_like(ids);
    const at::Tensor fused = model.forward_padded(ids, mask);
    set_cuda_fused_kernels(false);
    const at::Tensor chain = model.forward_padded(ids, mask);
    set_cuda_fused_kernels(true);
    EXPECT_TRUE(fused.equal(chain)) << dtype << ": max difference " << (fused - chain).abs().max().item<double>();
  }
}

}  // namespace s2d
