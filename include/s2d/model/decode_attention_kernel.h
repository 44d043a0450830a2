// One decode step's attention on the CPU in fp32: each cache slot's single new query against the
// keys and values it has cached, over the filled columns only (SDPA, given a mask over the slot
// width, takes its math path there: one small GEMV per slot and head, and GQA's repeated keys
// copied every layer).
//
// Torch-free, like few_row_matmul.h; the vector code sits in the same per-ISA translation units.
#pragma once

#include <cstdint>

#include "s2d/model/few_row_matmul.h"

namespace s2d::few_rows {

// Query heads the vector code needs D to be a multiple of: 16 floats (AVX-512), 8 (AVX2), 1.
int64_t head_dim_multiple(Simd s);

// For the items i in [i0, i1) of B * NH (slot b = i / NH, query head h = i % NH, which reads
// key/value head g = h / (NH / KV)):
//   out[b, h, :] = sum_{s <= last[b]} softmax_s(scale * q[b, h, :] . k[b, g, s, :]) * v[b, g, s, :]
// q and out [B, NH, D]; k and v [B, KV, C, D] (a KV cache of capacity C), all contiguous;
// last[b] < C; D a multiple of head_dim_multiple(s). scratch: max(last) + 1 floats for this call.
void decode_attention(Simd s, const float* q, const float* k, const float* v, const int64_t* last, int64_t NH,
                      int64_t KV, int64_t C, int64_t D, float scale, int64_t i0, int64_t i1, float* out,
                      float* scratch);

}  // namespace s2d::few_rows
