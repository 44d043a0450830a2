#include "s2d/model/llama_weights.h"

#include <ATen/ATen.h>

#include "s2d/util/env_switch.h"

namespace s2d {

namespace {

EnvSwitch g_out_in("S2D_WEIGHTS_OUT_IN");

// The per-layer tensors both layouts (the checkpoint's and the packed one) keep as they are:
// the optional Q/K norms (Qwen3) and the two RMSNorm weights, under their checkpoint names.
template <class Layer, class Visitor>
void visit_layer_norms(const ModelConfig& c, const std::string& p, Layer& L, const Visitor& fn) {
  if (c.qk_norm) {
    fn(p + "self_attn.q_norm.weight", L.q_norm);
    fn(p + "self_attn.k_norm.weight", L.k_norm);
  }
  fn(p + "input_layernorm.weight", L.input_norm);
  fn(p + "post_attention_layernorm.weight", L.post_attention_norm);
}

}  // namespace

void for_each_weight(const ModelConfig& c, LlamaWeights& w, const WeightVisitor& fn) {
  fn("model.embed_tokens.weight", w.embed);
  w.layers.resize(static_cast<size_t>(c.num_hidden_layers));
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    auto& L = w.layers[static_cast<size_t>(i)];
    const std::string p = "model.layers." + std::to_string(i) + ".";
    fn(p + "self_attn.q_proj.weight", L.q_proj);
    fn(p + "self_attn.k_proj.weight", L.k_proj);
    fn(p + "self_attn.v_proj.weight", L.v_proj);
    fn(p + "self_attn.o_proj.weight", L.o_proj);
    if (c.qkv_bias) {
      fn(p + "self_attn.q_proj.bias", L.q_bias);
      fn(p + "self_attn.k_proj.bias", L.k_bias);
      fn(p + "self_attn.v_proj.bias", L.v_bias);
    }
    if (c.o_bias) fn(p + "self_attn.o_proj.bias", L.o_bias);
    fn(p + "mlp.gate_proj.weight", L.gate_proj);
    fn(p + "mlp.up_proj.weight", L.up_proj);
    fn(p + "mlp.down_proj.weight", L.down_proj);
    visit_layer_norms(c, p, L, fn);
  }
  fn("model.norm.weight", w.final_norm);
  if (!c.tie_word_embeddings) fn("lm_head.weight", w.lm_head);
}

void point_hf_names_at_packed(const ModelConfig& c, LlamaWeights& w) {
  const int64_t Q = c.num_attention_heads * c.head_dim, KV = c.num_key_value_heads * c.head_dim;
  const int64_t I = c.intermediate_size;
  for (auto& L : w.layers) {
    L.q_proj = L.qkv_t.narrow(1, 0, Q).t();
    L.k_proj = L.qkv_t.narrow(1, Q, KV).t();
    L.v_proj = L.qkv_t.narrow(1, Q + KV, KV).t();
    L.gate_proj = L.gate_up_t.narrow(1, 0, I).t();
    L.up_proj = L.gate_up_t.narrow(1, I, I).t();
    L.o_proj = L.o_t.t();
    L.down_proj = L.down_t.t();
    if (c.qkv_bias) {
      L.q_bias = L.qkv_b.narrow(0, 0, Q);
      L.k_bias = L.qkv_b.narrow(0, Q, KV);
      L.v_bias = L.qkv_b.narrow(0, Q + KV, KV);
    }
    if (c.o_bias) L.o_bias = L.o_b;
  }
  if (!c.tie_word_embeddings) w.lm_head = w.lm_head_t.t();
}

void set_weights_stored_out_in(bool on) { g_out_in.set(on); }

void pack_weights(const ModelConfig& c, LlamaWeights& w) {
  // m [out, in] -> its [in, out] view of the chosen storage.
  const bool out_in = g_out_in.on();
  const auto store = [out_in](const at::Tensor& m) { return out_in ? m.contiguous().t() : m.t().contiguous(); };
  for (auto& L : w.layers) {
    L.qkv_t = store(at::cat({L.q_proj, L.k_proj, L.v_proj}, 0));                        // [H, Q + 2KV]
    L.gate_up_t = store(at::cat({L.gate_proj, L.up_proj}, 0));                          // [H, 2I]
    L.o_t = store(L.o_proj);                                                            // [Q, H]
    L.down_t = store(L.down_proj);                                                      // [I, H]
    if (c.qkv_bias) L.qkv_b = at::cat({L.q_bias, L.k_bias, L.v_bias}, 0).contiguous();  // [Q + 2KV]
    if (c.o_bias) L.o_b = L.o_bias;                                                     // [H]
  }
  // Tied: the lookup needs rows, the head needs columns; inference keeps a transposed copy
  // (training points it back at the embedding, see for_each_packed), or, stored [out, in], a view.
  w.lm_head_t = store(c.tie_word_embeddings ? w.embed : w.lm_head);
  point_hf_names_at_packed(c, w);
}

void for_each_packed(const ModelConfig& c, LlamaWeights& w, const WeightVisitor& fn) {
  fn("model.embed_tokens.weight", w.embed);
  for (size_t i = 0; i < w.layers.size(); ++i) {
    auto& L = w.layers[i];
    const std::string p = "model.layers." + std::to_string(i) + ".";
    fn(p + "qkv_t", L.qkv_t);
    fn(p + "o_t", L.o_t);
    fn(p + "gate_up_t", L.gate_up_t);
    fn(p + "down_t", L.down_t);
    if (c.qkv_bias) fn(p + "qkv_b", L.qkv_b);
    if (c.o_bias) fn(p + "self_attn.o_proj.bias", L.o_b);
    visit_layer_norms(c, p, L, fn);
  }
  fn("model.norm.weight", w.final_norm);
  if (!c.tie_word_embeddings) fn("lm_head_t", w.lm_head_t);
}

}  // namespace s2d
