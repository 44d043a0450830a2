#include "s2d/model/kv_cache.h"

#include <ATen/ATen.h>

#include <sys/mman.h>

#include <cstdio>
#include <limits>

#include "s2d/model/device.h"
#include "s2d/util/error.h"
#include "s2d/util/strings.h"

namespace s2d {

namespace {

// Zeros. On the CPU, where a layer's keys or values take a megabyte or more, in pages that the
// kernel maps, zeroed, when they are first touched (an anonymous mapping, unmapped when the tensor
// dies): a cache sized for the longest request then holds memory for the columns its slots fill
// (at::zeros writes every page up front). rar2 on SmolLM2 peaked 17% lower
// (docs/benchmarks.md).
at::Tensor zeros_on_first_touch(at::IntArrayRef sizes, const at::TensorOptions& opts) {
  const size_t bytes = static_cast<size_t>(c10::multiply_integers(sizes)) * opts.dtype().itemsize();
  if (!opts.device().is_cpu() || bytes < (size_t{1} << 20)) return at::zeros(sizes, opts);
  void* pages = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (pages == MAP_FAILED) return at::zeros(sizes, opts);  // the allocator's own error, if any
  return at::from_blob(pages, sizes, [bytes](void* p) { munmap(p, bytes); }, opts);
}

}  // namespace

uint64_t kv_bytes_per_token(const ModelConfig& c, c10::ScalarType dtype) {
  return 2 * static_cast<uint64_t>(c.num_hidden_layers) * static_cast<uint64_t>(c.num_key_value_heads) *
         static_cast<uint64_t>(c.head_dim) * c10::elementSize(dtype);
}

long double kv_cache_bytes_per_column(const ModelConfig& c, int64_t batch, c10::ScalarType dtype) {
  // The table's row is as large as one layer's keys and values for one head and slot.
  return static_cast<long double>(batch) * static_cast<long double>(kv_bytes_per_token(c, dtype)) +
         static_cast<long double>(rope_table_bytes_per_position(c, dtype));
}

int64_t kv_cache_columns_within(const ModelConfig& c, int64_t batch, c10::ScalarType dtype, long double bytes) {
  // At least RoPE's row's few bytes a column, so never a division by zero.
  const long double fit = bytes / kv_cache_bytes_per_column(c, batch, dtype);
  const int64_t context = c.max_context();
  return fit >= static_cast<long double>(context) ? context : static_cast<int64_t>(fit);
}

KVCache::KVCache(const ModelConfig& c, int64_t batch, int64_t max_len, const at::TensorOptions& opts)
    : capacity(max_len) {
  const long double want =
      static_cast<long double>(max_len) * kv_cache_bytes_per_column(c, batch, opts.dtype().toScalarType());
  // On a GPU the free-memory query is a driver call; caches under 1 GiB (a prefill group's, every
  // few steps) skip it and meet the allocator's own out-of-memory error in the rare case.
  const bool check = opts.device().is_cpu() || want >= static_cast<long double>(1ULL << 30);
  const uint64_t have = check ? allocatable_bytes(opts.device()) : std::numeric_limits<uint64_t>::max();
  if (want > static_cast<long double>(have)) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "%.3g GB for %lld slots x %lld tokens", static_cast<double>(want / 1e9),
                  static_cast<long long>(batch), static_cast<long long>(max_len));
    throw_input("the KV cache does not fit in memory",
                {.field = "max tokens",
                 .expected = "at most " + format_number("%.3g", have / 1e9) + " GB (available now)",
                 .found = buf,
                 .hint = "ask for fewer new tokens, a shorter prompt or a smaller --batch-size"});
  }
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    k.push_back(zeros_on_first_touch({batch, c.num_key_value_heads, max_len, c.head_dim}, opts));
    v.push_back(zeros_on_first_touch({batch, c.num_key_value_heads, max_len, c.head_dim}, opts));
  }
  rope = RopeTable(c, max_len, opts);
}

}  // namespace s2d
