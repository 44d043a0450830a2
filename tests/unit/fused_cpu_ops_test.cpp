// The one-loop fp32 CPU ops (fused_cpu_ops.h) against the ATen chains they replace at inference,
// and the decode attention kernel against SDPA.
#include "s2d/model/fused_cpu_ops.h"
#include "simd_fixture.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "aten_chains.h"
#include "s2d/model/decode_attention_kernel.h"

using namespace s2d;
using s2d::testing::rotate_half;
using s2d::testing::simd_here;

namespace {
// What `f` returns with ATen on one thread: the rows a parallel loop splits must come out the same.
template <class F>
auto on_one_thread(const F& f) {
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  auto out = f();
  at::set_num_threads(threads);
  return out;
}
}  // namespace

// A decode step's few rows, and a prefill's 2,048, which the threads split between them.
TEST(FusedCpuOps, RmsNormMatchesHfsChain) {
  c10::InferenceMode guard;
  at::manual_seed(0);
  for (const int64_t rows : {6, 2048}) {
    const at::Tensor x = at::randn({rows / 2, 2, 576}) * 4, w = at::randn({576});
    const double eps = 1e-5;
    const at::Tensor want = w * (x * at::rsqrt(x.pow(2).mean(-1, true) + eps));
    const at::Tensor got = rms_norm_cpu(x, w, eps);
    EXPECT_LT((got - want).abs().max().item<double>(), 1e-5) << rows << " rows";
    EXPECT_TRUE(at::equal(got, on_one_thread([&] { return rms_norm_cpu(x, w, eps); }))) << rows << " rows";
  }
}

TEST(FusedCpuOps, RopeOfQAndKMatchesRotateHalf) {
  c10::InferenceMode guard;
  at::manual_seed(1);
  for (const int64_t T : {3, 1024}) {
    const int64_t B = 2, NH = 4, KV = 2, D = 16;
    const at::Tensor qkv = at::randn({B, T, (NH + 2 * KV) * D});
    const at::Tensor angles = at::randn({B, T, D / 2}) * 10;
    const at::Tensor emb = at::cat({angles, angles}, -1);
    const at::Tensor cos = emb.cos(), sin = emb.sin();  // [B, T, D]
    const auto [q, k] = rope_qk_cpu(qkv, cos, sin, NH, KV, D);
    const auto parts = qkv.split_with_sizes({NH * D, KV * D, KV * D}, -1);
    const at::Tensor c = cos.unsqueeze(2), s = sin.unsqueeze(2);  // over heads: [B, T, 1, D]
    const at::Tensor q_in = parts[0].view({B, T, NH, D}), k_in = parts[1].view({B, T, KV, D});
    EXPECT_LT((q - (q_in * c + rotate_half(q_in) * s)).abs().max().item<double>(), 1e-6) << T << " tokens";
    EXPECT_LT((k - (k_in * c + rotate_half(k_in) * s)).abs().max().item<double>(), 1e-6) << T << " tokens";
    const auto [q1, k1] = on_one_thread([&] { return rope_qk_cpu(qkv, cos, sin, NH, KV, D); });
    EXPECT_TRUE(at::equal(q, q1) && at::equal(k, k1)) << T << " tokens";
  }
}

TEST(FusedCpuOps, OnlyContiguousFp32CpuTensorsOutsideAutograd) {
  const at::Tensor x = at::randn({2, 8});
  EXPECT_TRUE(fusable_on_cpu(x));
  EXPECT_FALSE(fusable_on_cpu(x.t()));
  EXPECT_FALSE(fusable_on_cpu(x.to(at::kBFloat16)));
  EXPECT_FALSE(fusable_on_cpu(x.clone().requires_grad_(true)));
}

namespace {
// SDPA over a slot-width mask, as decode_slots calls it: q [B, NH, 1, D], k, v [B, KV, W, D].
at::Tensor sdpa_decode(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& last) {
  const int64_t B = q.size(0), W = k.size(2);
  const at::Tensor mask = at::arange(W).view({1, 1, 1, W}) <= last.view({B, 1, 1, 1});
  const at::Tensor out =
      at::scaled_dot_product_attention(q, k, v, mask, 0.0, false, std::nullopt, q.size(1) != k.size(1));
  return out.transpose(1, 2).reshape({B, 1, -1});  // [B, 1, NH * D]
}

}  // namespace

