// The captured training step (captured_train_step.h) against Trainer's eager accumulate and step:
// the same losses, gradient norms and weights, bit for bit, with learning rates exact in fp32 (the
// captured step reads its rate as fp32). On the CPU the step runs eagerly on its buffers, audited
// as a capture and its replays (graphs_emulated.h); on a GPU it is captured after its warm-up steps
// and replayed (scripts/gpu/run_all.sh runs that twin).
#include "s2d/train/captured_train_step.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "graphs_emulated.h"
#include "model_fixture.h"
#include "s2d/model/graph_memory.h"
#include "s2d/util/error.h"
#include "test_util.h"
#include "train_fixture.h"

namespace s2d {
using namespace s2d::testing;

namespace {

// Four rows of `n` tokens drawn from `seed`, each counting its last 4.
Batch batch_of(int64_t n, uint64_t seed, const c10::Device& device) { return random_batch(4, n, 4, seed, device); }

// Warm-up to 2^-10, then constant: every rate exact in fp32. Clipping and decay both bite.
OptimizerOptions exact_rates() {
  OptimizerOptions o;
  o.lr = 1.0 / 1024;
  o.warmup_steps = 2;
  o.schedule = "constant";
  o.weight_decay = 0.1;
  o.max_grad_norm = 0.5;
  return o;
}

// Steps of `micro` micro-batches each, the gradients accumulated over them.
void expect_captured_equals_eager(const c10::Device& device, int micro) {
  const ModelConfig c = tiny_config(50, 64);
  LlamaModel eager_model = random_model(c, 5, device), captured_model = random_model(c, 5, device);
  Trainer eager(eager_model, exact_rates()), trainer(captured_model, exact_rates());
  CapturedTrainStep captured(trainer);
  // Two steps a batch, past the warm-up, so that a GPU replays the capture several times; the
  // first step's results are read after the second has run.
  for (int s = 0; s < CapturedTrainStep::kWarmupSteps + 2; ++s) {
    std::vector<Batch> step;
    int64_t counted = 0;
    for (int k = 0; k < micro; ++k) {
      step.push_back(batch_of(12, 100 + 10 * s + k, device));
      counted += step.back().target_tokens;
    }
    const CapturedTrainStep::Result first = captured.run(step), second = captured.run(step);
    for (const CapturedTrainStep::Result& r : {first, second}) {
      at::Tensor loss;
      for (const Batch& b : step) {
        const at::Tensor l = eager.accumulate(b, counted);
        loss = loss.defined() ? loss + l : l;
      }
      const at::Tensor norm = eager.step();
      EXPECT_TRUE(at::equal(r.loss_sum, loss))
          << "step " << eager.steps_done() << ": " << r.loss_sum.item<double>() << " against " << loss.item<double>();
      EXPECT_TRUE(at::equal(r.grad_norm, norm)) << "step " << eager.steps_done();
    }
  }
  EXPECT_EQ(captured.captured(), CapturedTrainStep::supported(device));
  EXPECT_EQ(trainer.steps_done(), eager.steps_done());
  LlamaWeights& ew = eager_model.weights();
  for_each_packed(c, captured_model.weights(), [&](const std::string& name, at::Tensor& t) {
    at::Tensor want;
    for_each_packed(c, ew, [&](const std::string& n, at::Tensor& e) {
      if (n == name) want = e;
    });
    EXPECT_TRUE(at::equal(t, want)) << name;
  });
}

// Two captured steps of one trainer on one GraphMemory, batches of 12 and 20 tokens in turn (as
// s2d distill runs lengths): each step's loss and norm, and then the weights, equal to the eager
// steps'. On a GPU both capture into one pool, the second reusing what the first freed.
void expect_shared_memory_steps_equal_eager(const c10::Device& device) {
  const ModelConfig c = tiny_config(50, 64);
  LlamaModel eager_model = random_model(c, 5, device), captured_model = random_model(c, 5, device);
  Trainer eager(eager_model, exact_rates()), trainer(captured_model, exact_rates());
  const auto memory = make_graph_memory();
  CapturedTrainStep short_rows(trainer, memory), long_rows(trainer, memory);
  for (int s = 0; s < 2 * (CapturedTrainStep::kWarmupSteps + 3); ++s) {
    const bool is_long = s % 2 == 1;
    const Batch b = batch_of(is_long ? 20 : 12, 200 + s, device);
    const CapturedTrainStep::Result r = (is_long ? long_rows : short_rows).run({b});
    const at::Tensor loss = eager.accumulate(b, b.target_tokens), norm = eager.step();
    EXPECT_TRUE(at::equal(r.loss_sum, loss)) << "step " << s;
    EXPECT_TRUE(at::equal(r.grad_norm, norm)) << "step " << s;
  }
  EXPECT_EQ(short_rows.captured(), CapturedTrainStep::supported(device));
  EXPECT_EQ(long_rows.captured(), CapturedTrainStep::supported(device));
  const auto want = packed_weights(eager_model);
  for (const auto& [name, t] : packed_weights(captured_model)) EXPECT_TRUE(at::equal(t, want.at(name))) << name;
}

}  // namespace

TEST(CapturedTrainStep, GivesTheEagerStepsLossesNormsAndWeights) {
  const GraphsEmulatedOnCpu emulated;
  expect_captured_equals_eager(at::kCPU, 1);
}

TEST(CapturedTrainStep, AccumulatesOverMicroBatchesAsTheEagerStepsDo) {
  const GraphsEmulatedOnCpu emulated;
  expect_captured_equals_eager(at::kCPU, 2);
}

TEST(CapturedTrainStep, StepsOfTwoShapesOnOneTrainerGiveTheEagerSteps) {
  const GraphsEmulatedOnCpu emulated;
  expect_shared_memory_steps_equal_eager(at::kCPU);
}

TEST(CapturedTrainStepCuda, ReplaysGiveTheEagerStepsLossesNormsAndWeights) {
  if (!at::hasCUDA()) GTEST_SKIP() << "needs a CUDA GPU (scripts/gpu/run_all.sh runs it there)";
  if (!CapturedTrainStep::supported(at::kCUDA)) GTEST_SKIP() << "a CPU build of s2d";
  expect_captured_equals_eager(at::kCUDA, 1);
  expect_captured_equals_eager(at::kCUDA, 2);
  expect_shared_memory_steps_equal_eager(at::kCUDA);
}

TEST(CapturedTrainStep, RefusesAnotherShapeCountOrThePackedLayout) {
  LlamaModel model = random_model(tiny_config(50, 64), 5);
  Trainer trainer(model, exact_rates());
  CapturedTrainStep captured(trainer);
  captured.run({batch_of(12, 1, at::kCPU)});
  EXPECT_S2D_ERROR(captured.run({batch_of(13, 2, at::kCPU)}), ErrorKind::Input, "'ids'", "[4, 12]", "[4, 13]");
  EXPECT_S2D_ERROR(captured.run({batch_of(12, 3, at::kCPU), batch_of(12, 4, at::kCPU)}), ErrorKind::Input,
                   "micro-batches", "expected 1", "2");
  std::vector<SftExample> data(2);
  for (auto& e : data) e.ids = {5, 6, 7}, e.loss_mask = {0, 1, 1};
  EXPECT_S2D_ERROR(captured.run({make_batch(data, {0, 1}, at::kCPU, /*packed=*/true)}), ErrorKind::Input, "padded");
  EXPECT_EQ(trainer.steps_done(), 1) << "a refused batch must not count a step";
}

}  // namespace s2d
