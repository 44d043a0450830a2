#include "s2d/model/weight_names.h"

#include <memory>

#include "s2d/model/safetensors.h"

namespace s2d {

std::map<std::string, std::vector<int64_t>> expected_weight_shapes(const ModelConfig& c) {
  const int64_t H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  const int64_t Q = c.num_attention_heads * c.head_dim, KV = c.num_key_value_heads * c.head_dim;
  std::map<std::string, std::vector<int64_t>> w;
  w["model.embed_tokens.weight"] = {V, H};
  w["model.norm.weight"] = {H};
  if (!c.tie_word_embeddings) w["lm_head.weight"] = {V, H};
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    w[p + "self_attn.q_proj.weight"] = {Q, H};
    w[p + "self_attn.k_proj.weight"] = {KV, H};
    w[p + "self_attn.v_proj.weight"] = {KV, H};
    w[p + "self_attn.o_proj.weight"] = {H, Q};
    if (c.qkv_bias) {
      w[p + "self_attn.q_proj.bias"] = {Q};
      w[p + "self_attn.k_proj.bias"] = {KV};
      w[p + "self_attn.v_proj.bias"] = {KV};
    }
    if (c.o_bias) w[p + "self_attn.o_proj.bias"] = {H};
    if (c.qk_norm) {
      w[p + "self_attn.q_norm.weight"] = {c.head_dim};
      w[p + "self_attn.k_norm.weight"] = {c.head_dim};
    }
    w[p + "mlp.gate_proj.weight"] = {I, H};
    w[p + "mlp.up_proj.weight"] = {I, H};
    w[p + "mlp.down_proj.weight"] = {H, I};
    w[p + "input_layernorm.weight"] = {H};
    w[p + "post_attention_layernorm.weight"] = {H};
  }
  return w;
}

bool is_ignorable_extra_tensor(const std::string& name) {
  return name.find("rotary_emb.inv_freq") != std::string::npos;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

WeightReport inspect_weights(const std::string& model_dir, const ModelConfig& c) {
  WeightReport r;
  auto expected = expected_weight_shapes(c);
  std::map<std::string, bool> seen;
  for (const auto& file : find_safetensors(model_dir).files) {
    SafetensorsFile f(file);
    for (const auto& [name, v] : f.tensors()) {
      ++r.dtype_tensors[st_dtype_name(v.dtype)];
      int64_t numel = 1;
      for (auto d : v.shape) numel *= d;
      r.parameters += numel;
      auto it = expected.find(name);
      if (it == expected.end()) {
        // A tied checkpoint that still stores lm_head is fine: it is ignored on load.
        if (!is_ignorable_extra_tensor(name) && !(name == "lm_head.weight" && c.tie_word_embeddings))
          r.unexpected.push_back(name);
        continue;
      }
      seen[name] = true;
      if (it->second != v.shape)
        r.wrong_shape.push_back(name + ": expected " + shape_str(it->second) + ", found " + shape_str(v.shape));
    }
  }
  for (const auto& [name, shape] : expected)
    if (!seen.count(name)) r.missing.push_back(name);
  return r;
}

}  // namespace s2d
