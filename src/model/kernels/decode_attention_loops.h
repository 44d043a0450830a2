// decode_attention (decode_attention_kernel.h), written once over the `Vec` traits that the
// including translation unit defines (see few_row_strips.h), which here also need sum(v), the
// horizontal sum of a vector. Internal linkage, for the reason few_row_strips.h gives.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

namespace {

// a . b over D floats, D a multiple of the lanes: lane-wise sums, then one horizontal sum.
inline float dot(const float* a, const float* b, int64_t D) {
  typename Vec::V acc = Vec::zero();
  for (int64_t d = 0; d < D; d += Vec::kLanes) acc = Vec::fma(Vec::load(a + d), Vec::load(b + d), acc);
  return Vec::sum(acc);
}

// out[0, D) += w * x[0, D)
inline void add_scaled(float w, const float* x, float* out, int64_t D) {
  const typename Vec::V wv = Vec::broadcast(w);
  for (int64_t d = 0; d < D; d += Vec::kLanes) Vec::store(out + d, Vec::fma(wv, Vec::load(x + d), Vec::load(out + d)));
}

void attend_items(const float* q, const float* k, const float* v, const int64_t* last, int64_t NH, int64_t KV,
                  int64_t C, int64_t D, float scale, int64_t i0, int64_t i1, float* out, float* scores) {
  const int64_t group = NH / KV;
  for (int64_t i = i0; i < i1; ++i) {
    const int64_t b = i / NH, h = i % NH, keys = last[b] + 1;
    const float* kh = k + (b * KV + h / group) * C * D;  // [C, D]
    const float* vh = v + (b * KV + h / group) * C * D;
    const float* qh = q + i * D;
    float* o = out + i * D;
    float top = -std::numeric_limits<float>::infinity();
    for (int64_t s = 0; s < keys; ++s) {
      scores[s] = dot(qh, kh + s * D, D) * scale;
      top = scores[s] > top ? scores[s] : top;
    }
    float total = 0;
    for (int64_t s = 0; s < keys; ++s) total += (scores[s] = std::exp(scores[s] - top));
    for (int64_t d = 0; d < D; ++d) o[d] = 0;
    for (int64_t s = 0; s < keys; ++s) add_scaled(scores[s], vh + s * D, o, D);
    const float inv = 1.0f / total;
    for (int64_t d = 0; d < D; ++d) o[d] *= inv;
  }
}

}  // namespace