TEST(FusedCpuOps, DecodeAttentionMatchesSdpaOverEachSlotsColumns) {
  c10::InferenceMode guard;
  at::manual_seed(3);
  struct Shape {
    int64_t B, NH, KV, C, W, D;
  };
  for (const Shape& s : std::vector<Shape>{{3, 9, 3, 40, 29, 64}, {1, 4, 4, 8, 8, 16}, {2, 8, 1, 17, 5, 32}}) {
    const at::Tensor kc = at::randn({s.B, s.KV, s.C, s.D}), vc = at::randn({s.B, s.KV, s.C, s.D});
    // Rows of slots past their own end hold garbage a wrong mask would pick up.
    const at::Tensor q = at::randn({s.B, 1, s.NH, s.D}).transpose(1, 2) * 3;  // [B, NH, 1, D]
    const at::Tensor last = at::randint(0, s.W, {s.B}, at::kLong);
    last[0] = s.W - 1;
    const at::Tensor k = kc.narrow(2, 0, s.W), v = vc.narrow(2, 0, s.W);
    const at::Tensor want = sdpa_decode(q, k, v, last);
    const at::Tensor got = decode_attention_cpu(q, k, v, last);
    if (few_rows::detect() == few_rows::Simd::None) {
      EXPECT_FALSE(got.defined());
      continue;
    }
    ASSERT_TRUE(got.defined()) << "B=" << s.B << " NH=" << s.NH << " D=" << s.D;
    EXPECT_LT((got - want).abs().max().item<double>(), 1e-5);
    // Every instruction set, through the torch-free kernel, over two ranges of (slot, head) items.
    const at::Tensor qc = q.transpose(1, 2).contiguous();
    for (auto simd : simd_here()) {
      if (s.D % few_rows::head_dim_multiple(simd) != 0) continue;
      at::Tensor out = at::full({s.B, 1, s.NH * s.D}, std::nan(""));
      std::vector<float> scratch(static_cast<size_t>(s.W));
      const int64_t items = s.B * s.NH, split = items / 2;
      for (auto [i0, i1] : {std::pair<int64_t, int64_t>{0, split}, {split, items}})
        few_rows::decode_attention(simd, qc.const_data_ptr<float>(), kc.const_data_ptr<float>(),
                                   vc.const_data_ptr<float>(), last.const_data_ptr<int64_t>(), s.NH, s.KV, s.C, s.D,
                                   static_cast<float>(1 / std::sqrt(static_cast<double>(s.D))), i0, i1,
                                   out.mutable_data_ptr<float>(), scratch.data());
      EXPECT_LT((out - want).abs().max().item<double>(), 1e-5) << few_rows::simd_name(simd);
    }
  }
}

TEST(FusedCpuOps, DecodeAttentionDeclinesWhatItCannotRun) {
  c10::InferenceMode guard;
  const at::Tensor kc = at::randn({2, 2, 8, 64}), q = at::randn({2, 1, 4, 64}).transpose(1, 2);
  const at::Tensor k = kc.narrow(2, 0, 6), last = at::tensor(std::vector<int64_t>{5, 2});
  if (few_rows::detect() == few_rows::Simd::None) GTEST_SKIP() << "no AVX2 on this CPU";
  EXPECT_TRUE(decode_attention_cpu(q, k, k, last).defined());
  EXPECT_FALSE(decode_attention_cpu(q, k, k, at::tensor(std::vector<int64_t>{6, 2})).defined());  // past W
  EXPECT_FALSE(decode_attention_cpu(q, k.to(at::kDouble), k, last).defined());                    // not fp32
  EXPECT_FALSE(decode_attention_cpu(q, k.transpose(2, 3), k, last).defined());                    // not a cache
  const at::Tensor odd = at::randn({2, 2, 8, 20});  // a head dim the vectors do not divide
  EXPECT_FALSE(decode_attention_cpu(at::randn({2, 4, 1, 20}), odd, odd, last).defined());
}
