#include "s2d/engine/generator.h"

#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <limits>

#include "decode_run.h"
#include "s2d/model/device.h"
#include "s2d/util/error.h"

namespace s2d {

namespace {

// EngineOptions::prefix_cache_bytes, or for -1 a sixteenth of what the device has free now, at
// most 1 GiB (256 MiB where free memory cannot be told).
uint64_t prefix_cache_budget(int64_t option, const c10::Device& device) {
  if (option > 0) return static_cast<uint64_t>(option);
  constexpr uint64_t kGiB = uint64_t{1} << 30;
  const uint64_t free = allocatable_bytes(device);
  return free == std::numeric_limits<uint64_t>::max() ? kGiB / 4 : std::min(kGiB, free / 16);
}

}  // namespace

void check_engine_options(const EngineOptions& opts) {
  if (opts.prefix_cache_bytes < -1)
    throw_input("prefix cache size must be -1 (auto), 0 (off) or a number of bytes",
                {.field = "prefix_cache_bytes", .found = std::to_string(opts.prefix_cache_bytes)});
  if (opts.batch_size < 1)
    throw_input("batch size must be >= 1",
                {.field = "--batch-size", .expected = ">= 1", .found = std::to_string(opts.batch_size)});
}

Generator::Generator(const LlamaModel& model, const Tokenizer& tokenizer, EngineOptions opts)
    : model_(model), tokenizer_(tokenizer), opts_(opts) {
  check_engine_options(opts_);
}

void Generator::run(const std::vector<GenRequest>& initial, const std::function<void(GenResult&&)>& on_done,
                    const RequestSource& more) {
  if (initial.empty()) return;
  c10::InferenceMode inference;
  if (!prefix_cache_ && opts_.prefix_cache_bytes != 0)
    prefix_cache_ =
        std::make_unique<PrefixCache>(prefix_cache_budget(opts_.prefix_cache_bytes, model_.options().device()));
  DecodeRun(model_, tokenizer_, opts_, initial, on_done, more, counters_, prefix_cache_.get()).run();
}

}  // namespace s2d
