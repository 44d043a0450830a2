// Precision::Bf16 (trainer.h): bf16 weights and gradients, fp32 master weights in the optimizer.
// A step must be exactly what the fp32 trainer does to the masters given the bf16 gradients summed
// in fp32, with the weights its rounding to bf16; and a resumed run must carry the masters' bits.
// tests/conformance checks the same recipe against PyTorch's (make_train_reference.py --weights bf16).
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <map>

#include "model_fixture.h"
#include "s2d/model/lora.h"
#include "s2d/train/trainer.h"
#include "s2d/util/error.h"
#include "test_util.h"
#include "train_fixture.h"

namespace s2d {
using namespace s2d::testing;

namespace {

Batch batch_of(uint64_t seed) { return random_batch(3, 10, 6, seed); }

OptimizerOptions options() {
  OptimizerOptions o;
  o.lr = 1e-2;  // large enough that a step moves most bf16 weights by an ulp or more
  o.weight_decay = 0.1;
  o.max_grad_norm = 0.5;  // bites: the norms here are above 1
  o.schedule = "constant";
  return o;
}

// The bf16 gradients of `model` (bf16 weights) for a micro-batch, computed as the trainer's loss
// is (logits in fp32, summed cross-entropy over `step_tokens`), outside the trainer.
std::map<std::string, at::Tensor> bf16_grads(LlamaModel& model, const Batch& b, int64_t step_tokens) {
  model.set_training(true);
  for (auto& [name, t] : packed_weights(model)) t.set_requires_grad(true), t.mutable_grad() = at::Tensor();
  const at::Tensor logits = model.forward_causal(b.ids, b.predict_rows).to(at::kFloat);
  (at::cross_entropy_loss(logits, b.targets, {}, at::Reduction::Sum) / static_cast<double>(step_tokens)).backward();
  std::map<std::string, at::Tensor> g;
  for (auto& [name, t] : packed_weights(model)) g[name] = t.grad().clone();
  return g;
}

}  // namespace

TEST(Bf16Masters, AStepIsFp32AdamWOnTheMastersWithTheWeightsItsRounding) {
  const ModelConfig c = tiny_config(50, 64);
  LlamaModel trained = random_model(c, 3, at::kCPU, at::kBFloat16);
  Trainer trainer(trained, options(), Precision::Bf16);
  // The reference: the fp32 trainer on fp32 weights equal to the masters, handed the gradients
  // that a bf16 copy of the model computes, summed over two micro-batches in fp32.
  LlamaModel mirror = random_model(c, 3, at::kCPU, at::kBFloat16);
  LlamaModel masters = random_model(c, 3);
  for (auto& [name, t] : packed_weights(masters)) t.detach().copy_(packed_weights(mirror).at(name).to(at::kFloat));
  Trainer reference(masters, options(), Precision::Fp32);
  for (int step = 0; step < 3; ++step) {
    const Batch b1 = batch_of(10 + step), b2 = batch_of(20 + step);
    const int64_t tokens = b1.target_tokens + b2.target_tokens;
    trainer.accumulate(b1, tokens);
    trainer.accumulate(b2, tokens);
    const at::Tensor norm = trainer.step();

    const auto g1 = bf16_grads(mirror, b1, tokens), g2 = bf16_grads(mirror, b2, tokens);
    for (auto& [name, t] : packed_weights(masters))
      t.mutable_grad() = g1.at(name).to(at::kFloat) + g2.at(name).to(at::kFloat);
    const at::Tensor want_norm = reference.step();
    EXPECT_TRUE(at::equal(norm, want_norm))
        << "step " << step << ": " << norm.item<double>() << " against " << want_norm.item<double>();
    EXPECT_GT(want_norm.item<double>(), 0.5);  // so clipping took part
    const auto state = trainer.state();
    int moved = 0;
    for (auto& [name, want] : packed_weights(masters)) {
      EXPECT_TRUE(at::equal(state.at(name + ".master"), want)) << name << " at step " << step;
      EXPECT_TRUE(at::equal(packed_weights(trained).at(name), want.to(at::kBFloat16))) << name << " at step " << step;
      at::NoGradGuard no_grad;
      moved += !at::equal(packed_weights(mirror).at(name), want.to(at::kBFloat16));
      packed_weights(mirror).at(name).detach().copy_(want);
    }
    EXPECT_GT(moved, 0);  // the bf16 weights did change
  }
  // The masters hold bits the weights lost: without them a resumed run would differ.
  int finer = 0;
  for (auto& [name, t] : packed_weights(trained))
    finer += !at::equal(trainer.state().at(name + ".master"), t.to(at::kFloat));
  EXPECT_GT(finer, 0);
}

TEST(Bf16Masters, AResumedRunCarriesTheMastersBits) {
  const ModelConfig c = tiny_config(50, 64);
  LlamaModel model = random_model(c, 4, at::kCPU, at::kBFloat16);
  Trainer trainer(model, options(), Precision::Bf16);
  for (int step = 0; step < 2; ++step) {
    const Batch b = batch_of(30 + step);
    trainer.accumulate(b, b.target_tokens);
    trainer.step();
  }
  // A resume: the checkpoint's bf16 weights and the optimizer state.
  LlamaModel resumed = random_model(c, 99, at::kCPU, at::kBFloat16);
  for (auto& [name, t] : packed_weights(resumed)) t.detach().copy_(packed_weights(model).at(name));
  Trainer again(resumed, options(), Precision::Bf16);
  again.load_state(trainer.state(), trainer.steps_done());
  const Batch b = batch_of(40);
  trainer.accumulate(b, b.target_tokens);
  again.accumulate(b, b.target_tokens);
  EXPECT_TRUE(at::equal(trainer.step(), again.step()));
  for (auto& [name, t] : packed_weights(model)) EXPECT_TRUE(at::equal(packed_weights(resumed).at(name), t)) << name;
  for (auto& [name, t] : trainer.state()) EXPECT_TRUE(at::equal(again.state().at(name), t)) << name;

  // A state without masters (an fp32 or autocast run's) is refused, not silently re-rounded.
  auto without = trainer.state();
  std::erase_if(without, [](const auto& kv) { return kv.first.ends_with(".master"); });
  Trainer third(resumed, options(), Precision::Bf16);
  EXPECT_S2D_ERROR(third.load_state(without, 3), ErrorKind::Input, "optimizer state does not match", ".master",
                   "absent");
}

TEST(Bf16Masters, FullBf16WeightsOnlyAndNoLora) {
  const ModelConfig c = tiny_config(50, 64);
  LlamaModel fp32 = random_model(c, 5);
  EXPECT_S2D_ERROR(Trainer(fp32, options(), Precision::Bf16), ErrorKind::Input, "--dtype", "bf16 weights", "Float");
  LlamaModel bf16 = random_model(c, 5, at::kCPU, at::kBFloat16);
  EXPECT_S2D_ERROR(Trainer(bf16, options(), Precision::Fp32), ErrorKind::Input, "--dtype", "BFloat16");
  bf16.set_lora(init_lora(c, {.rank = 4}, at::kCPU, 1));
  EXPECT_S2D_ERROR(Trainer(bf16, options(), Precision::Bf16), ErrorKind::Input, "--precision", "--lora");
  EXPECT_EQ(parse_precision("bf16"), Precision::Bf16);
  EXPECT_S2D_ERROR(parse_precision("bf17"), ErrorKind::Input, "--precision", "auto|fp32|bf16");
}

}  // namespace s2d
