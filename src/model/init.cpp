#include "s2d/model/init.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "s2d/model/weight_names.h"

namespace s2d {

LlamaModel init_random_model(const ModelConfig& c, uint64_t seed, double initializer_range) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto shapes = expected_weight_shapes(c);
  LlamaWeights w;
  // for_each_weight visits tensors in a fixed order, so the draws are reproducible.
  for_each_weight(c, w, [&](const std::string& name, at::Tensor& t) {
    const auto& shape = shapes.at(name);
    if (name.find("norm") != std::string::npos) {
      t = at::ones(shape);
    } else {
      t = at::empty(shape).normal_(0.0, initializer_range, gen);
    }
  });
  return LlamaModel(c, std::move(w));
}

}  // namespace s2d
