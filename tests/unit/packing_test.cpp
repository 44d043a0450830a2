// Sequence packing for training (make_batch's packed layout, LlamaModel::forward_packed): the same
// per-example losses and gradients as the padded layout, no target across an example boundary,
// and each example's loss independent of the others, bit for bit.
#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <gtest/gtest.h>

#include "model_fixture.h"
#include "s2d/model/varlen_attention.h"
#include "s2d/train/trainer.h"
#include "s2d/util/error.h"
#include "test_util.h"
#include "train_fixture.h"

namespace s2d {
using namespace s2d::testing;

namespace {
// Each example's summed token loss, from the batch's per-target losses (in example order).
std::vector<double> example_losses(Trainer& trainer, const Batch& b, const std::vector<SftExample>& data,
                                   const std::vector<size_t>& rows) {
  const at::Tensor tl = trainer.token_losses(b).to(at::kDouble);  // [N]
  std::vector<double> out;
  int64_t at = 0;
  for (size_t r : rows) {
    int64_t n = 0;
    for (size_t t = 1; t < data[r].loss_mask.size(); ++t) n += data[r].loss_mask[t];
    out.push_back(tl.narrow(0, at, n).sum().item<double>());
    at += n;
  }
  EXPECT_EQ(at, tl.size(0));
  return out;
}

const std::vector<size_t> kRows = {0, 1, 2, 3};
std::vector<SftExample> four_examples() {
  return {random_example(9, 3, 1), random_example(17, 5, 2), random_example(4, 4, 3), random_example(12, 2, 4)};
}
}  // namespace

TEST(Packing, LayoutHoldsEachExampleOnceWithPositionsFromZero) {
  const auto data = four_examples();
  const Batch b = make_batch(data, kRows, at::kCPU, /*packed=*/true);
  EXPECT_EQ(b.ids.sizes(), (at::IntArrayRef{1, 42}));
  EXPECT_EQ(b.lengths, (std::vector<int64_t>{9, 17, 4, 12}));
  EXPECT_EQ(b.tokens, 42);
  EXPECT_EQ(b.positions[0][9].item<int64_t>(), 0);
  EXPECT_EQ(b.positions[0][25].item<int64_t>(), 16);
  EXPECT_EQ(b.ids[0][26].item<int64_t>(), data[2].ids[0]);
  // Example 2 is all answer, but its first token has nothing of its own to predict it: 3 + 5 + 3 + 2.
  EXPECT_EQ(b.target_tokens, 13);
  const at::Tensor rows = b.predict_rows;
  EXPECT_FALSE(at::isin(rows, at::tensor({8, 25, 29}, at::kLong)).any().item<bool>());  // each example's last token
  EXPECT_EQ(make_batch(data, kRows, at::kCPU).tokens, 42);                              // padded: [4, 17], 42 real
}

TEST(Packing, LossesAndGradientsEqualThePaddedBatch) {
  const auto data = four_examples();
  LlamaModel padded_model = random_model(tiny_config(), 7), packed_model = random_model(tiny_config(), 7);
  Trainer padded(padded_model, {}), packed(packed_model, {});
  const Batch pb = make_batch(data, kRows, at::kCPU), kb = make_batch(data, kRows, at::kCPU, true);
  // The padded layout counts example 2's first token (its row starts the batch's column 0 too,
  // so nothing predicts it): the packed one matches it.
  ASSERT_EQ(pb.target_tokens, kb.target_tokens);
  const auto want = example_losses(padded, pb, data, kRows), got = example_losses(packed, kb, data, kRows);
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5) << "example " << i;

  const double a = padded.accumulate(pb, pb.target_tokens).item<double>();
  const double b = packed.accumulate(kb, kb.target_tokens).item<double>();
  EXPECT_NEAR(a, b, 1e-5);
  const auto ga = padded.hf_named_grads(), gb = packed.hf_named_grads();
  ASSERT_EQ(ga.size(), gb.size());
  for (const auto& [name, g] : ga) EXPECT_LE((g - gb.at(name)).abs().max().item<double>(), 1e-5) << name;
}

TEST(Packing, ChangingOneExampleLeavesTheOthersLossesBitwiseUnchanged) {
  auto data = four_examples();
  LlamaModel model = random_model(tiny_config(), 7);
  Trainer trainer(model, {});
  const auto before = example_losses(trainer, make_batch(data, kRows, at::kCPU, true), data, kRows);
  data[1] = random_example(23, 6, 99);  // other tokens, another length: every later example moves
  const auto after = example_losses(trainer, make_batch(data, kRows, at::kCPU, true), data, kRows);
  EXPECT_NE(before[1], after[1]);
  for (size_t i : {0, 2, 3}) EXPECT_EQ(before[i], after[i]) << "example " << i;
}

