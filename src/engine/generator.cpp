#include "s2d/engine/generator.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <limits>
#include <optional>

#include "s2d/engine/cache_sizing.h"
#include "s2d/engine/decode_graphs.h"
#include "s2d/engine/device_sampling.h"
#include "s2d/engine/prefix_cache.h"
#include "s2d/engine/sampling.h"
#include "s2d/model/async_transfer.h"
#include "s2d/model/device.h"
#include "s2d/text/incremental_text.h"
#include "s2d/util/env_switch.h"
#include "s2d/util/error.h"
#include "s2d/util/log.h"
#include "s2d/util/strings.h"

namespace s2d {

namespace {

// Cache columns a request can use: its prompt and its new tokens, a max_new_tokens past the
// context counted as the context (no sequence outgrows it, and the sum cannot overflow).
int64_t columns_of(const GenRequest& r, const ModelConfig& cfg) {
  return static_cast<int64_t>(r.prompt_ids.size()) + std::min(r.sampling.max_new_tokens, cfg.max_context());
}

// For each prompt, the earlier one it starts with most tokens in common, and how many (at most
// all but its last token, whose logits the prefill must compute); empty where no prompt shares
// a token with an earlier one. A group's prompts often begin alike: the chat template's preamble,
// or, in a method's later steps, the question that each sample's prompt quotes.
std::vector<SharedStart> shared_starts(const std::vector<const std::vector<int>*>& prompts) {
  std::vector<SharedStart> shared(prompts.size());
  bool any = false;
  for (size_t b = 1; b < prompts.size(); ++b) {
    const std::vector<int>& p = *prompts[b];
    for (size_t a = 0; a < b && !p.empty(); ++a) {
      const int64_t common = common_start(p, *prompts[a], p.size() - 1);
      if (common > shared[b].tokens) shared[b] = {.prompt = static_cast<int64_t>(a), .tokens = common};
    }
    any = any || shared[b].tokens > 0;
  }
  if (!any) shared.clear();
  return shared;
}

// On CUDA the prefill pads on the right (the path measured there) unless S2D_CUDA_PACKED_PREFILL=1.
bool packed_prefill_on_cuda() {
  static EnvSwitch on("S2D_CUDA_PACKED_PREFILL");
  return on.on();
}

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

// Per layer [1, KV, T, D] -> per layer [KV, T, D] views.
std::vector<at::Tensor> first_rows(const std::vector<at::Tensor>& per_layer) {
  std::vector<at::Tensor> out;
  for (const auto& t : per_layer) out.push_back(t[0]);
  return out;
}

struct RequestState {
  GenResult result;
  int remaining = 0;
  Clock::time_point start;
};

// One run(): the slots, the cache, the queues, and the three things a decode loop does:
// admit() fills free slots (prefilling waiting requests as needed), step() decodes every busy slot
// once, and retire() hands a finished sample back (and its request, once all its samples are done).
class DecodeRun {
 public:
  DecodeRun(const LlamaModel& model, const Tokenizer& tokenizer, const EngineOptions& engine,
            const std::vector<GenRequest>& initial, const std::function<void(GenResult&&)>& on_done,
            const Generator::RequestSource& more, int64_t& generated_tokens, PrefillCounts& prefill_counts,
            int64_t& most_slots, PrefixCache* prefix_cache)
      : model_(model),
        tokenizer_(tokenizer),
        cfg_(model.config()),
        opts_(model.options()),
        on_done_(on_done),
        more_(more),
        generated_tokens_(generated_tokens),
        prefill_counts_(prefill_counts),
        most_slots_(most_slots),
        prefix_cache_(prefix_cache),
        requests_(initial.begin(), initial.end()),
        n_pieces_(tokenizer.vocab_size()),
        capacity_(columns_needed(requests_, cfg_)),
        free_bytes_(engine.kv_cache_bytes > 0 ? engine.kv_cache_bytes : allocatable_bytes(opts_.device())),
        // With a source, later requests need slots too: as many as --batch-size.
        wanted_slots_(more ? engine.batch_size
                           : std::max<int64_t>(1, std::min(engine.batch_size, samples_in(requests_)))),
        max_slots_(slots_that_fit(wanted_slots_, capacity_, cfg_, dtype(), free_bytes_)),
        // As many as the first requests' samples; more as others join (grow_slots).
        n_slots_(std::min(max_slots_, std::max<int64_t>(1, samples_in(requests_)))),
        // Only a run with a source takes requests that could need more; a run already cut to the
        // memory does not grow.
        limit_(more && engine.grow_cache && max_slots_ == wanted_slots_
                   ? columns_growth_limit(cfg_, max_slots_, capacity_, dtype(), free_bytes_)
                   : capacity_),
        packed_prefill_(!opts_.device().is_cuda() || packed_prefill_on_cuda()),
        cache_answers_(engine.cache_answers && prefix_cache != nullptr && packed_prefill_),
        narrow_(engine.width == EngineOptions::Width::Narrow ||
                (engine.width == EngineOptions::Width::Auto && !opts_.device().is_cuda())),
        on_device_(engine.sampler == EngineOptions::Sampler::Device ||
                   (engine.sampler == EngineOptions::Sampler::Auto && opts_.device().is_cuda())),
        cache_(cfg_, n_slots_, capacity_, opts_),
        slots_(static_cast<size_t>(n_slots_)) {
    most_slots_ = std::max(most_slots_, n_slots_);
    if (on_device_) next_tokens_ = at::zeros({n_slots_}, opts_.dtype(at::kLong));
    if (on_device_ && !narrow_ && (engine.cuda_graphs || DecodeGraphs::switched_on()) &&
        DecodeGraphs::supported(opts_.device()))
      graphs_ = std::make_unique<DecodeGraphs>(model_, cache_, next_tokens_, capacity_);
    for (size_t i = 0; i < requests_.size(); ++i) enqueue(i);
  }

