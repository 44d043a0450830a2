// Flash decode (decode_flash_attention.h). On the CPU: the layout the varlen kernel is handed,
// read by a reference of the kernel's documented semantics (sequence i: query rows
// [cu_q[i], cu_q[i+1]) against key rows [cu_k[i], cu_k[i] + used_k[i]), no causal mask), equals
// SDPA over the masked slot width. On a GPU (scripts/gpu/run_all.sh): the kernel itself, and a
// model's decode logits and greedy tokens with it and without.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include "engine_fixture.h"
#include "s2d/model/decode_flash_attention.h"

namespace s2d {
using namespace s2d::testing;

namespace {

// What the varlen kernel computes from its arguments, one sequence at a time.
at::Tensor varlen_reference(const DecodeVarlenRows& rows, const DecodeVarlenIndex& index) {
  const at::Tensor cu_q = index.cu_q.cpu(), cu_k = index.cu_k.cpu(), used = index.used_k.cpu();
  const int64_t D = rows.q.size(-1);
  at::Tensor out = at::empty_like(rows.q);  // [total_q, 1, D]
  for (int64_t i = 0; i + 1 < cu_q.size(0); ++i) {
    const int64_t q0 = cu_q[i].item<int>(), q1 = cu_q[i + 1].item<int>();
    const int64_t k0 = cu_k[i].item<int>(), n = used[i].item<int>();
    EXPECT_LE(n, index.width);
    const at::Tensor q = rows.q.slice(0, q0, q1).view({q1 - q0, D}).to(at::kFloat);  // [G, D]
    const at::Tensor k = rows.k.slice(0, k0, k0 + n).view({n, D}).to(at::kFloat);    // [n, D]
    const at::Tensor v = rows.v.slice(0, k0, k0 + n).view({n, D}).to(at::kFloat);
    const at::Tensor p = at::softmax(at::matmul(q, k.t()) / std::sqrt(static_cast<double>(D)), -1);
    out.slice(0, q0, q1).copy_(at::matmul(p, v).view({q1 - q0, 1, D}));
  }
  return out;
}

// The path it replaces: SDPA over the first W columns with slot b seeing [0, lens[b]] -> [B, 1, NH*D].
at::Tensor masked_sdpa(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& lens) {
  const int64_t B = q.size(0), NH = q.size(1), D = q.size(3), W = k.size(2);
  const at::Tensor mask = at::arange(W, lens.options()).view({1, 1, 1, W}) <= lens.view({B, 1, 1, 1});
  return at::scaled_dot_product_attention(q, k, v, mask, 0.0, false, std::nullopt, NH != k.size(1))
      .transpose(1, 2)
      .reshape({B, 1, NH * D});
}

struct Case {
  int64_t slots, B, NH, KV, C, W, D;
};

// A cache of `slots` slots [slots, KV, C, D], the first B of them decoding (the generator's
// view), attending over W columns; q [B, NH, 1, D] as the model makes it (a transposed view).
struct Step {
  at::Tensor q, k, v, lens;
};
Step random_step(const Case& c, const at::TensorOptions& opts, uint64_t seed) {
  at::manual_seed(seed);
  const at::Tensor k_cache = at::randn({c.slots, c.KV, c.C, c.D}).to(opts);
  const at::Tensor v_cache = at::randn({c.slots, c.KV, c.C, c.D}).to(opts);
  Step s;
  s.q = at::randn({c.B, 1, c.NH, c.D}).to(opts).transpose(1, 2);
  s.k = k_cache.narrow(0, 0, c.B).narrow(2, 0, c.W);
  s.v = v_cache.narrow(0, 0, c.B).narrow(2, 0, c.W);
  s.lens = at::randint(0, c.W, {c.B}, at::TensorOptions().dtype(at::kLong)).to(opts.device());
  s.lens[0] = c.W - 1;  // one slot uses the whole width
  return s;
}

const Case kCases[] = {
    {5, 4, 4, 4, 16, 12, 8},   // MHA, a view of the first 4 slots, W < C
    {4, 4, 4, 2, 16, 16, 8},   // GQA, G = 2, W = C
    {3, 3, 6, 1, 9, 7, 16},    // MQA, G = 6
    {2, 1, 8, 2, 33, 20, 32},  // one slot, G = 4
};

}  // namespace

TEST(FlashDecodeLayout, TheKernelsArgumentsGiveTheMaskedAttention) {
  for (const Case& c : kCases) {
    const Step s = random_step(c, at::TensorOptions().dtype(at::kFloat), c.C);
    const DecodeVarlenIndex index = decode_varlen_index(s.lens, c.NH, c.KV, c.C, c.W);
    ASSERT_EQ(index.cu_q.scalar_type(), at::kInt);
    ASSERT_EQ(index.used_k.scalar_type(), at::kInt);
    ASSERT_TRUE(index.used_k.is_contiguous());
    ASSERT_EQ(index.used_k.size(0), c.B * c.KV);
    const DecodeVarlenRows rows = decode_varlen_rows(s.q, s.k, s.v, c.C);
    const at::Tensor got = varlen_reference(rows, index).view({c.B, 1, c.NH * c.D});
    EXPECT_TRUE(at::allclose(got, masked_sdpa(s.q, s.k, s.v, s.lens), 1e-5, 1e-5))
        << "B " << c.B << " NH " << c.NH << " KV " << c.KV << " W " << c.W;
  }
}

TEST(FlashDecodeLayout, RowsAreViewsOfTheCacheNotCopies) {
  const Case c = kCases[0];
  const Step s = random_step(c, at::TensorOptions().dtype(at::kFloat), 1);
  const DecodeVarlenRows rows = decode_varlen_rows(s.q, s.k, s.v, c.C);
  EXPECT_EQ(rows.k.data_ptr(), s.k.data_ptr());
  EXPECT_EQ(rows.v.data_ptr(), s.v.data_ptr());
  // Sequence i's row j is cache[b = i / KV, g = i % KV, column j].
  const int64_t b = 2, g = 1, j = 5;
  EXPECT_TRUE(rows.k[(b * c.KV + g) * c.C + j][0].equal(s.k[b][g][j]));
}

TEST(FlashDecodeLayout, RefusesAKeyTensorThatIsNotACacheView) {
  const Case c = kCases[0];  // W < C: a copy of the view has a row stride of W, not C
  const Step s = random_step(c, at::TensorOptions().dtype(at::kFloat), 2);
  EXPECT_THROW(decode_varlen_rows(s.q, s.k.transpose(2, 3), s.v, c.C), c10::Error);
  EXPECT_THROW(decode_varlen_rows(s.q, s.k, s.v.contiguous(), c.C), c10::Error);
}

TEST(FlashDecodeLayout, StaysOffOnTheCpuAndInFp32) {
  set_flash_decode(true);
  EXPECT_FALSE(flash_decode_applies(at::TensorOptions().dtype(at::kBFloat16), 64));
  EXPECT_FALSE(flash_decode_applies(at::TensorOptions().dtype(at::kFloat).device(at::kCUDA), 64));
  EXPECT_FALSE(flash_decode_applies(at::TensorOptions().dtype(at::kBFloat16).device(at::kCUDA), 12));
  set_flash_decode(false);
  EXPECT_FALSE(flash_decode_applies(at::TensorOptions().dtype(at::kBFloat16).device(at::kCUDA), 64));
}

class FlashDecodeCuda : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!at::hasCUDA()) GTEST_SKIP() << "needs a GPU";
    set_flash_decode(true);
  }
  void TearDown() override { set_flash_decode(false); }
  c10::InferenceMode inference_;
};

