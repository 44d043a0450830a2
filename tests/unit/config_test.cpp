#include "s2d/model/config.h"

#include <gtest/gtest.h>

#include "s2d/model/weight_names.h"
#include "s2d/util/error.h"
#include "test_util.h"

namespace s2d {

namespace {
nlohmann::json base() {
  return {{"architectures", {"LlamaForCausalLM"}}, {"vocab_size", 100}, {"hidden_size", 32},
          {"intermediate_size", 64}, {"num_hidden_layers", 2}, {"num_attention_heads", 4},
          {"num_key_value_heads", 2}, {"rms_norm_eps", 1e-5}, {"max_position_embeddings", 128}};
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
  j["rope_parameters"] = {{"rope_type", "llama3"}, {"rope_theta", 500000.0}, {"factor", 8.0},
                          {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0},
                          {"original_max_position_embeddings", 8192}};
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
  j["attention_bias"] = true;
  EXPECT_S2D_ERROR(parse_model_config(j), ErrorKind::Input, "attention_bias");
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

}  // namespace s2d