  // The loop of Generator::run.
  void run() {
    while (true) {
      if (more_ && waiting_.empty() && prefilled_.empty() && (any_slot_free() || n_slots_ < max_slots_))
        pull();  // arrivals join this run
      admit();
      if (step()) continue;
      if (waiting_.empty() && prefilled_.empty() && !pull()) break;
    }
  }

 private:
  // Cache columns for the longest prompt + max_new_tokens, within the model's context.
  static int64_t columns_needed(const std::deque<GenRequest>& requests, const ModelConfig& cfg) {
    int64_t c = 1;
    for (const auto& r : requests) c = std::max<int64_t>(c, columns_of(r, cfg));
    return std::min(c, cfg.max_context());
  }
  static int64_t samples_in(const std::deque<GenRequest>& requests) {
    int64_t n = 0;
    for (const auto& r : requests) n += static_cast<int64_t>(r.samples.size());
    return n;
  }

  c10::ScalarType dtype() const { return opts_.dtype().toScalarType(); }

  bool any_slot_free() const {
    return std::any_of(slots_.begin(), slots_.end(), [](const Slot& s) { return !s.busy; });
  }

  void enqueue(size_t i) {
    states_.emplace_back();
    states_[i].result.index = i;
    states_[i].remaining = static_cast<int>(requests_[i].samples.size());
    if (states_[i].remaining > 0) waiting_.push_back(i);
  }

  // Takes what the source has (each request must fit what the cache can grow to, and grows it
  // when longer than the cache); false when it had nothing.
  bool pull() {
    if (!more_) return false;
    std::vector<GenRequest> extra = more_(limit_);
    for (auto& r : extra) {
      const int64_t need = columns_of(r, cfg_);
      if (need > limit_)
        throw_runtime("a joining request does not fit the run's cache",
                      {.expected = "<= " + std::to_string(limit_) + " columns", .found = std::to_string(need)});
      if (need > capacity_) grow_columns(need);
      requests_.push_back(std::move(r));
      enqueue(requests_.size() - 1);
    }
    return !extra.empty();
  }

  // A cache of at least `need` columns: half as many again as now, so that a run of arrivals
  // regrows rarely.
  void grow_columns(int64_t need) {
    resize_cache(n_slots_, std::min(limit_, std::max(need, capacity_ + capacity_ / 2)));
  }