TEST_F(FlashDecodeCuda, KernelMatchesTheMaskedAttention) {
  for (const auto dtype : {at::kBFloat16, at::kHalf})
    for (const Case& c : kCases) {
      const Step s = random_step(c, at::TensorOptions().dtype(dtype).device(at::kCUDA), c.C);
      const at::Tensor got = decode_flash_attention(s.q, s.k, s.v, decode_varlen_index(s.lens, c.NH, c.KV, c.C, c.W));
      ASSERT_TRUE(got.defined()) << "the GPU refused the kernel";
      const at::Tensor want = masked_sdpa(s.q.to(at::kFloat), s.k.to(at::kFloat), s.v.to(at::kFloat), s.lens);
      EXPECT_TRUE(at::allclose(got.to(at::kFloat), want, 2e-2, 2e-2)) << dtype << " NH " << c.NH << " KV " << c.KV;
    }
}

TEST_F(FlashDecodeCuda, ModelDecodesTheSameGreedyTokens) {
  // tiny_lm's weights in bf16 on the GPU; its 4 query heads read 2 key heads, D = 8.
  const ModelConfig cfg = tiny_config(400, 256);
  at::manual_seed(11);
  const auto shapes = expected_weight_shapes(cfg);
  LlamaWeights w;
  for_each_weight(cfg, w, [&](const std::string& name, at::Tensor& t) {
    t = (at::randn(shapes.at(name)) * 0.3).to(at::kCUDA, at::kBFloat16);
  });
  const LlamaModel model(cfg, std::move(w));
  std::vector<GenRequest> reqs;
  for (int i = 0; i < 6; ++i) reqs.push_back(req({5 + i, 17, 30 + 3 * i, 9}, 24 + 5 * i));
  set_flash_decode(false);
  const auto masked = run(reqs, 4, EngineOptions::Sampler::Auto, model);
  set_flash_decode(true);
  const auto flash = run(reqs, 4, EngineOptions::Sampler::Auto, model);
  int64_t same = 0, total = 0;
  for (size_t i = 0; i < reqs.size(); ++i) {
    const auto& a = masked[i].samples[0].tokens;
    const auto& b = flash[i].samples[0].tokens;
    ASSERT_EQ(a.size(), b.size());
    // Tokens agree up to the first difference (a near-tie rounded the other way); count them.
    size_t j = 0;
    while (j < a.size() && a[j] == b[j]) ++j;
    same += static_cast<int64_t>(j);
    total += static_cast<int64_t>(a.size());
  }
  std::printf("flash decode: %lld of %lld greedy tokens agree before any divergence\n", static_cast<long long>(same),
              static_cast<long long>(total));
  EXPECT_GE(static_cast<double>(same), 0.95 * static_cast<double>(total));
}

}  // namespace s2d
