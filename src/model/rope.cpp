#include "s2d/model/rope.h"

#include <ATen/ATen.h>

#include <cmath>
#include <tuple>

namespace s2d {

at::Tensor rope_inv_freq(const ModelConfig& c, const c10::Device& device) {
  const int64_t D = c.head_dim;
  // Same op order as HF's _compute_default_rope_parameters, so fp32 values agree bit for bit.
  at::Tensor exponent = at::arange(0, D, 2, at::TensorOptions().dtype(at::kLong).device(device)).to(at::kFloat) / D;
  at::Tensor inv_freq = 1.0 / at::pow(c.rope_theta, exponent);
  const auto& rs = c.rope_scaling;
  if (rs.type == "linear") {
    inv_freq = inv_freq / rs.factor;
  } else if (rs.type == "llama3") {
    const double old_len = static_cast<double>(rs.original_max_position_embeddings);
    const double low_wavelen = old_len / rs.low_freq_factor;
    const double high_wavelen = old_len / rs.high_freq_factor;
    at::Tensor wavelen = 2 * M_PI / inv_freq;
    at::Tensor scaled = at::where(wavelen > low_wavelen, inv_freq / rs.factor, inv_freq);
    at::Tensor smooth = (old_len / wavelen - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor);
    at::Tensor smoothed = (1 - smooth) * scaled / rs.factor + smooth * scaled;
    at::Tensor medium = at::logical_not(wavelen < high_wavelen) & at::logical_not(wavelen > low_wavelen);
    inv_freq = at::where(medium, smoothed, scaled);
  }
  return inv_freq;
}

std::pair<at::Tensor, at::Tensor> rope_cos_sin(const at::Tensor& positions, const at::Tensor& inv_freq,
                                               c10::ScalarType dtype) {
  // HF multiplies inv_freq [D/2, 1] by positions [1, T] as a matmul over one term: one product
  // each, the same as this broadcast.
  const at::Tensor freqs = positions.to(at::kFloat).unsqueeze(-1) * inv_freq;  // [..., D/2]
  const at::Tensor emb = at::cat({freqs, freqs}, -1);                          // [..., D]
  return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

uint64_t rope_table_bytes_per_position(const ModelConfig& c, c10::ScalarType dtype) {
  const auto D = static_cast<uint64_t>(c.head_dim);
  // cos and sin [D] each in dtype; an int64 position; angles [D/2] and [D], and a row [D], in fp32.
  return 2 * D * c10::elementSize(dtype) + sizeof(int64_t) + (D / 2 + 2 * D) * sizeof(float);
}

RopeTable::RopeTable(const ModelConfig& c, int64_t length, const at::TensorOptions& opts) {
  const at::Tensor positions = at::arange(length, at::TensorOptions().dtype(at::kLong).device(opts.device()));
  std::tie(cos, sin) = rope_cos_sin(positions, rope_inv_freq(c, opts.device()), opts.dtype().toScalarType());
}

std::pair<at::Tensor, at::Tensor> RopeTable::rows(const at::Tensor& positions) const {
  const at::Tensor flat = positions.reshape(-1);
  auto shape = positions.sizes().vec();
  shape.push_back(cos.size(1));
  return {cos.index_select(0, flat).view(shape), sin.index_select(0, flat).view(shape)};
}

}  // namespace s2d