  // More slots where samples wait that the free ones cannot take (slots_to_grow_to): a run starts
  // with as many as its first requests need, so that a quiet server with a large --batch-size does
  // not allocate and zero a cache for slots nobody uses.
  void grow_slots() {
    int64_t needed = 0;
    for (const Slot& s : slots_) needed += s.busy;
    for (size_t r : waiting_) needed += static_cast<int64_t>(requests_[r].samples.size());
    for (const Prefilled& p : prefilled_)
      needed += static_cast<int64_t>(requests_[p.req].samples.size()) - p.next_sample_pos;
    const int64_t slots = slots_to_grow_to(n_slots_, needed, max_slots_, capacity_, cfg_, dtype(), free_bytes_);
    if (slots > n_slots_) resize_cache(slots, capacity_);
  }

  // A cache of `slots` x `columns` holding every slot's columns. The device finishes what it has
  // queued first (it reads the old cache and, under graphs, the old graphs' buffers); the graphs,
  // captured on the old cache, are captured again on the new one as the steps need them.
  void resize_cache(int64_t slots, int64_t columns) {
    wait_for_queue(opts_.device());
    KVCache bigger(cfg_, slots, columns, opts_);
    for (size_t l = 0; l < cache_.k.size(); ++l) {
      bigger.k[l].narrow(0, 0, n_slots_).narrow(2, 0, capacity_).copy_(cache_.k[l]);
      bigger.v[l].narrow(0, 0, n_slots_).narrow(2, 0, capacity_).copy_(cache_.v[l]);
    }
    if (next_tokens_.defined() && slots > n_slots_) {
      at::Tensor more_tokens = at::zeros({slots}, next_tokens_.options());
      more_tokens.narrow(0, 0, n_slots_).copy_(next_tokens_);
      next_tokens_ = more_tokens;
    }
    const bool had_graphs = graphs_ != nullptr;
    graphs_.reset();
    cache_ = std::move(bigger);
    capacity_ = columns;
    n_slots_ = slots;
    slots_.resize(static_cast<size_t>(slots));
    most_slots_ = std::max(most_slots_, slots);
    if (had_graphs) graphs_ = std::make_unique<DecodeGraphs>(model_, cache_, next_tokens_, capacity_);
  }

  // Text of generated ids. Models often have more embedding rows than tokenizer pieces (padded
  // vocabularies); an id beyond the tokenizer has no text, so it is left out of the text (kept in
  // the tokens) rather than failing a long run.
  std::string text_of(const std::vector<int>& ids) const {
    std::vector<int> known;
    known.reserve(ids.size());
    for (int id : ids)
      if (id < n_pieces_) known.push_back(id);
    return tokenizer_.decode(known);
  }

  // Records the sampled token of slot s; returns the finish reason, or "" to go on.
  std::string accept(Slot& s, int64_t token) {
    const GenRequest& r = requests_[s.req];
    if (!r.sampling.ignore_eos && std::find(r.stop_ids.begin(), r.stop_ids.end(), token) != r.stop_ids.end())
      return "stop";
    s.tokens.push_back(static_cast<int>(token));
    ++generated_tokens_;
    if (!r.sampling.stop.empty() || r.on_text) {  // extend the text; look for a stop string in the new tail only
      const size_t old_len = s.text.text().size();
      if (token < n_pieces_) s.text.push(static_cast<int>(token));
      const std::string& text = s.text.text();
      const size_t from = old_len > s.max_stop ? old_len - s.max_stop : 0;
      size_t cut = std::string::npos;
      for (const auto& stop : r.sampling.stop) cut = std::min(cut, text.find(stop, from));
      if (cut != std::string::npos) {
        s.cut = text.substr(0, cut);
        return "stop";
      }
      if (r.on_text) r.on_text(r.samples[static_cast<size_t>(s.sample_pos)], text);
    }
    // The token just accepted is fed at column s.len next step, which must exist.
    if (static_cast<int64_t>(s.tokens.size()) >= r.sampling.max_new_tokens || s.len >= capacity_) return "length";
    s.next = token;
    return "";
  }

  // Frees slot s; its request is done when this was its last sample.
  void retire(Slot& s, const std::string& reason) {
    const GenRequest& r = requests_[s.req];
    if (cache_answers_) keep_answer(s);
    GenSample out;
    out.sample = r.samples[static_cast<size_t>(s.sample_pos)];
    out.tokens = std::move(s.tokens);
    // A stop string cut the text; otherwise the whole decode, which also settles the last few ids
    // that the incremental text may still be waiting on.
    out.text = s.cut ? std::move(*s.cut) : text_of(out.tokens);
    out.finish_reason = reason;
    RequestState& st = states_[s.req];
    st.result.samples.push_back(std::move(out));
    s = Slot{};
    if (--st.remaining == 0) {
      std::sort(st.result.samples.begin(), st.result.samples.end(),
                [](const GenSample& a, const GenSample& b) { return a.sample < b.sample; });
      st.result.seconds = std::chrono::duration<double>(Clock::now() - st.start).count();
      on_done_(std::move(st.result));
    }
  }

