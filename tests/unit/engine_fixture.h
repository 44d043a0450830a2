// The tiny model, requests and runs that the engine tests share.
#pragma once

#include <vector>

#include "model_fixture.h"
#include "s2d/engine/generator.h"
#include "sp_fixture.h"

namespace s2d::testing {

inline const LlamaModel& tiny_lm() {  // vocab = the fixture tokenizer's 400 pieces
  static LlamaModel m = random_model(tiny_config(400, 256), 11);
  return m;
}

// CUDA where the machine has it (scripts/gpu/run_all.sh runs these tests there), else the CPU.
inline c10::Device test_device() { return at::hasCUDA() ? c10::Device(at::kCUDA) : c10::Device(at::kCPU); }

// tiny_lm's weights on test_device().
inline const LlamaModel& tiny_lm_on_test_device() {
  if (!test_device().is_cuda()) return tiny_lm();
  static LlamaModel m = random_model(tiny_config(400, 256), 11, test_device());
  return m;
}

inline GenRequest req(std::vector<int> prompt, int64_t max_new, double temperature = 0.0, uint64_t seed = 0,
                      std::vector<int> samples = {0}) {
  GenRequest r;
  r.prompt_ids = std::move(prompt);
  r.sampling.max_new_tokens = max_new;
  r.sampling.temperature = temperature;
  r.sampling.seed = seed;
  r.sampling.ignore_eos = true;
  r.samples = std::move(samples);
  return r;
}

// Every request through a Generator of `batch` slots; results by request index.
inline std::vector<GenResult> run(const std::vector<GenRequest>& reqs, int64_t batch,
                                  EngineOptions::Sampler sampler = EngineOptions::Sampler::Auto,
                                  const LlamaModel& model = tiny_lm()) {
  Generator g(model, tiny_tokenizer(), {.batch_size = batch, .sampler = sampler});
  std::vector<GenResult> out(reqs.size());
  g.run(reqs, [&](GenResult&& r) { out[r.index] = std::move(r); });
  return out;
}

// Chi-square statistic of `counts` against probabilities `p` over n draws.
inline double chi_square(const std::vector<int64_t>& counts, const std::vector<double>& p, int64_t n) {
  double chi = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == 0) continue;
    const double e = p[i] * static_cast<double>(n);
    chi += (static_cast<double>(counts[i]) - e) * (static_cast<double>(counts[i]) - e) / e;
  }
  return chi;
}

}  // namespace s2d::testing
