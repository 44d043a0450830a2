#include <algorithm>

#include "decode_run.h"
#include "s2d/model/device.h"
#include "s2d/util/env_switch.h"
#include "s2d/util/log.h"

namespace s2d {

namespace {

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

// Per layer [1, KV, T, D] -> per layer [KV, T, D] views.
std::vector<at::Tensor> first_rows(const std::vector<at::Tensor>& per_layer) {
  std::vector<at::Tensor> out;
  for (const auto& t : per_layer) out.push_back(t[0]);
  return out;
}

}  // namespace

bool packed_prefill_on_cuda() {
  static EnvSwitch on("S2D_CUDA_PACKED_PREFILL");
  return on.on();
}

// Prefill several waiting requests in one batch (up to `max_rows` of them and about
// kPrefillTokens tokens of work), then hand each its own slice of the keys and values. Off CUDA
// the prompts go back to back without padding (prefill_packed): the tokens a prompt starts with
// in common with an earlier one are computed once, those it starts with in common with a busy
// slot's prompt or a prefix cache entry are taken from there (cached_starts), and every prompt
// is kept in the prefix cache; on CUDA right-padded, the path measured there, unless
// S2D_CUDA_PACKED_PREFILL=1 (docs/notes/gpu-speed.md).
void DecodeRun::prefill_group(int64_t max_rows) {
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
    counters_.prefill.tokens += total;
    counters_.prefill.computed += out.computed_tokens;
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
  counters_.prefill.tokens += total;
  counters_.prefill.computed += total;
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
std::vector<LlamaModel::CachedStart> DecodeRun::cached_starts(const std::vector<const std::vector<int>*>& prompts,
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

}  // namespace s2d
