#include "s2d/engine/prefix_cache.h"

#include <ATen/ATen.h>

#include <algorithm>

namespace s2d {

int64_t common_start(const std::vector<int>& p, const std::vector<int>& q, size_t most) {
  most = std::min({most, p.size(), q.size()});
  return static_cast<int64_t>(std::mismatch(p.begin(), p.begin() + static_cast<ptrdiff_t>(most), q.begin()).first -
                              p.begin());
}

PrefixCache::Match PrefixCache::longest(const std::vector<int>& prompt, size_t most) {
  auto best = entries_.end();
  int64_t best_tokens = 0;
  for (auto it = entries_.begin(); it != entries_.end(); ++it)
    if (const int64_t n = common_start(prompt, it->tokens, most); n > best_tokens) {
      best = it;
      best_tokens = n;
    }
  if (best == entries_.end()) return {};
  entries_.splice(entries_.begin(), entries_, best);
  return {.entry = &entries_.front(), .tokens = best_tokens};
}

void PrefixCache::insert(const std::vector<int>& tokens, const std::vector<at::Tensor>& k,
                         const std::vector<at::Tensor>& v) {
  if (tokens.empty() || k.empty()) return;
  Entry e{.tokens = tokens};
  for (size_t l = 0; l < k.size(); ++l) e.bytes += static_cast<uint64_t>(k[l].nbytes() + v[l].nbytes());
  // Over the whole budget: not kept, and the entries it would extend stay (no entry can hold it).
  if (e.bytes > budget_) return;
  for (auto it = entries_.begin(); it != entries_.end();) {
    const auto n = static_cast<size_t>(common_start(tokens, it->tokens, tokens.size()));
    if (n == tokens.size()) {  // held already: make it the most recent
      entries_.splice(entries_.begin(), entries_, it);
      return;
    }
    if (n == it->tokens.size()) {  // this prompt extends the entry, which it replaces
      bytes_ -= it->bytes;
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  // Room first, then the copies: the cache never holds more than its budget.
  while (!entries_.empty() && (bytes_ + e.bytes > budget_ || entries_.size() >= kMaxEntries)) {
    bytes_ -= entries_.back().bytes;
    entries_.pop_back();
  }
  for (size_t l = 0; l < k.size(); ++l) {
    e.k.push_back(k[l].clone(at::MemoryFormat::Contiguous));
    e.v.push_back(v[l].clone(at::MemoryFormat::Contiguous));
  }
  bytes_ += e.bytes;
  entries_.push_front(std::move(e));
}

}  // namespace s2d
