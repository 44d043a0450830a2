#include "decode_run.h"

#include <algorithm>

#include "s2d/engine/cache_sizing.h"
#include "s2d/engine/device_sampling.h"
#include "s2d/model/capture_audit.h"
#include "s2d/model/device.h"
#include "s2d/model/graph_memory.h"
#include "s2d/util/error.h"

namespace s2d {

namespace {

// Cache columns a request can use: its prompt and its new tokens, a max_new_tokens past the
// context counted as the context (no sequence outgrows it, and the sum cannot overflow).
int64_t columns_of(const GenRequest& r, const ModelConfig& cfg) {
  return static_cast<int64_t>(r.prompt_ids.size()) + std::min(r.sampling.max_new_tokens, cfg.max_context());
}

}  // namespace

DecodeRun::DecodeRun(const LlamaModel& model, const Tokenizer& tokenizer, const EngineOptions& engine,
                     const std::vector<GenRequest>& initial, const std::function<void(GenResult&&)>& on_done,
                     const Generator::RequestSource& more, EngineCounters& counters, PrefixCache* prefix_cache)
    : model_(model),
      tokenizer_(tokenizer),
      cfg_(model.config()),
      opts_(model.options()),
      on_done_(on_done),
      more_(more),
      counters_(counters),
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
              (engine.width == EngineOptions::Width::Auto && !takes_cuda_defaults(opts_.device()))),
      on_device_(engine.sampler == EngineOptions::Sampler::Device ||
                 (engine.sampler == EngineOptions::Sampler::Auto && takes_cuda_defaults(opts_.device()))),
      cache_(cfg_, n_slots_, capacity_, opts_),
      slots_(static_cast<size_t>(n_slots_)) {
  if (on_device_) next_tokens_ = at::zeros({n_slots_}, opts_.dtype(at::kLong));
  use_graphs_ = on_device_ && !narrow_ && (engine.cuda_graphs || DecodeGraphs::switched_on()) &&
                DecodeGraphs::applies(opts_.device());
  for (size_t i = 0; i < requests_.size(); ++i) enqueue(i);
}

void DecodeRun::run() {
  while (true) {
    if (more_ && waiting_.empty() && prefilled_.empty() && (any_slot_free() || n_slots_ < max_slots_))
      pull();  // arrivals join this run
    admit();   // where the cache gains slots, if it does
    counters_.most_slots = std::max(counters_.most_slots, n_slots_);
    if (step()) continue;
    if (waiting_.empty() && prefilled_.empty() && !pull()) break;
  }
}

// CUDA, or the CPU rehearsing it with graphs emulated: there the Auto width and sampler are CUDA's,
// so the graph path that a GPU takes by default runs on the CPU too.
bool DecodeRun::takes_cuda_defaults(const c10::Device& device) {
  return device.is_cuda() || (device.is_cpu() && graphs_emulated_on_cpu());
}

// Cache columns for the longest prompt + max_new_tokens, within the model's context.
int64_t DecodeRun::columns_needed(const std::deque<GenRequest>& requests, const ModelConfig& cfg) {
  int64_t c = 1;
  for (const auto& r : requests) c = std::max<int64_t>(c, columns_of(r, cfg));
  return std::min(c, cfg.max_context());
}

int64_t DecodeRun::samples_in(const std::deque<GenRequest>& requests) {
  int64_t n = 0;
  for (const auto& r : requests) n += static_cast<int64_t>(r.samples.size());
  return n;
}

bool DecodeRun::any_slot_free() const {
  return std::any_of(slots_.begin(), slots_.end(), [](const Slot& s) { return !s.busy; });
}

void DecodeRun::enqueue(size_t i) {
  states_.emplace_back();
  states_[i].result.index = i;
  states_[i].remaining = static_cast<int>(requests_[i].samples.size());
  if (states_[i].remaining > 0) waiting_.push_back(i);
}

