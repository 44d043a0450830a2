#include "s2d/engine/backend.h"

#include <cmath>

#include "s2d/util/error.h"
#include "s2d/util/strings.h"

namespace s2d {

void validate_sampling(const SamplingParams& p) {
  if (!(p.temperature >= 0.0 && std::isfinite(p.temperature))) {  // inf would sample uniformly over the vocabulary
    throw_input("temperature must be >= 0", {.field = "--temperature",
                                             .expected = "a finite number >= 0 (0 = greedy)",
                                             .found = std::to_string(p.temperature)});
  }
  if (!(p.top_p > 0.0 && p.top_p <= 1.0)) {
    throw_input("top_p out of range", {.field = "--top-p", .expected = "in (0, 1]", .found = std::to_string(p.top_p)});
  }
  if (p.top_k < 0)
    throw_input("top_k must be >= 0",
                {.field = "--top-k", .expected = ">= 0 (0 = off)", .found = std::to_string(p.top_k)});
  if (p.max_new_tokens < 1) {
    throw_input("max_new_tokens must be >= 1",
                {.field = "--max-new-tokens", .expected = ">= 1", .found = std::to_string(p.max_new_tokens)});
  }
  for (const auto& s : p.stop)
    if (s.empty()) throw_input("empty stop string", {.field = "--stop", .expected = "non-empty strings"});
}

void Backend::complete_open(const std::vector<CompletionRequest>& requests,
                            const std::function<void(CompletionResult&&)>& on_result, const Intake& more) {
  complete(requests, on_result);
  if (!more) return;
  for (auto extra = more(); !extra.empty(); extra = more()) complete(extra, on_result);
}

uint64_t task_seed(uint64_t run_seed, const std::string& id) { return sample_seed(run_seed ^ fnv1a(id), -1); }

uint64_t sample_seed(uint64_t request_seed, int index) {
  auto mix = [](uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  return mix(request_seed ^ mix(static_cast<uint64_t>(index) + 1));
}

}  // namespace s2d