  // Slot s's prompt and answer as a prefix-cache entry: the tokens it was fed (the prompt and all
  // sampled tokens but the last, which no step has fed) and their columns, per layer [KV, len, D].
  void keep_answer(const Slot& s) {
    const std::vector<int>& prompt = requests_[s.req].prompt_ids;
    const int64_t fed = s.len - static_cast<int64_t>(prompt.size());
    if (fed <= 0) return;  // nothing beyond the prompt, which the prefill kept
    std::vector<int> tokens = prompt;
    tokens.insert(tokens.end(), s.tokens.begin(), s.tokens.begin() + fed);
    const int64_t row = &s - slots_.data();
    std::vector<at::Tensor> k, v;
    for (size_t l = 0; l < cache_.k.size(); ++l) {
      k.push_back(cache_.k[l][row].narrow(1, 0, s.len));
      v.push_back(cache_.v[l][row].narrow(1, 0, s.len));
    }
    prefix_cache_->insert(tokens, k, v);
  }

  // Prefill several waiting requests in one batch (up to `max_rows` of them and about
  // kPrefillTokens tokens of work), then hand each its own slice of the keys and values. Off CUDA
  // the prompts go back to back without padding (prefill_packed): the tokens a prompt starts with
  // in common with an earlier one are computed once, those it starts with in common with a busy
  // slot's prompt or a prefix cache entry are taken from there (cached_starts), and every prompt
  // is kept in the prefix cache; on CUDA right-padded, the path measured there, unless
  // S2D_CUDA_PACKED_PREFILL=1 (docs/notes/gpu-speed.md).
  void prefill_group(int64_t max_rows) {
    constexpr int64_t kPrefillTokens = 8192;
    std::vector<size_t> group;
    std::vector<int64_t> lens;
    int64_t t_max = 0, total = 0;
    while (!waiting_.empty() && static_cast<int64_t>(group.size()) < std::max<int64_t>(1, max_rows)) {
      const auto T = static_cast<int64_t>(requests_[waiting_.front()].prompt_ids.size());
      const int64_t work = packed_prefill_ ? total + T : std::max(t_max, T) * static_cast<int64_t>(group.size() + 1);
      if (!group.empty() && work > kPrefillTokens) break;
      t_max = std::max(t_max, T);
      total += T;
      group.push_back(waiting_.front());
      lens.push_back(T);
      states_[waiting_.front()].start = Clock::now();
      waiting_.pop_front();
    }
    const auto G = static_cast<int64_t>(group.size());
    // Each request's keys and values: per layer [1, KV, lens[g], D] views, and its logits [1, V].
    auto hand_over = [&](int64_t g, const at::Tensor& logits, const std::vector<at::Tensor>& k,
                         const std::vector<at::Tensor>& v, int64_t row, int64_t from) {
      Prefilled p{group[g], 0, {}, {}, logits.narrow(0, g, 1)};
      for (size_t l = 0; l < k.size(); ++l) {  // views: they keep the batch's tensors alive
        p.k.push_back(k[l].narrow(0, row, 1).narrow(2, from, lens[g]));
        p.v.push_back(v[l].narrow(0, row, 1).narrow(2, from, lens[g]));
      }
      prefilled_.push_back(std::move(p));
    };
    if (packed_prefill_) {
      std::vector<int64_t> ids;
      std::vector<const std::vector<int>*> prompts;
      for (size_t r : group) {
        ids.insert(ids.end(), requests_[r].prompt_ids.begin(), requests_[r].prompt_ids.end());
        prompts.push_back(&requests_[r].prompt_ids);
      }
      std::vector<SharedStart> shared = shared_starts(prompts);
      const std::vector<LlamaModel::CachedStart> cached = cached_starts(prompts, shared);
      const LlamaModel::PackedPrefill out = model_.prefill_packed(upload(ids, opts_.device()).view({1, total}), lens,
                                                                  shared, cached);  // per layer [1, KV, total, D]
      prefill_counts_.tokens += total;
      prefill_counts_.computed += out.computed_tokens;
      log::debug(c10::str("prefill: ", G, " prompts, ", total, " tokens, ", out.computed_tokens,
                          " computed (the others start an earlier prompt, a busy slot's or a cached one as well)"));
      for (int64_t g = 0, at = 0; g < G; at += lens[g], ++g) {
        const auto b = static_cast<size_t>(g);
        states_[group[b]].result.cached_prompt_tokens =
            std::max(shared.empty() ? 0 : shared[b].tokens, cached.empty() ? 0 : cached[b].tokens);
        hand_over(g, out.last_logits, out.k, out.v, 0, at);
        if (prefix_cache_)
          prefix_cache_->insert(*prompts[b], first_rows(prefilled_.back().k), first_rows(prefilled_.back().v));
      }
      return;
    }
    std::vector<int64_t> ids(static_cast<size_t>(G * t_max), 0);
    for (int64_t g = 0; g < G; ++g) {
      const auto& p = requests_[group[g]].prompt_ids;
      std::copy(p.begin(), p.end(), ids.begin() + g * t_max);
    }
    KVCache tmp(cfg_, G, t_max, opts_);
    prefill_counts_.tokens += total;
    prefill_counts_.computed += total;
    const at::Tensor logits = model_.prefill_right_padded(upload(ids, opts_.device()).view({G, t_max}),
                                                          upload(lens, opts_.device()), tmp);  // [G, V]
    for (int64_t g = 0; g < G; ++g) hand_over(g, logits, tmp.k, tmp.v, g, 0);  // tmp: per layer [G, KV, t_max, D]
  }

