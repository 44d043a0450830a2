#include "s2d/engine/local_backend.h"

#include <ATen/ATen.h>

#include <deque>

#include "s2d/engine/generator.h"
#include "s2d/model/checkpoint.h"
#include "s2d/model/device.h"
#include "s2d/model/lora.h"
#include "s2d/util/error.h"
#include "s2d/util/log.h"

namespace s2d {

namespace {

// The model, with a LoRA adapter folded into its weights (same outputs, no per-step cost).
ModelBundle load_with_adapter(const LocalBackendOptions& o) {
  ModelBundle b = load_model(o.model_dir, {.device = o.device, .dtype = o.dtype});
  if (!o.adapter_dir.empty()) {
    b.model->set_lora(load_adapter(o.adapter_dir, b.config, b.model->options().device()));
    merge_lora(*b.model);
  }
  return b;
}

// --prefix-cache-mb in bytes for EngineOptions (-1 and 0 pass through).
int64_t prefix_cache_bytes(const LocalBackendOptions& o) {
  constexpr int64_t kMiB = int64_t{1} << 20;
  if (o.prefix_cache_mb < -1 || o.prefix_cache_mb > (int64_t{1} << 43) / kMiB)
    throw_input("--prefix-cache-mb must be -1 (auto), 0 (off) or a size in MiB",
                {.field = "--prefix-cache-mb",
                 .expected = "-1, 0, or 1 to 8388608",
                 .found = std::to_string(o.prefix_cache_mb)});
  return o.prefix_cache_mb <= 0 ? o.prefix_cache_mb : o.prefix_cache_mb * kMiB;
}

// The engine's options from the flags (InputError naming --prefix-cache-mb when out of range).
EngineOptions engine_options(const LocalBackendOptions& o) {
  return {.batch_size = o.batch_size,
          .grow_cache = o.grow_cache,
          .prefix_cache_bytes = prefix_cache_bytes(o),
          .cache_answers = o.cache_answers};
}

class LocalBackend : public Backend {
 public:
  explicit LocalBackend(const LocalBackendOptions& o)
      : bundle_(load_with_adapter(o)),
        template_(load_chat_template(o.model_dir, *bundle_.tokenizer, o.chat_template,
                                     template_kwargs(o.chat_template_kwargs, "--chat-template-kwargs"))),
        engine_(*bundle_.model, *bundle_.tokenizer, engine_options(o)),
        model_dir_(o.model_dir),
        adapter_dir_(o.adapter_dir),
        desc_(c10::str(
            o.model_dir, " (", bundle_.config.num_parameters(), " params, ", bundle_.model->options().device().str(),
            ", ", dtype_name(bundle_.model->options().dtype().toScalarType()), ", template ", template_.name(), ")")) {}

  void complete(const std::vector<CompletionRequest>& requests,
                const std::function<void(CompletionResult&&)>& on_result) override {
    complete_open(requests, on_result, {});
  }

  // Newcomers from `more` join the engine's run while their prompt + max_new_tokens fits what the
  // run's cache can grow to (Generator::RequestSource); the others wait for the next run, which
  // starts when this one ends. Once one
  // waits, every later arrival waits behind it (first come, first served, as vLLM's scheduler
  // does), so that the run drains and a stream of short requests cannot starve a long one. Each
  // request is converted (and checked) once, when it arrives.
  void complete_open(const std::vector<CompletionRequest>& requests,
                     const std::function<void(CompletionResult&&)>& on_result, const Intake& more) override {
    struct Converted {
      std::string id;
      GenRequest gen;
    };
    auto convert = [&](const CompletionRequest& r) { return Converted{r.id, to_gen(r)}; };
    std::deque<Converted> pending;
    for (const auto& r : requests) pending.push_back(convert(r));
    while (!pending.empty()) {
      std::vector<std::string> ids;        // this run's request ids, by GenResult::index
      std::vector<int64_t> prompt_tokens;  // and their prompt lengths
      std::vector<GenRequest> gen;
      auto join = [&](Converted&& c) {
        ids.push_back(std::move(c.id));
        prompt_tokens.push_back(static_cast<int64_t>(c.gen.prompt_ids.size()));
        return std::move(c.gen);
      };
      for (auto& c : pending) gen.push_back(join(std::move(c)));
      pending.clear();
      Generator::RequestSource source;
      if (more) {
        source = [&](int64_t capacity) {
          std::vector<GenRequest> joining;
          for (const auto& r : more()) {
            Converted c = convert(r);
            // longer than this run's cache can grow, or behind one that is: the next run
            if (!pending.empty() ||
                static_cast<int64_t>(c.gen.prompt_ids.size()) + c.gen.sampling.max_new_tokens > capacity)
              pending.push_back(std::move(c));
            else
              joining.push_back(join(std::move(c)));
          }
          return joining;
        };
      }
      engine_.run(
          gen,
          [&](GenResult&& res) {
            CompletionResult out;
            out.id = ids[res.index];
            out.prompt_tokens = prompt_tokens[res.index];
            out.cached_prompt_tokens = res.cached_prompt_tokens;
            out.seconds = res.seconds;
            for (auto& s : res.samples)
              out.choices.push_back(
                  {s.sample, std::move(s.text), s.finish_reason, static_cast<int64_t>(s.tokens.size())});
            on_result(std::move(out));
          },
          source);
      if (pending.empty() && more)
        for (const auto& r : more()) pending.push_back(convert(r));
    }
  }

