// The decode KV cache and the arithmetic of its size.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "s2d/model/config.h"
#include "s2d/model/rope.h"

namespace s2d {

// Bytes one cached token takes over all layers (K and V) in `dtype`.
uint64_t kv_bytes_per_token(const ModelConfig& c, c10::ScalarType dtype);
// Bytes a KVCache of `batch` slots takes per column in `dtype`: every slot's keys and values, and
// the column's row of RoPE's table. In long double, since a hostile size can pass 2^64.
long double kv_cache_bytes_per_column(const ModelConfig& c, int64_t batch, c10::ScalarType dtype);
// The most columns such a cache can have within `bytes`, at most the model's context.
int64_t kv_cache_columns_within(const ModelConfig& c, int64_t batch, c10::ScalarType dtype, long double bytes);

// Preallocated keys and values: [B, KV, S_max, D] per layer. Column j holds the token at
// absolute column j of every row; rows are left-padded, so columns line up across the batch.
struct KVCache {
  // k[l], v[l]: [batch, kv_heads, max_len, head_dim]. InputError, before allocating, when that
  // does not fit the memory `opts.device()` has (a request or config can ask for any size).
  KVCache(const ModelConfig& c, int64_t batch, int64_t max_len, const at::TensorOptions& opts);
  std::vector<at::Tensor> k, v;
  int64_t length = 0;    // columns filled so far
  int64_t capacity = 0;  // S_max
  RopeTable rope;        // cos and sin for positions [0, S_max), in the cache's dtype
};

}  // namespace s2d