// Takes what the source has (each request must fit what the cache can grow to, and grows it
// when longer than the cache); false when it had nothing.
bool DecodeRun::pull() {
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

// Fill free slots: the n samples of a prefilled request share its cache by copy.
void DecodeRun::admit() {
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
          .copy_(sample_on_device(p.last_logits, device_sampling_rows({&r.sampling}, {s.key}, {0}, V, opts_.device())));
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

// Text of generated ids. Models often have more embedding rows than tokenizer pieces (padded
// vocabularies); an id beyond the tokenizer has no text, so it is left out of the text (kept in
// the tokens) rather than failing a long run.
std::string DecodeRun::text_of(const std::vector<int>& ids) const {
  std::vector<int> known;
  known.reserve(ids.size());
  for (int id : ids)
    if (id < n_pieces_) known.push_back(id);
  return tokenizer_.decode(known);
}

// Records the sampled token of slot s; returns the finish reason, or "" to go on.
std::string DecodeRun::accept(Slot& s, int64_t token) {
  const GenRequest& r = requests_[s.req];
  if (!r.sampling.ignore_eos && std::find(r.stop_ids.begin(), r.stop_ids.end(), token) != r.stop_ids.end())
    return "stop";
  s.tokens.push_back(static_cast<int>(token));
  ++counters_.generated_tokens;
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
void DecodeRun::retire(Slot& s, const std::string& reason) {
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
void DecodeRun::keep_answer(const Slot& s) {
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

// A cache of at least `need` columns: half as many again as now, so that a run of arrivals
// regrows rarely.
void DecodeRun::grow_columns(int64_t need) {
  resize_cache(n_slots_, std::min(limit_, std::max(need, capacity_ + capacity_ / 2)));
}

// More slots where samples wait that the free ones cannot take (slots_to_grow_to): a run starts
// with as many as its first requests need, so that a quiet server with a large --batch-size does
// not allocate and zero a cache for slots nobody uses.
void DecodeRun::grow_slots() {
  int64_t needed = 0;
  for (const Slot& s : slots_) needed += s.busy;
  for (size_t r : waiting_) needed += static_cast<int64_t>(requests_[r].samples.size());
  for (const Prefilled& p : prefilled_)
    needed += static_cast<int64_t>(requests_[p.req].samples.size()) - p.next_sample_pos;
  const int64_t slots = slots_to_grow_to(n_slots_, needed, max_slots_, capacity_, cfg_, dtype(), free_bytes_);
  if (slots > n_slots_) resize_cache(slots, capacity_);
}

// A cache of `slots` x `columns` holding every busy slot's columns. The device finishes what it
// has queued first (it reads the old cache and, under graphs, the old graphs' buffers); the graphs,
// captured on the old cache, are captured again on the new one as the steps need them. Between
// steps a busy slot has written columns [0, len) and reads no others, so only the first
// max(len) columns are copied: less to copy, and on the CPU the new cache's pages past them stay
// untouched (KVCache's zeros take memory only where written).
void DecodeRun::resize_cache(int64_t slots, int64_t columns) {
  wait_for_queue(opts_.device());
  KVCache bigger(cfg_, slots, columns, opts_);
  int64_t filled = 0;
  for (const Slot& s : slots_)
    if (s.busy) filled = std::max(filled, s.len);
  for (size_t l = 0; l < cache_.k.size(); ++l) {  // [slots, KV, columns, D] each
    bigger.k[l].narrow(0, 0, n_slots_).narrow(2, 0, filled).copy_(cache_.k[l].narrow(2, 0, filled));
    bigger.v[l].narrow(0, 0, n_slots_).narrow(2, 0, filled).copy_(cache_.v[l].narrow(2, 0, filled));
  }
  if (next_tokens_.defined() && slots > n_slots_) {
    at::Tensor more_tokens = at::zeros({slots}, next_tokens_.options());
    more_tokens.narrow(0, 0, n_slots_).copy_(next_tokens_);
    next_tokens_ = more_tokens;
  }
  graphs_.clear();        // captured on the old cache and buffers: made again as the steps need them
  graph_memory_.reset();  // its pool goes with the old graphs; the bigger ones start a new one
  cache_ = std::move(bigger);
  capacity_ = columns;
  n_slots_ = slots;
  slots_.resize(static_cast<size_t>(slots));
}

// The slots a graph step runs when slots [0, busy) must: the next power of two, or all of them.
int64_t DecodeRun::graph_bucket(int64_t busy) const {
  int64_t m = 1;
  while (m < busy) m *= 2;
  return std::min(m, n_slots_);
}

DecodeGraphs& DecodeRun::graphs_for(int64_t slots) {
  auto& g = graphs_[slots];
  if (!g) {
    if (!graph_memory_) graph_memory_ = make_graph_memory();
    g = std::make_unique<DecodeGraphs>(model_, slots_below(slots), next_tokens_.narrow(0, 0, slots), capacity_,
                                       graph_memory_);
    ++counters_.graph_buckets;
  }
  return *g;
}

}  // namespace s2d
