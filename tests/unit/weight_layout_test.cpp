// pack_weights' two storages for the projections: s2d's [in, out] and the checkpoint's [out, in]
// (S2D_WEIGHTS_OUT_IN=1), read through the same [in, out] views. The model must compute the same
// logits, decode the same tokens and train the same way either way; only the memory layout moves.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <map>

#include "model_fixture.h"
#include "s2d/model/kv_cache.h"
#include "s2d/model/llama_weights.h"
#include "s2d/model/lora.h"
#include "s2d/train/trainer.h"
#include "train_fixture.h"

namespace s2d {
using namespace s2d::testing;

namespace {

// Models packed while it lives store their projections [out, in].
struct StoredOutIn {
  StoredOutIn() { set_weights_stored_out_in(true); }
  ~StoredOutIn() { set_weights_stored_out_in(false); }
};

LlamaModel model_stored_out_in(const ModelConfig& c) {
  const StoredOutIn out_in;
  return random_model(c, 7);
}

// Each fused matrix a [in, out] view of [out, in] storage: transposed strides, nothing copied.
void expect_stored_out_in(LlamaModel& m) {
  for (const auto& [name, t] : packed_weights(m))
    if (t.dim() == 2 && name != "model.embed_tokens.weight") {
      EXPECT_EQ(t.stride(0), 1) << name;
      EXPECT_EQ(t.stride(1), t.size(0)) << name;
    }
}

double max_difference(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

}  // namespace

TEST(WeightLayout, OutInStorageGivesTheSameLogitsDecodeAndTraining) {
  const ModelConfig c = tiny_config(50, 64);
  LlamaModel a = random_model(c, 7), b = model_stored_out_in(c);
  expect_stored_out_in(b);
  EXPECT_TRUE(a.weights().layers[1].qkv_t.is_contiguous());
  for (const auto& [name, t] : packed_weights(a)) EXPECT_TRUE(t.equal(packed_weights(b).at(name))) << name;

  {
    c10::InferenceMode guard;
    const at::Tensor ids = at::randint(3, 50, {2, 9}, at::kLong), mask = at::ones({2, 9}, at::kLong);
    EXPECT_LT(max_difference(a.forward_padded(ids, mask), b.forward_padded(ids, mask)), 1e-5);
    // A cached decode: the CPU's decode panels are built from the views.
    KVCache ca(c, 2, 12, a.options()), cb(c, 2, 12, b.options());
    const at::Tensor pos = positions_from_mask(mask);
    EXPECT_LT(max_difference(a.forward(ids, pos, mask, &ca), b.forward(ids, pos, mask, &cb)), 1e-5);
    const at::Tensor next = at::randint(3, 50, {2, 1}, at::kLong), step_mask = at::ones({2, 10}, at::kLong);
    const at::Tensor step_pos = at::full({2, 1}, 9, at::kLong);
    EXPECT_LT(max_difference(a.forward(next, step_pos, step_mask, &ca), b.forward(next, step_pos, step_mask, &cb)),
              1e-5);
  }

  OptimizerOptions o;
  o.lr = 1e-2;
  o.weight_decay = 0.1;
  o.max_grad_norm = 0.5;
  o.schedule = "constant";
  Trainer ta(a, o, Precision::Fp32), tb(b, o, Precision::Fp32);
  for (int step = 0; step < 3; ++step) {
    const Batch batch = random_batch(3, 10, 6, 30 + step);
    const double la = ta.accumulate(batch, batch.target_tokens).item<double>();
    const double lb = tb.accumulate(batch, batch.target_tokens).item<double>();
    EXPECT_NEAR(la, lb, 1e-5 * std::abs(la)) << "step " << step;
    EXPECT_NEAR(ta.step().item<double>(), tb.step().item<double>(), 1e-5) << "step " << step;
  }
  for (const auto& [name, t] : packed_weights(a))
    EXPECT_LT(max_difference(t, packed_weights(b).at(name)), 1e-5) << name;
  expect_stored_out_in(b);  // the optimizer updated the storage in place
}

TEST(WeightLayout, ATiedHeadStoredOutInIsTheEmbeddingItself) {
  ModelConfig c = tiny_config(50, 64);
  c.tie_word_embeddings = true;
  LlamaModel a = random_model(c, 7), b = model_stored_out_in(c);
  EXPECT_EQ(b.weights().lm_head_t.data_ptr(), b.weights().embed.data_ptr());
  EXPECT_NE(a.weights().lm_head_t.data_ptr(), a.weights().embed.data_ptr());
  c10::InferenceMode guard;
  const at::Tensor ids = at::randint(3, 50, {2, 9}, at::kLong), mask = at::ones({2, 9}, at::kLong);
  EXPECT_LT(max_difference(a.forward_padded(ids, mask), b.forward_padded(ids, mask)), 1e-5);
}

// merge_lora adds B A into the HF-named views, which under [out, in] storage are rows of it.
TEST(WeightLayout, ALoraAdapterMergesIntoOutInStorage) {
  const ModelConfig c = tiny_config(50, 64);
  LlamaModel m = model_stored_out_in(c);
  auto adapter = init_lora(c, {.rank = 4, .targets = {"q", "v", "up", "down"}}, at::kCPU, 0);
  for (auto& layer : adapter->layers)
    for (auto& [name, pair] : layer) pair.b.normal_(0, 0.1);
  m.set_lora(adapter);
  c10::InferenceMode guard;
  const at::Tensor ids = at::randint(3, 50, {2, 9}, at::kLong), mask = at::ones({2, 9}, at::kLong);
  const at::Tensor with_adapter = m.forward_padded(ids, mask);
  merge_lora(m);
  expect_stored_out_in(m);
  EXPECT_LT(max_difference(m.forward_padded(ids, mask), with_adapter), 1e-5);
}

}  // namespace s2d
