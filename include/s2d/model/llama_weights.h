// A Llama-family model's weights: as a checkpoint names them, and packed for speed; and a LoRA
// adapter's.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "s2d/model/config.h"

namespace s2d {

// Weights under their Hugging Face names and shapes ([out, in]), as loaded and saved.
//
// Once a LlamaModel owns them they are *packed* for speed: the projections that read the same
// input are fused, and every matrix is stored transposed, [in, out], so that x @ W runs as a
// plain GEMM (on the 2-core AMD CI machine, a [1, 256] x [256, 32000] product is 2.4x faster
// this way than x @ W^T over [32000, 256]). The HF-named fields then become views into the packed
// tensors: same values, same shapes, no extra memory. The packed tensors are the storage to train.
struct LayerWeights {
  at::Tensor q_proj, k_proj, v_proj, o_proj;   // [NH*D, H], [KV*D, H], [KV*D, H], [H, NH*D]
  at::Tensor gate_proj, up_proj, down_proj;    // [I, H], [I, H], [H, I]
  at::Tensor input_norm, post_attention_norm;  // [H]
  // Defined only where the config has them (ModelConfig::qkv_bias, o_bias, qk_norm).
  at::Tensor q_bias, k_bias, v_bias, o_bias;  // [NH*D], [KV*D], [KV*D], [H]
  at::Tensor q_norm, k_norm;                  // [D], one RMSNorm shared by every head
  // Packed (set by LlamaModel): [H, NH*D + 2*KV*D], [NH*D, H], [H, 2*I], [I, H]; qkv_b
  // [NH*D + 2*KV*D] and o_b [H] when biased.
  at::Tensor qkv_t, o_t, gate_up_t, down_t;
  at::Tensor qkv_b, o_b;
};

struct LlamaWeights {
  at::Tensor embed;       // [V, H]
  at::Tensor final_norm;  // [H]
  at::Tensor lm_head;     // [V, H]; undefined when tie_word_embeddings
  at::Tensor lm_head_t;   // packed [H, V] (a transposed copy of embed when tied)
  std::vector<LayerWeights> layers;
};

// LoRA (Hu et al. 2021) in PEFT's layout: for a target projection W [out, in], the output gains
// dropout(x) @ A^T @ B^T * alpha / r with A [r, in] and B [out, r]. Targets use HF module names:
// q_proj k_proj v_proj o_proj gate_proj up_proj down_proj.
struct LoraPair {
  at::Tensor a, b;  // [r, in], [out, r]
};
struct LoraAdapter {
  int64_t rank = 8;
  double alpha = 16;
  double dropout = 0;
  std::vector<std::string> targets;
  std::vector<std::map<std::string, LoraPair>> layers;  // per layer: target -> pair
  double scale() const { return alpha / static_cast<double>(rank); }
};

// Visits every weight with its HF name: the one place that maps names to struct fields.
using WeightVisitor = std::function<void(const std::string& name, at::Tensor& tensor)>;
void for_each_weight(const ModelConfig& c, LlamaWeights& w, const WeightVisitor& fn);

// The packed tensors (the model's real storage, what a trainer optimises), under stable names;
// the tied head is not listed (it is the embedding).
void for_each_packed(const ModelConfig& c, LlamaWeights& w, const WeightVisitor& fn);
// Sets the HF-named fields as views of the packed ones (also for a LlamaWeights of gradients).
void point_hf_names_at_packed(const ModelConfig& c, LlamaWeights& w);
// Fuses the matrices that read the same input, stores them [in, out], and points the HF-named
// fields at views of the packed storage (LlamaModel's constructor does this). One layer at a
// time, so peak memory grows by one layer.
//
// With S2D_WEIGHTS_OUT_IN=1 (or set_weights_stored_out_in) the fused matrices are stored as the
// checkpoint stores them, [out, in], and the packed fields are their transposed views: x @ W then
// runs as HF's x @ W^T does, which cuBLAS may read faster at decode shapes than s2d's layout
// (scripts/bench/weight_layout_gpu.py measures both; not yet measured on a GPU). A tied head is
// then the embedding itself, not a copy. For models packed after the switch is set.
void pack_weights(const ModelConfig& c, LlamaWeights& w);
void set_weights_stored_out_in(bool on);

}  // namespace s2d
