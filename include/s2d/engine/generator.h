// The in-process generation engine: continuous batching over fixed KV-cache slots.
//
//   * Waiting requests are prefilled together in one batch: back to back without padding off
//     CUDA (LlamaModel::prefill_packed, which computes the tokens that prompts start with in
//     common once, and takes those that a busy slot's prompt, or one prefilled earlier and kept in
//     the prefix cache, starts with too from there), right-padded on CUDA; the n samples of a
//     request copy its prefilled keys and values into their own slots, so a prompt is prefilled
//     once.
//   * Every step decodes all busy slots together (LlamaModel::decode_slots); a finished sample
//     frees its slot at once and the next waiting sample takes it, so one long answer never holds
//     a batch of short ones back.
//   * A run's cache is sized to the work: as many slots as its first requests' samples (at most
//     batch_size, and fewer where those would not fit in memory), of min(context, longest prompt
//     + max_new_tokens) columns. With a request source it doubles its slots as newcomers wait, and
//     grows its columns for a longer newcomer (cache_sizing.h).
//   * Sample i of a request draws from its own stream keyed by sample_seed(seed, i): the output
//     does not depend on which other requests share the batch (up to float reassociation in
//     batched matmuls).
//   * With the device sampler the host runs one step behind the device: it queues step t, then
//     reads the tokens of step t-1 and acts on them (stop ids, stop strings, streaming, retiring).
//     A sample that stopped at t-1 was still fed at step t; that work is discarded. Results are
//     the same as a loop that waits for every step.
// Not thread-safe: one run() at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "s2d/engine/backend.h"
#include "s2d/engine/prefix_cache.h"
#include "s2d/model/llama.h"
#include "s2d/text/tokenizer.h"

