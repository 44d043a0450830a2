// masked_attention (masked_attention.h) against SDPA with enable_gqa, which it replaces: decode
// steps (T == 1, the query heads folded along the query axis) and prefills (T > 1, the key and
// value heads repeated), grouped and not, on the CPU and, where there is one, on a GPU.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <limits>

#include "s2d/model/masked_attention.h"

namespace s2d {
namespace {

struct Shape {
  int64_t B, NH, KV, T, S, D;
};

void expect_as_sdpa(const Shape& s, const at::TensorOptions& opts, double tolerance) {
  SCOPED_TRACE(c10::str("B ", s.B, " NH ", s.NH, " KV ", s.KV, " T ", s.T, " S ", s.S, " D ", s.D, " ", opts.dtype(),
                        " ", opts.device()));
  at::manual_seed(s.B * 1000 + s.NH * 100 + s.KV * 10 + s.T);
  // q as the model makes it: a transposed view of [B, T, NH, D]; k, v narrowed from a wider cache.
  const at::Tensor q = at::randn({s.B, s.T, s.NH, s.D}).to(opts).transpose(1, 2);
  const at::Tensor k = at::randn({s.B, s.KV, s.S + 3, s.D}).to(opts).narrow(2, 0, s.S);
  const at::Tensor v = at::randn({s.B, s.KV, s.S + 3, s.D}).to(opts).narrow(2, 0, s.S);
  // Causal at the last T columns, some keys of each row switched off, the diagonal always on.
  const at::Tensor q_col = at::arange(s.S - s.T, s.S).view({s.T, 1}), k_col = at::arange(s.S).view({1, s.S});
  at::Tensor mask = (k_col <= q_col).unsqueeze(0) & (at::rand({s.B, 1, s.S}) < 0.7);  // [B, T, S]
  mask = (mask | (k_col == q_col).unsqueeze(0)).unsqueeze(1).to(opts.device());       // [B, 1, T, S]
  const at::Tensor want =
      at::scaled_dot_product_attention(q, k, v, mask, 0.0, false, std::nullopt, /*enable_gqa=*/s.NH != s.KV);
  const at::Tensor got = masked_attention(q, k, v, mask);
  ASSERT_EQ(got.sizes(), want.sizes());
  EXPECT_LE((got.to(at::kFloat) - want.to(at::kFloat)).abs().max().item<double>(), tolerance);
  // The bias made once (what a decode step hands every layer on CUDA): the same bits.
  EXPECT_TRUE(masked_attention(q, k, v, additive_mask(mask, q.scalar_type())).equal(got));
}

void expect_all_shapes(const at::TensorOptions& opts, double tolerance) {
  for (const Shape& s :
       {Shape{3, 4, 4, 1, 9, 16}, Shape{3, 8, 2, 1, 9, 16}, Shape{2, 6, 3, 1, 17, 32}, Shape{2, 4, 1, 1, 5, 8},
        Shape{3, 8, 2, 5, 9, 16}, Shape{1, 6, 3, 7, 7, 32}, Shape{2, 4, 4, 4, 12, 16}})
    expect_as_sdpa(s, opts, tolerance);
}

TEST(MaskedAttention, EqualsSdpaWithGroupedHeads) {
  const c10::InferenceMode inference;
  expect_all_shapes(at::TensorOptions().dtype(at::kFloat), 1e-5);
  expect_all_shapes(at::TensorOptions().dtype(at::kBFloat16), 2e-2);
}

// 0 where the mask is true, -inf where false, rows at strides SDPA's memory-efficient kernel takes
// as they are (multiples of 8), over every width's remainder.
TEST(MaskedAttention, AdditiveMaskIsSdpasBiasInAlignedRows) {
  for (const int64_t S : {1, 7, 8, 9, 33}) {
    const at::Tensor mask = at::rand({3, 1, 2, S}) < 0.5;
    const at::Tensor bias = additive_mask(mask, at::kBFloat16);
    ASSERT_EQ(bias.sizes(), mask.sizes());
    EXPECT_EQ(bias.scalar_type(), at::kBFloat16);
    for (int64_t d = 0; d + 1 < bias.dim(); ++d) EXPECT_EQ(bias.stride(d) % 8, 0) << "S " << S << ", dim " << d;
    EXPECT_EQ(bias.stride(-1), 1);
    const at::Tensor want = at::zeros(mask.sizes(), at::kBFloat16)
                                .masked_fill_(mask.logical_not(), -std::numeric_limits<double>::infinity());
    EXPECT_TRUE(bias.equal(want)) << "S " << S;
  }
}

TEST(MaskedAttentionCuda, EqualsSdpaWithGroupedHeads) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no GPU";
  const c10::InferenceMode inference;
  expect_all_shapes(at::TensorOptions().dtype(at::kFloat).device(at::kCUDA), 1e-5);
  expect_all_shapes(at::TensorOptions().dtype(at::kBFloat16).device(at::kCUDA), 2e-2);
}

}  // namespace
}  // namespace s2d