TEST(Packing, AutoPacksWherePaddingWouldBeATenthOfTheBatch) {
  auto of = [](std::vector<int64_t> lengths) {
    std::vector<SftExample> data;
    for (int64_t n : lengths) data.push_back(random_example(n, 1, 0));
    return data;
  };
  const std::vector<size_t> rows = {0, 1, 2, 3};
  EXPECT_FALSE(packs(Packing::Auto, of({10, 10, 10, 10}), rows));
  EXPECT_FALSE(packs(Packing::Auto, of({10, 10, 10, 7}), rows));  // 3 of 40 positions padding
  EXPECT_TRUE(packs(Packing::Auto, of({10, 10, 10, 6}), rows));   // 4 of 40
  EXPECT_TRUE(packs(Packing::On, of({10, 10, 10, 10}), rows));
  EXPECT_FALSE(packs(Packing::Off, of({10, 10, 2, 2}), rows));
  EXPECT_EQ(parse_packing("auto"), Packing::Auto);
  EXPECT_S2D_ERROR(parse_packing("yes"), ErrorKind::Input, "--packing", "auto|on|off");
}

// The flash kernel's variable-length form reads where each sequence starts, then the total, as
// int32; a packed forward makes them once for all its layers.
TEST(Packing, SequencesCarryTheirStartsAndTheLongest) {
  const PackedSequences p = pack_sequences({5, 9, 3}, at::kCPU);
  EXPECT_EQ(p.lengths, (std::vector<int64_t>{5, 9, 3}));
  EXPECT_EQ(p.offsets.scalar_type(), at::kInt);
  EXPECT_TRUE(at::equal(p.offsets, at::tensor(std::vector<int32_t>{0, 5, 14, 17}, at::kInt)));
  EXPECT_EQ(p.longest, 9);
}

// Training on CUDA runs under bf16 autocast, where RoPE's fp32 tables leave q and k in fp32: the
// one variable-length flash call must still run (not fall back to one SDPA per sequence), agree
// with SDPA per sequence under the same autocast, and pass gradients back to the fp32 inputs.
TEST(PackingCuda, VarlenFlashRunsUnderAutocastAsSdpaPerSequence) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no GPU";
  const std::vector<int64_t> lengths = {5, 9, 3};
  const int64_t L = 17, NH = 8, KV = 2, D = 64;
  at::manual_seed(3);
  const auto f32 = at::TensorOptions().dtype(at::kFloat).device(at::kCUDA);
  const at::Tensor q = at::randn({L, NH, D}, f32).requires_grad_(), k = at::randn({L, KV, D}, f32).requires_grad_();
  const at::Tensor v = at::randn({L, KV, D}, f32.dtype(at::kBFloat16));
  at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
  at::autocast::set_autocast_enabled(at::kCUDA, true);
  const at::Tensor got = varlen_causal_flash_attention(q, k, v, pack_sequences(lengths, q.device()));  // [L, NH, D]
  std::vector<at::Tensor> want;
  int64_t start = 0;
  for (const int64_t n : lengths) {  // SDPA on [1, heads, n, D] views of one sequence
    auto seq = [&](const at::Tensor& x) { return x.narrow(0, start, n).transpose(0, 1).unsqueeze(0); };
    want.push_back(at::scaled_dot_product_attention(seq(q), seq(k), seq(v), std::nullopt, 0.0, true, std::nullopt,
                                                    /*enable_gqa=*/true)[0]
                       .transpose(0, 1));
    start += n;
  }
  at::autocast::set_autocast_enabled(at::kCUDA, false);
  at::autocast::clear_cache();
  ASSERT_TRUE(got.defined()) << "fell back to SDPA per sequence";
  EXPECT_EQ(got.scalar_type(), at::kBFloat16);
  EXPECT_LE((got.to(at::kFloat) - at::cat(want, 0).to(at::kFloat)).abs().max().item<double>(), 2e-2);
  got.to(at::kFloat).sum().backward();
  ASSERT_TRUE(q.grad().defined() && k.grad().defined());
  EXPECT_TRUE(at::isfinite(q.grad()).all().item<bool>() && at::isfinite(k.grad()).all().item<bool>());
}

}  // namespace s2d