namespace s2d {

struct EngineOptions {
  // The most decode slots a run holds. A run's cache starts with as many as its first requests'
  // samples and doubles as others join (a server's newcomers), so a large batch costs memory only
  // under load.
  int64_t batch_size = 16;
  // Attention width per decode step. Narrow: only as many cache columns as the longest busy slot
  // needs (less work; the CPU default). Full: always the whole capacity, so every step has the
  // same shapes (the CUDA default: shape-keyed kernel plans such as cuDNN attention's are built
  // once instead of every step, and the step can be captured in a CUDA graph). Where CUDA graphs
  // are emulated on the CPU (S2D_CUDA_GRAPHS_EMULATED, capture_audit.h), Auto is CUDA's choice.
  enum class Width { Auto, Narrow, Full };
  Width width = Width::Auto;
  // Where tokens are drawn. Host: the step's logits are copied to the CPU and each sample draws
  // from its own CPU generator (sampling.h); the host waits for every step. Device: drawn on the
  // logits' device (device_sampling.h), and the host reads a step's tokens while the next step
  // runs (one step behind), so in steady state it never waits for the GPU to go idle. Auto:
  // Device on CUDA (and on the CPU with graphs emulated), Host elsewhere (where nothing runs
  // asynchronously and the host sampler is faster). The two draw different streams from the same
  // seed; greedy tokens are the same.
  enum class Sampler { Auto, Host, Device };
  Sampler sampler = Sampler::Auto;
  // Replay each decode step as a CUDA graph (decode_graphs.h). Needs CUDA, the device sampler and
  // the full width; ignored elsewhere. Off by default until measured on a GPU; S2D_CUDA_GRAPHS=1 in
  // the environment turns it on for every engine (generate, eval, serve).
  bool cuda_graphs = false;
  // Let a joining request longer than the cache grow it (see Generator::RequestSource); off: it
  // waits for the next run.
  bool grow_cache = true;
  // Bytes the KV cache may take (0: what the device has free when a run starts, read once per run).
  // Where batch_size slots would not fit, a run takes as many slots as half of it holds (and its
  // cache does not grow); otherwise growth stays within a quarter of it.
  uint64_t kv_cache_bytes = 0;
  // Bytes of prompts' keys and values kept between runs (PrefixCache), for later prompts that
  // start the same way: -1, a sixteenth of the device's free memory at the first run, at most
  // 1 GiB; 0, none. Only the prefill without padding (the CPU's) reads and fills it.
  int64_t prefix_cache_bytes = -1;
  // Also keep each finished sample's prompt and answer in the prefix cache, so that a chat's next
  // turn, which starts with both, computes only its new message (s2d serve). Off for batch work,
  // whose answers no later prompt starts with: the copies would only push out useful entries.
  bool cache_answers = false;
};

// InputError naming a batch size below 1 or a prefix cache size below -1 (Generator checks them).
void check_engine_options(const EngineOptions& opts);

struct GenRequest {
  std::vector<int> prompt_ids;
  SamplingParams sampling;  // max_new_tokens already fits the context
  std::vector<int> samples = {0};
  std::vector<int> stop_ids;                                         // token ids that end a sample (EOS, <|im_end|>)
  std::function<void(int sample, const std::string& text)> on_text;  // streaming, see CompletionRequest
};

struct GenSample {
  int sample = 0;
  std::vector<int> tokens;  // generated ids, stop token excluded
  std::string text;         // decoded, cut before a stop string
  std::string finish_reason;
};

// Prompt tokens prefilled, and how many of them ran through the layers (padding not counted): the
// others started an earlier prompt of their prefill group, a busy slot's or a prefix cache entry's
// as well.
struct PrefillCounts {
  int64_t tokens = 0;
  int64_t computed = 0;
};

struct GenResult {
  size_t index = 0;  // position in the run()'s request list
  std::vector<GenSample> samples;
  double seconds = 0;
  // Prompt tokens not computed for this request: their keys and values came from an earlier prompt
  // of its prefill group, a busy slot's prompt or a prefix cache entry.
  int64_t cached_prompt_tokens = 0;
};

// What a Generator's runs have done, summed over its runs.
struct EngineCounters {
  int64_t generated_tokens = 0;
  PrefillCounts prefill;
  // The most decode slots a run's cache has held: a run starts with as many as its first requests'
  // samples (at most batch_size) and grows as others join.
  int64_t most_slots = 0;
  int64_t graph_steps = 0;    // decode steps run as CUDA graphs (EngineOptions::cuda_graphs)
  int64_t graph_buckets = 0;  // graphs made for a slot count (again after the cache grows)
};

class Generator {
 public:
  // The model must not change while the Generator lives: its prefix cache holds keys and values
  // that the model computed.
  Generator(const LlamaModel& model, const Tokenizer& tokenizer, EngineOptions opts = {});
  // Asked between decode steps, while a slot is free or the run has fewer than batch_size slots,
  // for requests that should join the run (a server's newcomers, a method's next steps; the cache
  // gains slots for them as it can); each must need at most `capacity` cache columns
  // (prompt + max_new_tokens). That is what the run's cache can grow to: the model's context,
  // within a quarter of the free memory (growing holds the old cache and the new one at once), or
  // the cache's size from the start where free memory cannot be told (allocatable_bytes). A
  // joining request longer than the cache grows it (all slots' columns copied into a larger one)
  // instead of waiting for the run to end. The run ends when all is done and the source returns
  // nothing.
  using RequestSource = std::function<std::vector<GenRequest>(int64_t capacity)>;
  // Runs every request; calls `on_done` as each request's last sample finishes. GenResult::index
  // counts the initial requests first, then joined ones in the order the source gave them.
  void run(const std::vector<GenRequest>& requests, const std::function<void(GenResult&&)>& on_done,
           const RequestSource& more = {});
  int64_t generated_tokens() const { return counters_.generated_tokens; }
  const PrefillCounts& prefill_counts() const { return counters_.prefill; }
  int64_t most_slots() const { return counters_.most_slots; }
  int64_t graph_steps() const { return counters_.graph_steps; }
  int64_t graph_buckets() const { return counters_.graph_buckets; }
  const EngineOptions& options() const { return opts_; }

 private:
  const LlamaModel& model_;
  Tokenizer tokenizer_;
  EngineOptions opts_;
  EngineCounters counters_;
  std::unique_ptr<PrefixCache> prefix_cache_;  // made at the first run, unless switched off
};

}  // namespace s2d
