#include "s2d/engine/cache_sizing.h"

#include <c10/util/StringUtil.h>

#include <algorithm>
#include <limits>
#include <mutex>

#include "s2d/model/llama.h"
#include "s2d/model/rope.h"
#include "s2d/util/log.h"
#include "s2d/util/strings.h"

namespace s2d {

namespace {

// The bytes of one slot of `capacity` columns, and of RoPE's table for those columns (one a cache).
struct SlotBytes {
  long double slot, table;
};
SlotBytes slot_bytes(int64_t capacity, const ModelConfig& cfg, c10::ScalarType dtype) {
  return {static_cast<long double>(capacity) * kv_bytes_per_token(cfg, dtype),
          static_cast<long double>(capacity) * rope_table_bytes_per_position(cfg, dtype)};
}

}  // namespace

int64_t slots_that_fit(int64_t wanted, int64_t capacity, const ModelConfig& cfg, c10::ScalarType dtype, uint64_t have) {
  const auto [per_slot, table] = slot_bytes(capacity, cfg, dtype);
  if (per_slot <= 0 || per_slot * static_cast<long double>(wanted) + table <= static_cast<long double>(have))
    return wanted;
  const long double half = static_cast<long double>(have / 2) - table;
  const int64_t fit = std::min(wanted, std::max<int64_t>(1, half > 0 ? static_cast<int64_t>(half / per_slot) : 0));
  static std::once_flag told;
  std::call_once(told, [&] {
    log::warn(c10::str("--batch-size ", wanted, ": the KV cache of ", wanted, " slots x ", capacity,
                       " tokens would not fit in the ", format_number("%.3g", static_cast<double>(have) / 1e9),
                       " GB free; at most ", fit, " slots at once (later runs cut the same way are not logged)"));
  });
  return fit;
}

int64_t columns_growth_limit(const ModelConfig& cfg, int64_t slots, int64_t capacity, c10::ScalarType dtype,
                             uint64_t free) {
  if (free == std::numeric_limits<uint64_t>::max()) return capacity;
  return std::max(capacity, kv_cache_columns_within(cfg, slots, dtype, static_cast<long double>(free) / 4));
}

int64_t slots_to_grow_to(int64_t slots, int64_t needed, int64_t most, int64_t capacity, const ModelConfig& cfg,
                         c10::ScalarType dtype, uint64_t free) {
  if (needed <= slots || slots >= most) return slots;
  int64_t target = std::min(most, std::max(needed, slots > most / 2 ? most : 2 * slots));
  if (free != std::numeric_limits<uint64_t>::max()) {
    const auto [per_slot, table] = slot_bytes(capacity, cfg, dtype);
    // Room for the new cache (its slots and its own table) beside the old one.
    const long double room =
        static_cast<long double>(free) - (per_slot * static_cast<long double>(slots) + table) - table;
    const long double fit = per_slot > 0 ? room / per_slot : static_cast<long double>(most);
    if (fit < static_cast<long double>(target)) target = fit > 0 ? static_cast<int64_t>(fit) : 0;
  }
  return std::max(slots, target);
}

}  // namespace s2d
