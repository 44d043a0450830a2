// Sampling that stays on the logits' device: no host copy of the logits, no `.item()`, and shapes
// fixed by the batch, so a decode step can sample without waiting for the GPU (and can later be
// captured in a CUDA graph with the step).
//
// Each row draws one uniform u from a counter-based stream, u = stream_uniform(key, draw): a hash
// of the sample's key (sample_seed) and the draw's index in it, computed with integer tensor ops
// on the device. No generator object holds state, so a sample's tokens depend only on its key, its
// logits and how many tokens it has drawn: not on the batch around it or on the device (the hash
// is exact integer arithmetic everywhere). The token is the inverse CDF at u over the row's
// allowed tokens:
//   * plain rows (no top-k, no top-p): over softmax(l / T) in token order;
//   * cut rows: over the tokens sorted by descending probability (a stable sort, so ties keep token
//     order), keeping the first top_k, then the smallest prefix whose mass reaches top_p
//     (renormalised after top-k, as the host sampler does); the first token always stays.
// Greedy rows take the argmax of the raw logits. The draws differ from the host sampler's
// (sampling.h: an exponential race from a CPU generator); the distributions are the same, except
// that top-k here keeps exactly k tokens where the host sampler also keeps ties with the k-th.
// With the fused CUDA kernels on (S2D_CUDA_FUSED=1), cut rows skip the sort: the selection kernel
// of cut_sampling.h finds the same cut and draws in token order over fixed-point masses (the same
// distribution, other tokens for the same u).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "s2d/engine/backend.h"

namespace s2d {

// Which of the sampler's paths a batch needs, known on the host so that no branch waits for the
// device (and, for CUDA graphs, which graph a batch replays).
struct SamplingPaths {
  bool any_greedy = false, any_plain = false, any_cut = false;
  int index() const { return (any_greedy ? 1 : 0) | (any_plain ? 2 : 0) | (any_cut ? 4 : 0); }  // 0..7
};

// What each row of a batch draws with, as [B] tensors on the logits' device.
struct DeviceSamplingRows {
  at::Tensor inv_temperature;  // fp32, 1 / T (1 on greedy rows)
  at::Tensor greedy;           // bool: temperature 0
  at::Tensor cut;              // bool: top-k or top-p cuts the row
  at::Tensor top_k;            // int64, V where top-k is off
  at::Tensor top_p;            // fp32, 2 where top-p is off (no float cumsum can reach it)
  at::Tensor key, draw;        // int64: the sample's stream and the draw's index in it
  SamplingPaths paths;
};

// The same fields packed on the host, for one upload each (or a copy into fixed buffers, where a
// CUDA graph reads them): floats [2, B] = (1 / T, top_p), ints [5, B] = (top_k, key, draw, greedy,
// cut), row-major.
struct HostSamplingRows {
  std::vector<float> floats;
  std::vector<int64_t> ints;
  SamplingPaths paths;
};
HostSamplingRows pack_sampling_rows(const std::vector<const SamplingParams*>& params, const std::vector<uint64_t>& keys,
                                    const std::vector<int64_t>& draws, int64_t V);
// Views of packed rows already on the device: floats [2, B] fp32, ints [5, B] int64.
DeviceSamplingRows sampling_rows_on_device(const at::Tensor& floats, const at::Tensor& ints,
                                           const SamplingPaths& paths);

// The rows for params[b] drawing from stream keys[b] at index draws[b]; V is the vocabulary.
DeviceSamplingRows device_sampling_rows(const std::vector<const SamplingParams*>& params,
                                        const std::vector<uint64_t>& keys, const std::vector<int64_t>& draws, int64_t V,
                                        const c10::Device& device);

// One token per row: logits [B, V] (any float dtype) -> [B] int64 on the same device.
at::Tensor sample_on_device(const at::Tensor& logits, const DeviceSamplingRows& rows);

// u in (0, 1), fp32 with 23 random bits, for each (key, draw): key and draw [B] int64 -> [B].
at::Tensor stream_uniform(const at::Tensor& key, const at::Tensor& draw);

}  // namespace s2d
