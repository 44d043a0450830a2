// How large a decode run's KV cache is, and how far it may grow: pure arithmetic over the model's
// shape and a memory budget, kept apart from the run so that it can be tested on its own.
#pragma once

#include <c10/core/ScalarType.h>

#include <cstdint>

#include "s2d/model/config.h"

namespace s2d {

// A run's slots: `wanted`, or, where `wanted` slots of `capacity` columns (and RoPE's table)
// would not fit in `have` bytes, as many as half of it holds, at least one: a --batch-size too
// large for the memory runs fewer samples at once instead of failing every run (one slot that does
// not fit is KVCache's error). Logs the cut once per process.
int64_t slots_that_fit(int64_t wanted, int64_t capacity, const ModelConfig& cfg, c10::ScalarType dtype, uint64_t have);

// The most columns a cache of `slots` slots may grow to for joining requests: the model's context,
// as long as a cache that wide takes at most a quarter of `free` (growing holds the old cache and
// the new one at once). Where free memory cannot be told (uint64 max), `capacity`: a failed growth
// would fail the whole run.
int64_t columns_growth_limit(const ModelConfig& cfg, int64_t slots, int64_t capacity, c10::ScalarType dtype,
                             uint64_t free);

// The slots a run of `slots` slots, `needed` of them wanted now (the busy ones and the samples
// waiting for one), grows to: twice as many (so that a stream of arrivals regrows rarely) or
// `needed` where more, at most `most`, and no more than fit in `free` bytes beside the cache of
// `slots` slots, which the copy holds at the same time (`free` counts from before the run's cache
// was made; uint64 max: unknown, no limit). `slots` where it cannot grow.
int64_t slots_to_grow_to(int64_t slots, int64_t needed, int64_t most, int64_t capacity, const ModelConfig& cfg,
                         c10::ScalarType dtype, uint64_t free);

}  // namespace s2d
