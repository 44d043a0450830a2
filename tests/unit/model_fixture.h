// Random small Llama models for tests that need a model but no reference.
#pragma once

#include <ATen/ATen.h>

#include "s2d/model/llama.h"
#include "s2d/model/weight_names.h"

namespace s2d::testing {

inline ModelConfig tiny_config(int64_t vocab = 50, int64_t max_pos = 64) {
  return parse_model_config({{"vocab_size", vocab},
                             {"hidden_size", 32},
                             {"intermediate_size", 48},
                             {"num_hidden_layers", 2},
                             {"num_attention_heads", 4},
                             {"num_key_value_heads", 2},
                             {"max_position_embeddings", max_pos}});
}

// Weights ~ N(0, 0.3^2): large enough that greedy choices have clear margins. Drawn on the CPU in
// fp32, so a seed gives the same weights on every device (then rounded to `dtype`).
inline LlamaWeights random_weights(const ModelConfig& c, uint64_t seed = 0, const c10::Device& device = at::kCPU,
                                   at::ScalarType dtype = at::kFloat) {
  at::manual_seed(seed);
  const auto shapes = expected_weight_shapes(c);
  LlamaWeights w;
  for_each_weight(
      c, w, [&](const std::string& name, at::Tensor& t) { t = (at::randn(shapes.at(name)) * 0.3).to(device, dtype); });
  return w;
}

inline LlamaModel random_model(const ModelConfig& c, uint64_t seed = 0, const c10::Device& device = at::kCPU,
                               at::ScalarType dtype = at::kFloat) {
  return LlamaModel(c, random_weights(c, seed, device, dtype));
}

}  // namespace s2d::testing
