// Sampling from logits: an explicit function of (logits, params, generator), so tests can check
// the distribution it draws from. Temperature, then top-k, then top-p (nucleus), then a draw.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <vector>

#include "s2d/engine/backend.h"

namespace s2d {

// The distribution a row is drawn from: probs [V] fp32 (zero outside top-k / the nucleus).
// logits: [V], any dtype/device. Not for temperature 0 (greedy has no distribution).
at::Tensor sampling_distribution(const at::Tensor& logits, const SamplingParams& p);

// One token per row. logits [B, V]; params[b] and gens[b] belong to row b. Greedy rows take the
// argmax; the others draw from sampling_distribution with their own CPU generator (rows with
// generators of their own in parallel: a row's token depends on its logits and generator only).
std::vector<int64_t> sample_tokens(const at::Tensor& logits, const std::vector<const SamplingParams*>& params,
                                   const std::vector<at::Generator*>& gens);

at::Generator make_cpu_generator(uint64_t seed);

// What `at::empty({V}, at::kFloat).exponential_(1.0, gen)` would hold at `ids` ([n] int64, in
// [0, V)), as fp32 [n], leaving gen where that call leaves it. That call makes V
// draws, each from one random64() of gen's mt19937 (two 32-bit outputs) through ATen's uniform
// and exponential transforms; here the generator is stepped V times but only the n draws asked
// for are transformed, which spares a top-p row the V logarithms (1.1 ms of a 49,152-token row).
// gen: a CPU generator (make_cpu_generator).
at::Tensor exponential_draws_at(at::Generator& gen, int64_t V, const at::Tensor& ids);

// Whether top-k or top-p cuts anything from a V-token distribution (both samplers ask).
inline bool cuts_top_k(const SamplingParams& p, int64_t V) { return p.top_k > 0 && p.top_k < V; }
inline bool cuts_top_p(const SamplingParams& p) { return p.top_p < 1.0; }

}  // namespace s2d