  // Where a busy slot's prompt, or a prompt kept in the prefix cache, starts with more of a group
  // prompt's tokens than any earlier prompt of the group does (`shared`, which loses that entry),
  // those tokens' keys and values come from there instead of being computed: a server's fixed
  // system prompt or few-shot examples, or a question whose other samples are decoding. A busy
  // slot's prompt columns stay as written while it is busy. Empty where no prompt gains; otherwise
  // one entry per prompt, and `shared` one too.
  std::vector<LlamaModel::CachedStart> cached_starts(const std::vector<const std::vector<int>*>& prompts,
                                                     std::vector<SharedStart>& shared) const {
    std::vector<size_t> sources;  // one busy slot per request
    for (size_t si = 0; si < slots_.size(); ++si)
      if (slots_[si].busy &&
          std::none_of(sources.begin(), sources.end(), [&](size_t o) { return slots_[o].req == slots_[si].req; }))
        sources.push_back(si);
    std::vector<LlamaModel::CachedStart> cached;
    for (size_t b = 0; b < prompts.size(); ++b) {
      const std::vector<int>& p = *prompts[b];
      const int64_t in_group = shared.empty() ? 0 : shared[b].tokens;
      int64_t best = in_group;
      std::optional<size_t> slot;                 // the busy slot that gives the start, or
      const PrefixCache::Entry* entry = nullptr;  // the cache entry that does
      for (size_t si : sources)
        if (const int64_t n = common_start(p, requests_[slots_[si].req].prompt_ids, p.size() - 1); n > best) {
          best = n;
          slot = si;
        }
      if (prefix_cache_)
        if (const PrefixCache::Match m = prefix_cache_->longest(p, p.size() - 1); m.tokens > best) {
          best = m.tokens;
          entry = m.entry;
        }
      if (best == in_group) continue;
      cached.resize(prompts.size());
      shared.resize(prompts.size());
      shared[b] = {};
      LlamaModel::CachedStart& c = cached[b];
      c.tokens = best;
      for (size_t l = 0; l < cache_.k.size(); ++l) {  // [KV, best, D] views
        c.k.push_back((entry ? entry->k[l] : cache_.k[l][static_cast<int64_t>(*slot)]).narrow(1, 0, best));
        c.v.push_back((entry ? entry->v[l] : cache_.v[l][static_cast<int64_t>(*slot)]).narrow(1, 0, best));
      }
    }
    return cached;
  }

