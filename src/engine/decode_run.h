// One Generator::run(): the slots, the cache, the queues, and the three things its loop does:
// admit() fills free slots, prefilling waiting requests as needed (decode_prefill.cpp); step()
// decodes every busy slot once (decode_step.cpp); retire() hands a finished sample back, and its
// request once all its samples are done (decode_run.cpp). Internal to src/engine.
#pragma once

#include <ATen/ATen.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "s2d/engine/decode_graphs.h"
#include "s2d/engine/generator.h"
#include "s2d/engine/prefix_cache.h"
#include "s2d/engine/sampling.h"
#include "s2d/model/async_transfer.h"
#include "s2d/model/llama.h"
#include "s2d/text/incremental_text.h"

namespace s2d {

using Clock = std::chrono::steady_clock;

// One decode slot: a sample in flight.
struct Slot {
  bool busy = false;
  size_t req = 0;
  int sample_pos = 0;  // index into the request's sample list
  int64_t len = 0;     // tokens cached (prompt + generated so far minus the pending one)
  int64_t next = 0;    // sampled, not yet fed
  std::vector<int> tokens;
  IncrementalText text;            // followed only when the request has stop strings or streams its text
  std::optional<std::string> cut;  // the text up to a stop string, once one is found
  size_t max_stop = 0;             // longest stop string, to bound the search window
  uint64_t key = 0;                // sample_seed(request seed, sample): the sample's random stream
  at::Generator gen;               // host sampler: the stream as a CPU generator
  int64_t drawn = 0;               // device sampler: tokens drawn so far (the next draw's index)
};

// A request whose prefill is done but not all of whose samples have a slot yet.
struct Prefilled {
  size_t req;
  int next_sample_pos = 0;
  std::vector<at::Tensor> k, v;  // per layer [1, KV, T, D]
  at::Tensor last_logits;        // [1, V]
};

struct RequestState {
  GenResult result;
  int remaining = 0;
  Clock::time_point start;
};

// On CUDA the prefill pads on the right (the path measured there) unless S2D_CUDA_PACKED_PREFILL=1.
bool packed_prefill_on_cuda();

class DecodeRun {
 public:
  DecodeRun(const LlamaModel& model, const Tokenizer& tokenizer, const EngineOptions& engine,
            const std::vector<GenRequest>& initial, const std::function<void(GenResult&&)>& on_done,
            const Generator::RequestSource& more, EngineCounters& counters, PrefixCache* prefix_cache);

  // The loop of Generator::run.
  void run();

 private:
  // Requests and slots (decode_run.cpp).
  static bool takes_cuda_defaults(const c10::Device& device);
  static int64_t columns_needed(const std::deque<GenRequest>& requests, const ModelConfig& cfg);
  static int64_t samples_in(const std::deque<GenRequest>& requests);
  c10::ScalarType dtype() const { return opts_.dtype().toScalarType(); }
  bool any_slot_free() const;
  void enqueue(size_t i);
  bool pull();
  void admit();
  std::string text_of(const std::vector<int>& ids) const;
  std::string accept(Slot& s, int64_t token);
  void retire(Slot& s, const std::string& reason);
  void keep_answer(const Slot& s);

  // The cache's growth (decode_run.cpp).
  void grow_columns(int64_t need);
  void grow_slots();
  void resize_cache(int64_t slots, int64_t columns);

  // Decode graphs by slot count (decode_run.cpp).
  int64_t graph_bucket(int64_t busy) const;
  DecodeGraphs& graphs_for(int64_t slots);

  // Prefill (decode_prefill.cpp).
  void prefill_group(int64_t max_rows);
  std::vector<LlamaModel::CachedStart> cached_starts(const std::vector<const std::vector<int>*>& prompts,
                                                     std::vector<SharedStart>& shared) const;

  // Decode steps (decode_step.cpp); step() is false when no slot is busy.
  bool step() { return on_device_ ? step_one_behind() : step_and_wait(); }
  KVCache slots_below(int64_t hi) const;
  bool step_and_wait();
  bool goes_on_after_unread(const Slot& s) const;
  bool step_one_behind();

  const LlamaModel& model_;
  const Tokenizer& tokenizer_;
  const ModelConfig& cfg_;
  const at::TensorOptions opts_;
  const std::function<void(GenResult&&)>& on_done_;
  const Generator::RequestSource& more_;
  EngineCounters& counters_;   // the Generator's, added to
  PrefixCache* prefix_cache_;  // null: none
  // Requests of this run: the initial ones, then any `more_` hands over (a deque: stable references).
  std::deque<GenRequest> requests_;
  const int n_pieces_;
  int64_t capacity_;            // the cache's columns; grows for a longer joining request, up to limit_
  const uint64_t free_bytes_;   // at the run's start: EngineOptions::kv_cache_bytes, or allocatable_bytes
  const int64_t wanted_slots_;  // EngineOptions::batch_size, or fewer for a run without a source
  const int64_t max_slots_;     // wanted_slots_, or fewer where they would not fit the memory
  int64_t n_slots_;             // the cache's slots now: grows up to max_slots_ (grow_slots)
  const int64_t limit_;         // the most columns the cache may grow to
  const bool packed_prefill_;   // prefill_packed, which reads and fills the prefix cache
  const bool cache_answers_;    // EngineOptions::cache_answers, where a prefix cache is read
  const bool narrow_;
  const bool on_device_;  // the device sampler, one step behind (EngineOptions::Sampler)
  KVCache cache_;
  std::vector<Slot> slots_;
  std::deque<RequestState> states_;
  std::deque<size_t> waiting_;
  std::deque<Prefilled> prefilled_;
  at::Tensor next_tokens_;            // device sampler: [n_slots] int64, each busy slot's unread token
  SamplingScratch sampling_scratch_;  // host sampler
  Readback readback_;
  // EngineOptions::cuda_graphs, where it applies: graphs for the first m slots, by m (a power of
  // two, or n_slots_), made as steps need them, all in one pool; remade when the cache grows.
  bool use_graphs_ = false;
  std::map<int64_t, std::unique_ptr<DecodeGraphs>> graphs_;
  std::shared_ptr<GraphMemory> graph_memory_;  // what graphs_' captures share
};

}  // namespace s2d
