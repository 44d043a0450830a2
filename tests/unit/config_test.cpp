#include "s2d/model/config.h"

#include <gtest/gtest.h>

#include "s2d/model/weight_names.h"
#include "s2d/util/error.h"
#include "test_util.h"

namespace s2d {

namespace {
nlohmann::json base() {
  return {{"architectures", {"LlamaForCausalLM"}},
          {"vocab_size", 100},
          {"hidden_size", 32},
          {"intermediate_size", 64},
          {"num_hidden_layers", 2},
          {"num_attention_heads", 4},
          {"num_key_value_heads", 2},
          {"rms_norm_eps", 1e-5},
          {"max_position_embeddings", 128}};
}
}  // namespace

TEST(ModelConfig, ReadsV4Keys) {
  auto j = base();
  j["rope_theta"] = 1e6;
  j["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
  auto c = parse_model_config(j);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_DOUBLE_EQ(c.rope_theta, 1e6);
  EXPECT_EQ(c.rope_scaling.type, "linear");
  EXPECT_DOUBLE_EQ(c.rope_scaling.factor, 2.0);
  EXPECT_FALSE(c.tie_word_embeddings);
}

TEST(ModelConfig, ReadsTransformersV5RopeParameters) {
  auto j = base();
  j["rope_parameters"] = {{"rope_type", "llama3"},   {"rope_theta", 500000.0},
                          {"factor", 8.0},           {"low_freq_factor", 1.0},
                          {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8192}};
  auto c = parse_model_config(j);
  EXPECT_DOUBLE_EQ(c.rope_theta, 500000.0);
  EXPECT_EQ(c.rope_scaling.type, "llama3");
  // Round trip through the v4 form keeps the meaning.
  auto again = parse_model_config(model_config_to_json(c));
  EXPECT_DOUBLE_EQ(again.rope_theta, 500000.0);
  EXPECT_EQ(again.rope_scaling.type, "llama3");
  EXPECT_DOUBLE_EQ(again.rope_scaling.factor, 8.0);
}

TEST(ModelConfig, UnsupportedSettingsAreNamed) {
  using s2d::ErrorKind;
  auto j = base();
  j["architectures"] = {"GPT2LMHeadModel"};
  EXPECT_S2D_ERROR(parse_model_config(j), ErrorKind::Input, "'architectures'", "GPT2LMHeadModel");
  j = base();
  j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  EXPECT_S2D_ERROR(parse_model_config(j), ErrorKind::Input, "rope_scaling.rope_type", "yarn");
  j = base();
  j["num_key_value_heads"] = 3;
  EXPECT_S2D_ERROR(parse_model_config(j), ErrorKind::Input, "num_key_value_heads");
  j = base();
  j["architectures"] = {"MistralForCausalLM"};
  j["attention_bias"] = true;
  EXPECT_S2D_ERROR(parse_model_config(j), ErrorKind::Input, "attention_bias");
  j = base();
  j["mlp_bias"] = true;
  EXPECT_S2D_ERROR(parse_model_config(j), ErrorKind::Input, "mlp_bias");
  j = base();
  j.erase("hidden_size");
  EXPECT_S2D_ERROR(parse_model_config(j), ErrorKind::Input, "'hidden_size'", "missing key");
}

TEST(ModelConfig, MistralAndTiedEmbeddings) {
  auto j = base();
  j["architectures"] = {"MistralForCausalLM"};
  j["sliding_window"] = 64;
  j["tie_word_embeddings"] = true;
  auto c = parse_model_config(j);
  EXPECT_EQ(c.max_context(), 64);
  auto names = expected_weight_shapes(c);
  EXPECT_FALSE(names.count("lm_head.weight"));
  EXPECT_EQ(names.at("model.layers.1.self_attn.k_proj.weight"), (std::vector<int64_t>{16, 32}));
  EXPECT_EQ(names.size(), 2u + 2u * 9u);
}

// Qwen2: q/k/v biases whatever the config says; its sliding_window only counts when switched on.
TEST(ModelConfig, Qwen2BiasesAndItsInactiveWindow) {
  auto j = base();
  j["architectures"] = {"Qwen2ForCausalLM"};
  j["sliding_window"] = 16;
  j["use_sliding_window"] = false;
  auto c = parse_model_config(j);
  EXPECT_EQ(c.model_type, "qwen2");
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_FALSE(c.o_bias);
  EXPECT_FALSE(c.sliding_window.has_value());
  auto names = expected_weight_shapes(c);
  EXPECT_EQ(names.at("model.layers.0.self_attn.k_proj.bias"), (std::vector<int64_t>{16}));
  EXPECT_FALSE(names.count("model.layers.0.self_attn.o_proj.bias"));
  EXPECT_EQ(names.size(), 3u + 2u * 12u);
  j["use_sliding_window"] = true;
  EXPECT_EQ(parse_model_config(j).max_context(), 16);
  EXPECT_EQ(parse_model_config(model_config_to_json(c)).architecture, "Qwen2ForCausalLM");
}

// Qwen3: per-head norms over head_dim (128 when the config omits it), biases with attention_bias.
TEST(ModelConfig, Qwen3HeadNormsAndHeadDim) {
  auto j = base();
  j["architectures"] = {"Qwen3ForCausalLM"};
  auto c = parse_model_config(j);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_TRUE(c.qk_norm);
  EXPECT_FALSE(c.qkv_bias);
  EXPECT_EQ(expected_weight_shapes(c).at("model.layers.1.self_attn.q_norm.weight"), (std::vector<int64_t>{128}));
  j["head_dim"] = 24;
  j["attention_bias"] = true;
  c = parse_model_config(j);
  EXPECT_TRUE(c.qkv_bias && c.o_bias);
  auto names = expected_weight_shapes(c);
  EXPECT_EQ(names.at("model.layers.0.self_attn.o_proj.weight"), (std::vector<int64_t>{32, 4 * 24}));
  EXPECT_EQ(names.at("model.layers.0.self_attn.o_proj.bias"), (std::vector<int64_t>{32}));
  int64_t total = 0;
  for (const auto& [name, shape] : names) {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    total += n;
  }
  EXPECT_EQ(c.num_parameters(), total);
}

}  // namespace s2d