  // Fill free slots: the n samples of a prefilled request share its cache by copy.
  void admit() {
    if (n_slots_ < max_slots_) grow_slots();
    for (size_t si = 0; si < slots_.size(); ++si) {
      if (slots_[si].busy) continue;
      if (prefilled_.empty()) {
        if (waiting_.empty()) return;
        int64_t free_slots = 0;
        for (const auto& s : slots_) free_slots += !s.busy;
        prefill_group(free_slots);
      }
      Prefilled& p = prefilled_.front();
      const GenRequest& r = requests_[p.req];
      const auto T = static_cast<int64_t>(r.prompt_ids.size());
      for (size_t l = 0; l < cache_.k.size(); ++l) {
        cache_.k[l][si].narrow(1, 0, T).copy_(p.k[l][0]);
        cache_.v[l][si].narrow(1, 0, T).copy_(p.v[l][0]);
      }
      Slot& s = slots_[si];
      s.busy = true;
      s.req = p.req;
      s.sample_pos = p.next_sample_pos++;
      s.len = T;
      s.text = IncrementalText(tokenizer_);
      s.key = sample_seed(r.sampling.seed, r.samples[static_cast<size_t>(s.sample_pos)]);
      for (const auto& stop : r.sampling.stop) s.max_stop = std::max(s.max_stop, stop.size());
      if (on_device_) {  // the first token waits on the device; the next step reads it back
        const int64_t V = p.last_logits.size(1);
        next_tokens_.narrow(0, static_cast<int64_t>(si), 1)
            .copy_(
                sample_on_device(p.last_logits, device_sampling_rows({&r.sampling}, {s.key}, {0}, V, opts_.device())));
        s.drawn = 1;
        if (p.next_sample_pos == static_cast<int>(r.samples.size())) prefilled_.pop_front();
        continue;
      }
      s.gen = make_cpu_generator(s.key);
      const int64_t first = sample_tokens(p.last_logits, {&r.sampling}, {&s.gen}, &sampling_scratch_)[0];
      const bool last_sample = p.next_sample_pos == static_cast<int>(r.samples.size());
      if (last_sample) prefilled_.pop_front();
      if (auto reason = accept(s, first); !reason.empty()) retire(s, reason);
    }
  }

  // One decode step over the busy slots; false when none is busy.
  bool step() { return on_device_ ? step_one_behind() : step_and_wait(); }

  // The cache rows of slots [0, hi): views sharing storage (decode_slots needs batch == hi).
  KVCache slots_below(int64_t hi) const {
    KVCache view = cache_;
    if (hi < n_slots_) {
      for (auto& t : view.k) t = t.narrow(0, 0, hi);
      for (auto& t : view.v) t = t.narrow(0, 0, hi);
    }
    return view;
  }

  // Host sampler: decode, copy the logits to the host, draw, act on the tokens.
  bool step_and_wait() {
    int64_t hi = 0, width = 0;
    for (size_t si = 0; si < slots_.size(); ++si)
      if (slots_[si].busy) {
        hi = static_cast<int64_t>(si) + 1;
        width = std::max(width, slots_[si].len + 1);
      }
    if (hi == 0) return false;
    // Busy slots below `hi` decode together; idle ones in that range feed a dummy token at column 0.
    std::vector<int64_t> ids(static_cast<size_t>(hi), 0), lens(static_cast<size_t>(hi), 0);
    std::vector<const SamplingParams*> params;
    std::vector<at::Generator*> gens;
    for (int64_t b = 0; b < hi; ++b) {
      Slot& s = slots_[static_cast<size_t>(b)];
      ids[b] = s.busy ? s.next : 0;
      lens[b] = s.busy ? s.len : 0;
      params.push_back(s.busy ? &requests_[s.req].sampling : &kGreedy);
      gens.push_back(&s.gen);
    }
    KVCache view = slots_below(hi);
    at::Tensor logits = model_.decode_slots(upload(ids, opts_.device()), upload(lens, opts_.device()), view,
                                            narrow_ ? width : capacity_);  // [hi, V]
    const std::vector<int64_t> next = sample_tokens(logits, params, gens, &sampling_scratch_);
    for (int64_t b = 0; b < hi; ++b) {
      Slot& s = slots_[static_cast<size_t>(b)];
      if (!s.busy) continue;
      s.len += 1;
      if (auto reason = accept(s, next[b]); !reason.empty()) retire(s, reason);
    }
    return true;
  }

