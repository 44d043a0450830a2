// Shared by the benchmark drivers: flags, and random models made straight on the device.
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <string>

#include "s2d/model/config.h"
#include "s2d/model/llama.h"
#include "s2d/model/weight_names.h"

namespace s2d::bench {

inline std::string arg(int argc, char** argv, const std::string& name, const std::string& dflt = "") {
  for (int i = 1; i + 1 < argc; ++i)
    if (argv[i] == name) return argv[i + 1];
  return dflt;
}

// Random weights (N(0, 0.02), norms 1) from a config.json, made on `dev` in `dt`: a 7B shape
// needs no 13 GB checkpoint.
inline std::shared_ptr<LlamaModel> random_model(const std::string& config_path, c10::Device dev, c10::ScalarType dt) {
  ModelConfig c = load_model_config(config_path);
  at::manual_seed(0);
  const auto shapes = expected_weight_shapes(c);
  LlamaWeights w;
  for_each_weight(c, w, [&](const std::string& name, at::Tensor& t) {
    t = (at::randn(shapes.at(name), at::TensorOptions().device(dev).dtype(at::kFloat)) * 0.02).to(dt);
    if (name.find("norm") != std::string::npos) t.fill_(1.0);
  });
  return std::make_shared<LlamaModel>(c, std::move(w));
}

}  // namespace s2d::bench
