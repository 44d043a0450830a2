// A freshly initialised Llama, for models trained from scratch (the toy world): the
// initialisation transformers uses for LlamaForCausalLM (every matrix and the embedding
// ~ N(0, initializer_range^2), RMSNorm weights 1), drawn from one seeded generator so that the
// same config and seed give the same weights.
#pragma once

#include <cstdint>

#include "s2d/model/config.h"
#include "s2d/model/llama.h"

namespace s2d {

LlamaModel init_random_model(const ModelConfig& config, uint64_t seed, double initializer_range = 0.02);

}  // namespace s2d
