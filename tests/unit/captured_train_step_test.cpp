// The captured training step (captured_train_step.h) against Trainer's eager accumulate and step:
// the same losses, gradient norms and weights, bit for bit, with learning rates exact in fp32 (the
// captured step reads its rate as fp32). On the CPU the step runs eagerly on its buffers; on a GPU
// it is captured after its warm-up steps and replayed (scripts/gpu/run_all.sh runs that twin).
#include "s2d/train/captured_train_step.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "model_fixture.h"
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

}  // namespace

TEST(CapturedTrainStep, GivesTheEagerStepsLossesNormsAndWeights) { expect_captured_equals_eager(at::kCPU, 1); }

TEST(CapturedTrainStep, AccumulatesOverMicroBatchesAsTheEagerStepsDo) { expect_captured_equals_eager(at::kCPU, 2); }

TEST(CapturedTrainStepCuda, ReplaysGiveTheEagerStepsLossesNormsAndWeights) {
  if (!at::hasCUDA()) GTEST_SKIP() << "needs a CUDA GPU (scripts/gpu/run_all.sh runs it there)";
  if (!CapturedTrainStep::supported(at::kCUDA)) GTEST_SKIP() << "a CPU build of s2d";
  expect_captured_equals_eager(at::kCUDA, 1);
  expect_captured_equals_eager(at::kCUDA, 2);
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