  std::string describe() const override { return desc_; }
  std::string identity() const override {
    return c10::str(model_dir_, adapter_dir_.empty() ? "" : " + " + adapter_dir_, " (",
                    dtype_name(bundle_.model->options().dtype().toScalarType()), ", template ", template_.name(), ")");
  }
  int64_t generated_tokens() const override { return engine_.generated_tokens(); }
  std::pair<int64_t, int64_t> prefilled_and_computed_tokens() const override {
    return {engine_.prefill_counts().tokens, engine_.prefill_counts().computed};
  }
  int64_t graph_steps() const override { return engine_.graph_steps(); }
  int64_t decode_slots() const override { return engine_.options().batch_size; }
  // The model's context, or fewer tokens when even one slot's KV cache of that length would not fit
  // in the memory available at start (s2d serve caps max_tokens with it).
  int64_t context_length() const override {
    const auto opts = bundle_.model->options();
    return kv_cache_columns_within(bundle_.config, 1, opts.dtype().toScalarType(),
                                   static_cast<long double>(allocatable_bytes(opts.device())));
  }

 private:
  // A request as the engine takes it: rendered, tokenized, max_new_tokens clamped to the context.
  GenRequest to_gen(const CompletionRequest& r) {
    const Tokenizer& tok = *bundle_.tokenizer;
    const int64_t ctx = bundle_.config.max_context();
    validate_sampling(r.sampling);
    GenRequest g;
    // Errors name the task (file, line, id) when a method runner sent it, else the request.
    const ErrorContext where{.file = r.source_file,
                             .line = r.source_line,
                             .field = r.tag.empty() ? "request " + r.id : "task " + r.tag.substr(0, r.tag.find('|'))};
    auto at = [&](ErrorContext e) {
      e.file = where.file, e.line = where.line, e.field = where.field;
      return e;
    };
    // A text that cannot fit is refused before it is tokenized (a 50 MB line takes minutes to encode).
    size_t bytes = r.prompt ? r.prompt->size() : 0;
    for (const auto& m : r.messages) bytes += m.content.size();
    if (const int64_t least = tok.min_tokens_for_bytes(bytes); least >= ctx) {
      throw_input("prompt does not fit the context",
                  at({.expected = "< " + std::to_string(ctx) + " tokens",
                      .found = "at least " + std::to_string(least) + " tokens (" + std::to_string(bytes) + " bytes)",
                      .hint = "shorten the input or use a longer-context model"}));
    }
    if (r.prompt) {
      if (r.prompt->empty()) throw_input("empty prompt", at({.expected = "non-empty text"}));
      g.prompt_ids =
          tok.encode_with_special(*r.prompt);  // BOS (or the tokenizer's own template), as HF's tokenizer(text)
    } else {
      for (const auto& m : r.messages)
        if (m.role == "user" && m.content.find_first_not_of(" \t\n") == std::string::npos)
          throw_input("empty prompt", at({.expected = "a non-empty user message"}));
      g.prompt_ids = template_.render(tok, r.messages, /*add_generation_prompt=*/true, r.template_kwargs).ids;
    }
    const auto T = static_cast<int64_t>(g.prompt_ids.size());
    if (T >= ctx) {
      throw_input("prompt does not fit the context", at({.expected = "< " + std::to_string(ctx) + " tokens",
                                                         .found = std::to_string(T) + " tokens",
                                                         .hint = "shorten the input or use a longer-context model"}));
    }
    g.sampling = r.sampling;
    if (g.sampling.max_new_tokens > ctx - T) {  // policy: clamp, and say so once (T + a huge max overflows)
      g.sampling.max_new_tokens = ctx - T;
      if (!warned_clamp_) {
        log::warn(c10::str("max_new_tokens clamped to fit the context of ", ctx, " tokens (request ", r.id, " gets ",
                           g.sampling.max_new_tokens, ")"));
        warned_clamp_ = true;
      }
    }
    g.samples = r.samples;
    g.stop_ids = template_.stop_ids(tok);
    g.on_text = r.on_text;
    return g;
  }

  ModelBundle bundle_;
  ChatTemplate template_;
  Generator engine_;
  std::string model_dir_, adapter_dir_;
  std::string desc_;
  bool warned_clamp_ = false;
};

}  // namespace

std::unique_ptr<Backend> make_local_backend(const LocalBackendOptions& opts) {
  // The flags first: a bad one should not wait for a model that may take minutes to load.
  check_engine_options(engine_options(opts));
  return std::make_unique<LocalBackend>(opts);
}

}  // namespace s2d
