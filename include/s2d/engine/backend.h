// The backend interface every method talks to: chat or completion requests in, completions with
// token usage out. Implementations: the in-process engine (local_backend.h) and any OpenAI-compatible
// HTTP server (api/http_backend.h). This header is torch-free.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "s2d/text/chat_template.h"
#include "s2d/util/option_set.h"

namespace s2d {

struct SamplingParams {
  int64_t max_new_tokens = 256;
  double temperature = 0.0;       // 0 = greedy
  double top_p = 1.0;             // nucleus mass in (0, 1]
  int64_t top_k = 0;              // 0 = off
  uint64_t seed = 0;              // sample i of a request draws from its own generator, seeded from (seed, i)
  std::vector<std::string> stop;  // stop strings, matched on decoded text across token boundaries
  bool ignore_eos = false;        // benchmarks: always generate max_new_tokens
};

// The sampling flags of generate and eval (see util/option_set.h); ignore_eos is the benchmarks' only.
template <OptionsOf<SamplingParams> O, class F>
void visit_options(O& o, F&& f) {
  f("--temperature", "temperature", o.temperature, "0 = greedy");
  f("--top-p", "top_p", o.top_p, "Nucleus mass in (0, 1]");
  f("--top-k", "top_k", o.top_k, "Keep the k most likely tokens; 0 = off");
  f("--seed", "seed", o.seed, "Run seed; each task and sample derives its own stream");
  f("--max-new-tokens", "max_new_tokens", o.max_new_tokens, "Tokens per step of the method at most");
  f("--stop", "stop", o.stop, "Stop strings (repeatable); matched across token boundaries");
}

// InputError naming the flag for temperature < 0, top_p outside (0, 1], top_k < 0, max_new_tokens < 1.
void validate_sampling(const SamplingParams& p);
// The seed of sample `index` of a request: a SplitMix64 mix, so samples are independent streams
// and a resumed run redraws exactly the samples it is missing.
uint64_t sample_seed(uint64_t request_seed, int index);
// The seed of one task's requests: the run seed mixed with the task id (FNV-1a), so it does not
// depend on the order of the task file.
uint64_t task_seed(uint64_t run_seed, const std::string& id);

struct CompletionRequest {
  std::string id;
  std::vector<ChatMessage> messages;  // chat form, rendered with the backend's chat template
  std::optional<std::string> prompt;  // completion form: raw text (BOS as the tokenizer adds it)
  // chat form: extra chat-template variables (a request's chat_template_kwargs), in their order:
  // a tool schema that the template prints with tojson reads as the client wrote it
  nlohmann::ordered_json template_kwargs;
  SamplingParams sampling;
  std::vector<int> samples = {0};  // which sample indices to produce; they share one prefill
  std::string tag;                 // "task-id|step[|swap]" from the method runner: for logs and per-task teachers
  std::string source_file;         // where the task came from, for errors (empty: a server request)
  int64_t source_line = 0;
  // Streaming: called (on the backend's thread) with a sample's whole decoded text so far, after
  // every generated token. Unset for batch work: decoding each step costs time.
  std::function<void(int sample, const std::string& text)> on_text;
};

struct Completion {
  int sample = 0;
  std::string text;
  std::string finish_reason;  // stop | length
  int64_t generated_tokens = 0;
};

struct CompletionResult {
  std::string id;
  std::vector<Completion> choices;  // one per requested sample, in request order
  int64_t prompt_tokens = 0;
  double seconds = 0;  // from the request's prefill to its last sample's end
  // Who counted the tokens: "" = the engine itself (exact), "usage" = the server's usage field,
  // "local-tokenizer" = counted here because the server sent no usage (approximate for chat).
  std::string token_source;
  int64_t cached_prompt_tokens = 0;  // prompt tokens taken from earlier prompts' keys and values (the engine's)
};

class Backend {
 public:
  virtual ~Backend() = default;
  // Runs every request, batching as the backend sees fit, and calls `on_result` once per request
  // as soon as all its samples are done (in completion order, on the calling thread).
  virtual void complete(const std::vector<CompletionRequest>& requests,
                        const std::function<void(CompletionResult&&)>& on_result) = 0;
  // Like complete(), and while the work runs, `more` is asked for requests that arrived since (a
  // server's queue): the in-process engine lets them join the running batch instead of waiting
  // for it to end. Every result goes to `on_result`, whichever list its request came from. The
  // default runs them after the first list, round by round, until `more` has nothing.
  using Intake = std::function<std::vector<CompletionRequest>()>;
  virtual void complete_open(const std::vector<CompletionRequest>& requests,
                             const std::function<void(CompletionResult&&)>& on_result, const Intake& more);
  virtual std::string describe() const = 0;
  // What makes this backend's outputs what they are (model, adapter, dtype, template; not the device,
  // a server's address or concurrency): generate refuses to resume a run made with another.
  virtual std::string identity() const { return describe(); }
  // Tokens generated since construction (for progress lines).
  virtual int64_t generated_tokens() const = 0;
  // Prompt tokens prefilled since construction, and how many of them ran through the model (the
  // others reused an earlier prompt's keys and values); {0, 0} when the backend cannot tell.
  virtual std::pair<int64_t, int64_t> prefilled_and_computed_tokens() const { return {0, 0}; }
  // Decode steps replayed as CUDA graphs since construction (EngineOptions::cuda_graphs); 0 for a
  // backend that runs none or cannot tell.
  virtual int64_t graph_steps() const { return 0; }
  // The longest sequence the backend can run: the model's context, or less where one slot's KV cache
  // of that length would not fit in memory; 0 when the backend cannot tell (a remote server).
  virtual int64_t context_length() const { return 0; }
  // Sequences it decodes at once: the in-process engine's slots, or a remote server's requests in
  // flight (--concurrency; each is one sequence there or more); 0 when it cannot tell. Callers keep
  // enough work in flight to fill them.
  virtual int64_t decode_slots() const { return 0; }
};

}  // namespace s2d
