// Sampling from logits: an explicit function of (logits, params, generator), so tests can check
// the distribution it draws from. Temperature, then top-k, then top-p (nucleus), then a draw.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <memory>
#include <vector>

#include "s2d/engine/backend.h"

namespace s2d {

// The distribution a row is drawn from: probs [V] fp32 (zero outside top-k / the nucleus).
// logits: [V], any dtype/device. Not for temperature 0 (greedy has no distribution).
at::Tensor sampling_distribution(const at::Tensor& logits, const SamplingParams& p);

// The host buffers a draw works in, [2, S, V] fp32 for S drawing rows, kept from call to call by a
// decode loop: fresh ones cost a page fault every 4 KiB each step.
class SamplingScratch {
 public:
  float* rows(int64_t S, int64_t V);  // at least 2 * S * V floats, not initialised

 private:
  std::unique_ptr<float[]> buffer_;
  size_t size_ = 0;
};

// One token per row. logits [B, V]; params[b] and gens[b] belong to row b. Greedy rows take the
// argmax; the others draw from sampling_distribution with their own CPU generator (rows with
// generators of their own in parallel: a row's token depends on its logits and generator only).
std::vector<int64_t> sample_tokens(const at::Tensor& logits, const std::vector<const SamplingParams*>& params,
                                   const std::vector<at::Generator*>& gens, SamplingScratch* scratch = nullptr);

at::Generator make_cpu_generator(uint64_t seed);

// Whether top-k or top-p cuts anything from a V-token distribution (both samplers ask).
inline bool cuts_top_k(const SamplingParams& p, int64_t V) { return p.top_k > 0 && p.top_k < V; }
inline bool cuts_top_p(const SamplingParams& p) { return p.top_p < 1.0; }

}  // namespace s2d
