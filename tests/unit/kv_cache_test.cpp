// The KV cache: its memory check before allocating, and a CPU cache's pages taken only where
// written.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "engine_fixture.h"
#include "s2d/model/kv_cache.h"
#include "s2d/util/error.h"
#include "test_util.h"

namespace s2d {
using namespace s2d::testing;

TEST(KVCache, ASizeBeyondMemoryIsAnInputErrorNotAnAllocation) {
  ModelConfig c = tiny_lm().config();
  c.max_position_embeddings = kMaxPositions;
  const auto opts = at::TensorOptions().dtype(at::kFloat);
  EXPECT_S2D_ERROR(KVCache(c, 1 << 20, kMaxPositions, opts), ErrorKind::Input, "KV cache does not fit in memory", "GB");
  EXPECT_NO_THROW(KVCache(c, 2, 16, opts));
}

TEST(KVCache, TheRopeTableCountsInTheMemoryCheck) {
  // With no layers the keys and values take nothing, and RoPE's table is all the cache allocates.
  ModelConfig c = tiny_lm().config();
  c.num_hidden_layers = 0;
  EXPECT_S2D_ERROR(KVCache(c, 1, int64_t{1} << 40, at::TensorOptions().dtype(at::kFloat)), ErrorKind::Input,
                   "KV cache does not fit in memory");
}

// A CPU cache holds zeros, but takes memory only for the pages its slots write: a cache sized for
// the longest request costs what the requests fill (here 128 MiB of keys and values, of which one
// slot's first column is written).
TEST(KVCache, ACpuCacheIsZerosThatTakeMemoryOnlyWhereWritten) {
  ModelConfig c = tiny_lm().config();  // 2 layers
  c.max_position_embeddings = 1 << 16;
  const int64_t slots = 32, columns = int64_t{1} << 14;
  const int64_t before = resident_bytes();
  KVCache cache(c, slots, columns, at::TensorOptions().dtype(at::kFloat));
  const int64_t layer_bytes = cache.k[0].numel() * 4, total = 2 * c.num_hidden_layers * layer_bytes;
  ASSERT_GE(total, int64_t{128} << 20);
  EXPECT_LT(resident_bytes() - before, total / 16) << "the cache was written when it was made";
  for (const at::Tensor& t : cache.k) {
    EXPECT_TRUE(t.is_contiguous());
    t.select(0, 3).select(1, 0).fill_(1.5);  // slot 3, column 0 of every head
    EXPECT_EQ(t.sum().item<double>(), 1.5 * static_cast<double>(t.size(1) * t.size(3)));
  }
  for (const at::Tensor& t : cache.v) EXPECT_EQ(t.abs().max().item<float>(), 0.0f);
}

}  // namespace s2d