  // Whether slot s decodes on after its drawn-but-unread token, unless that token stops it: the
  // negation of accept()'s "length" test, which needs the token's position, not its value.
  bool goes_on_after_unread(const Slot& s) const {
    return static_cast<int64_t>(s.tokens.size()) + 1 < requests_[s.req].sampling.max_new_tokens && s.len < capacity_;
  }

  // Device sampler: every busy slot has one token drawn on the device and not yet read
  // (next_tokens_). Queue step t, which feeds those tokens to the slots that go on, then read them
  // back (the copy was queued before step t, so this waits for step t-1 only) and act on them.
  // A slot that stops on its token was fed at step t anyway: that column and draw go unused.
  bool step_one_behind() {
    int64_t hi = 0, width = 0;
    std::vector<uint8_t> fed(slots_.size(), 0);
    for (size_t si = 0; si < slots_.size(); ++si) {
      const Slot& s = slots_[si];
      if (!s.busy) continue;
      hi = static_cast<int64_t>(si) + 1;
      if (goes_on_after_unread(s)) {
        fed[si] = 1;
        width = std::max(width, s.len + 1);
      }
    }
    if (hi == 0) return false;
    if (graphs_) hi = n_slots_;                         // a graph runs every slot
    at::Tensor unread = next_tokens_.narrow(0, 0, hi);  // [hi] int64, fed to this step
    readback_.start(unread);
    at::Tensor drawn;  // [hi] int64: this step's tokens
    if (width > 0) {
      // Slots that do not go on (and idle ones) feed their token at column 0 of their own rows,
      // which nobody reads again, and draw greedily.
      std::vector<int64_t> lens(static_cast<size_t>(hi), 0), draws(static_cast<size_t>(hi), 0);
      std::vector<uint64_t> keys(static_cast<size_t>(hi), 0);
      std::vector<const SamplingParams*> params;
      for (int64_t b = 0; b < hi; ++b) {
        const Slot& s = slots_[static_cast<size_t>(b)];
        const bool f = fed[static_cast<size_t>(b)] != 0;
        lens[b] = f ? s.len : 0;
        keys[b] = s.key;
        draws[b] = s.drawn;
        params.push_back(f ? &requests_[s.req].sampling : &kGreedy);
      }
      if (graphs_) {
        drawn = graphs_->step(lens, pack_sampling_rows(params, keys, draws, cfg_.vocab_size));
      } else {
        KVCache view = slots_below(hi);
        at::Tensor logits = model_.decode_slots(unread, upload(lens, opts_.device()), view,
                                                narrow_ ? width : capacity_);  // [hi, V]
        drawn = sample_on_device(logits, device_sampling_rows(params, keys, draws, logits.size(1), opts_.device()));
      }
    }
    const at::Tensor& read = readback_.wait();  // [hi] int64 on the host: step t-1's tokens
    const int64_t* token = read.data_ptr<int64_t>();
    for (int64_t b = 0; b < hi; ++b) {
      Slot& s = slots_[static_cast<size_t>(b)];
      if (!s.busy) continue;
      if (auto reason = accept(s, token[b]); !reason.empty()) {
        retire(s, reason);
        continue;
      }
      if (!fed[static_cast<size_t>(b)])
        throw_runtime("decode: a slot went on without being fed", {.field = "slot " + std::to_string(b)});
      s.len += 1;
      s.drawn += 1;
    }
    if (drawn.defined()) unread.copy_(drawn);
    return true;
  }

  static inline const SamplingParams kGreedy{};

  const LlamaModel& model_;
  const Tokenizer& tokenizer_;
  const ModelConfig& cfg_;
  const at::TensorOptions opts_;
  const std::function<void(GenResult&&)>& on_done_;
  const Generator::RequestSource& more_;
  int64_t& generated_tokens_;
  PrefillCounts& prefill_counts_;
  int64_t& most_slots_;        // Generator::most_slots
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
  std::unique_ptr<DecodeGraphs> graphs_;  // EngineOptions::cuda_graphs, where it applies
};

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
  DecodeRun(model_, tokenizer_, opts_, initial, on_done, more, generated_tokens_, prefill_counts_, most_slots_,
            prefix_cache_.get())
      .run();
}

}  // namespace s2d
