// ModelConfig: the subset of a Hugging Face config.json that a Llama-family decoder needs.
// Architectures: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM (q/k/v biases) and
// Qwen3ForCausalLM (per-head q_norm/k_norm, an explicit head_dim), each tied or untied.
// Reads both the transformers v4 keys (rope_theta, rope_scaling) and the v5 key (rope_parameters).
// Anything s2d cannot run faithfully (another architecture, MLP biases, another activation, an
// unknown RoPE scaling) is an InputError naming the key, never a silent approximation.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace s2d {

struct RopeScaling {
  std::string type = "default";  // default | linear | llama3
  double factor = 1.0;
  // llama3 only
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
};

// The longest context a config may declare (16M positions, beyond any released model): a larger
// one is a typo or an attack, and would size RoPE tables and caches from it.
inline constexpr int64_t kMaxPositions = int64_t{1} << 24;

struct ModelConfig {
  std::string architecture = "LlamaForCausalLM";  // or Mistral-, Qwen2-, Qwen3ForCausalLM
  std::string model_type = "llama";
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;  // defaults to hidden_size / num_attention_heads
  int64_t max_position_embeddings = 2048;
  std::optional<int64_t> sliding_window;  // Mistral; sequences longer than this are refused
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  // What the architecture adds to Llama's attention. Qwen2: q/k/v biases. Qwen3 and Llama with
  // attention_bias: biases on q/k/v and o. Qwen3: RMSNorm over each head of q and k before RoPE.
  bool qkv_bias = false;
  bool o_bias = false;
  bool qk_norm = false;
  std::optional<int64_t> bos_token_id, eos_token_id, pad_token_id;
  std::string dtype;   // torch_dtype / dtype as saved ("bfloat16", ...), informational
  nlohmann::json raw;  // the file as read; saving starts from it so unknown keys survive

  // Longest sequence the model may attend over.
  int64_t max_context() const;
  int64_t num_parameters() const;
};

// The HF class for a config.json that names only its model_type ("qwen2" -> Qwen2ForCausalLM).
std::string architecture_for_model_type(const std::string& model_type);

ModelConfig parse_model_config(const nlohmann::json& j, const std::string& file = "config.json");
ModelConfig load_model_config(const std::string& path);
// The HF config.json form (v4 keys, which transformers v5, vLLM and llama.cpp all read).
nlohmann::json model_config_to_json(const ModelConfig& c);

}  // namespace s2d
