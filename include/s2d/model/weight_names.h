// The tensors a Llama-family checkpoint must hold, by Hugging Face name, with their shapes.
// One list serves loading, saving, and `s2d inspect` (missing / unexpected / wrong shape).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "s2d/model/config.h"

namespace s2d {

// name -> shape, e.g. "model.layers.0.self_attn.k_proj.weight" -> {KV*D, H}
std::map<std::string, std::vector<int64_t>> expected_weight_shapes(const ModelConfig& c);

// Tensors some checkpoints carry that hold no parameters (old rotary caches): ignored on load.
bool is_ignorable_extra_tensor(const std::string& name);

// What a model directory holds against what its config needs (no torch: headers only).
struct WeightReport {
  std::vector<std::string> missing;
  std::vector<std::string> unexpected;
  std::vector<std::string> wrong_shape;          // "name: expected [..], found [..]"
  std::map<std::string, int64_t> dtype_tensors;  // "BF16" -> tensor count
  int64_t parameters = 0;                        // elements stored in the files
};
WeightReport inspect_weights(const std::string& model_dir, const ModelConfig& c);

std::string shape_str(const std::vector<int64_t>& shape);

}  // namespace s2d
