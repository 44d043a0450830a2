// Micro-batches at one fixed shape (make_fixed_batch, for a captured training step): the natural
// batch's loss and gradients with the extra rows and targets counted as nothing, and a batch that
// does not fit refused.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "model_fixture.h"
#include "s2d/train/trainer.h"
#include "s2d/util/error.h"
#include "test_util.h"
#include "train_fixture.h"

namespace s2d {
using namespace s2d::testing;

namespace {
// Counted tokens (those past the first): 3, 5, 3 (all 4 but the first) and 2.
std::vector<SftExample> four_examples() {
  return {random_example(9, 3, 1), random_example(17, 5, 2), random_example(4, 4, 3), random_example(12, 2, 4)};
}

// One accumulate over `b` on a fresh copy of the same model: the loss sum and every gradient.
std::pair<double, std::map<std::string, at::Tensor>> loss_and_grads(const Batch& b) {
  LlamaModel model = random_model(tiny_config(50, 64), 7);
  Trainer trainer(model, {});
  const double sum = trainer.accumulate(b, 1).item<double>();
  return {sum, trainer.hf_named_grads()};
}
}  // namespace

// The shapes' tokens and targets, as pairs.
std::vector<std::pair<int64_t, int64_t>> tokens_and_targets(const std::vector<FixedBatchShape>& shapes) {
  std::vector<std::pair<int64_t, int64_t>> out;
  for (const auto& s : shapes) out.emplace_back(s.tokens, s.targets);
  return out;
}

TEST(FixedBatch, ShapesGoByPowersOfTwoToTheLongestAndHoldTheMostCountedTokens) {
  auto data = four_examples();  // 9, 17, 4 and 12 tokens: 17 is within a quarter of 16, so it replaces it
  const auto shapes = fixed_batch_shapes(data, 2);
  EXPECT_EQ(tokens_and_targets(shapes), (std::vector<std::pair<int64_t, int64_t>>{{17, 5 + 3}}));
  EXPECT_EQ(shapes[0].rows, 2);
  data.push_back(random_example(21, 1, 5));  // beyond a quarter past 16: 16 stays
  EXPECT_EQ(tokens_and_targets(fixed_batch_shapes(data, 2)),
            (std::vector<std::pair<int64_t, int64_t>>{{16, 3 + 3}, {21, 5 + 3}}));
  data.pop_back();
  EXPECT_EQ(tokens_and_targets(fixed_batch_shapes(data, 9)).back().second, 3 + 5 + 3 + 2) << "more rows than examples";
  data.push_back(random_example(70, 1, 5));  // no example between 33 and 64 tokens: no 64 shape
  EXPECT_EQ(tokens_and_targets(fixed_batch_shapes(data, 1)),
            (std::vector<std::pair<int64_t, int64_t>>{{16, 3}, {32, 5}, {70, 5}}));
  EXPECT_EQ(shape_for(fixed_batch_shapes(data, 1), 17).tokens, 32);
  EXPECT_EQ(shape_for(fixed_batch_shapes(data, 1), 16).tokens, 16);
  EXPECT_S2D_ERROR(shape_for(fixed_batch_shapes(data, 1), 71), ErrorKind::Runtime, "71 tokens");
}

TEST(FixedBatch, GivesTheNaturalBatchsLossAndGradients) {
  const auto data = four_examples();
  const std::vector<size_t> rows = {0, 2};
  const FixedBatchShape shape =
      fixed_batch_shapes(data, 3).back();  // [3, 17], 11 targets: a row and 5 targets of padding
  const Batch natural = make_batch(data, rows, at::kCPU), fixed = make_fixed_batch(data, rows, at::kCPU, shape);
  EXPECT_EQ(fixed.ids.sizes(), (at::IntArrayRef{3, 17}));
  EXPECT_EQ(fixed.targets.size(0), 11);
  EXPECT_EQ(fixed.target_tokens, natural.target_tokens);
  EXPECT_EQ(fixed.tokens, natural.tokens);
  const auto [want_sum, want] = loss_and_grads(natural);
  const auto [sum, grads] = loss_and_grads(fixed);
  EXPECT_NEAR(sum, want_sum, 1e-5 * want_sum);
  ASSERT_EQ(grads.size(), want.size());
  for (const auto& [name, g] : want) {
    const double scale = g.abs().max().item<double>();
    EXPECT_LE((grads.at(name) - g).abs().max().item<double>(), 1e-5 * scale + 1e-9) << name;
  }
}

TEST(FixedBatch, AnEmptyBatchCountsNothing) {
  const auto data = four_examples();
  const Batch empty = make_fixed_batch(data, {}, at::kCPU, fixed_batch_shapes(data, 2).back());
  EXPECT_EQ(empty.target_tokens, 0);
  EXPECT_EQ(empty.tokens, 0);
  const auto [sum, grads] = loss_and_grads(empty);
  EXPECT_EQ(sum, 0.0);
  for (const auto& [name, g] : grads) EXPECT_EQ(g.abs().max().item<double>(), 0.0) << name;
}

// On a GPU the batches go up through pinned memory without blocking (async_transfer.h): the same
// values as the host's, in every tensor of both layouts.
TEST(FixedBatch, BatchesOnTheTestDeviceHoldTheHostsValues) {
  const c10::Device device = at::hasCUDA() ? c10::Device(at::kCUDA) : c10::Device(at::kCPU);
  const auto data = four_examples();
  const std::vector<size_t> rows = {1, 3};
  const FixedBatchShape shape = fixed_batch_shapes(data, 3).back();
  for (const auto& [host, there] :
       {std::pair{make_batch(data, rows, at::kCPU), make_batch(data, rows, device)},
        std::pair{make_fixed_batch(data, rows, at::kCPU, shape), make_fixed_batch(data, rows, device, shape)}}) {
    EXPECT_EQ(there.ids.device(), device);
    for (const auto& [a, b] :
         {std::pair{host.ids, there.ids}, std::pair{host.loss_mask, there.loss_mask},
          std::pair{host.predict_rows, there.predict_rows}, std::pair{host.targets, there.targets}})
      EXPECT_TRUE(at::equal(a, b.cpu()));
    EXPECT_EQ(there.target_tokens, host.target_tokens);
  }
}

TEST(FixedBatch, ABatchThatDoesNotFitIsRefused) {
  const auto data = four_examples();
  const FixedBatchShape shape = fixed_batch_shapes({data[0], data[2]}, 2).back();  // [2, 9], 6 targets
  EXPECT_S2D_ERROR(make_fixed_batch(data, {0, 1}, at::kCPU, shape), ErrorKind::Runtime, "[2, 9]", "17 tokens");
  EXPECT_S2D_ERROR(make_fixed_batch(data, {0, 2, 3}, at::kCPU, shape), ErrorKind::Runtime, "3 examples");
  FixedBatchShape few = shape;
  few.targets = 4;
  EXPECT_S2D_ERROR(make_fixed_batch(data, {0, 2}, at::kCPU, few), ErrorKind::Runtime, "counts 6", "holds 4");
}

}  // namespace s2d
