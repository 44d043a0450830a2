#pragma once

// Rotary position embedding's tables: the frequencies, and cos and sin per position, computed as
// HF's LlamaRotaryEmbedding does so that they agree bit for bit.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <utility>

#include "s2d/model/config.h"

namespace s2d {

// RoPE inverse frequencies [D/2] in fp32, as HF computes them (default, linear, llama3).
at::Tensor rope_inv_freq(const ModelConfig& c, const c10::Device& device);

// cos and sin [..., D] in `dtype` for integer positions [...]: angles in fp32 (position times
// inv_freq, the D/2 angles twice over), then cast, as HF does.
std::pair<at::Tensor, at::Tensor> rope_cos_sin(const at::Tensor& positions, const at::Tensor& inv_freq,
                                               c10::ScalarType dtype);

// cos and sin for every position in [0, length), [length, D] each: what a KV cache keeps, so that a
// decode step gathers its rows (two kernels) where computing them takes up to seven, and a captured step
// reads fixed memory. Each row has the bits rope_cos_sin gives for that position alone.
// Bytes a RopeTable takes per position in `dtype`, with what making it holds for a while (the
// positions, fp32 angles and an fp32 row of cos or sin): what a KV cache's memory check adds.
uint64_t rope_table_bytes_per_position(const ModelConfig& c, c10::ScalarType dtype);

struct RopeTable {
  RopeTable() = default;
  RopeTable(const ModelConfig& c, int64_t length, const at::TensorOptions& opts);
  // The rows for positions [...] (each in [0, length)): cos and sin [..., D].
  std::pair<at::Tensor, at::Tensor> rows(const at::Tensor& positions) const;
  at::Tensor cos, sin;  // [length, D]
};

}  // namespace s2d
