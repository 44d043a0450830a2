// Keys and values of prompts prefilled earlier, kept after their slots and runs are gone, so that
// a later prompt that starts the same way takes them instead of computing them: a server's fixed
// system prompt or an evaluation harness's few-shot block, sent by one client after another or in
// waves that never overlap a busy slot. The least recently used entries go first once the entries
// pass their byte budget.
//
// Entries hold copies, per layer [KV, n, D] on the model's device in its dtype. Not thread-safe:
// the Generator that owns it runs one run() at a time.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <list>
#include <vector>

namespace s2d {

// How many tokens p and q start with in common, at most `most`.
int64_t common_start(const std::vector<int>& p, const std::vector<int>& q, size_t most);

class PrefixCache {
 public:
  struct Entry {
    std::vector<int> tokens;
    std::vector<at::Tensor> k, v;  // per layer [KV, tokens.size(), D]
    uint64_t bytes = 0;
  };
  struct Match {
    const Entry* entry = nullptr;  // null: no entry starts as the prompt does
    int64_t tokens = 0;            // how many of the prompt's first tokens it holds
  };

  // At most `budget_bytes` of keys and values in at most kMaxEntries entries (a lookup scans them all).
  explicit PrefixCache(uint64_t budget_bytes) : budget_(budget_bytes) {}
  static constexpr size_t kMaxEntries = 4096;

  // The entry that starts with the most of `prompt`'s first tokens, at most `most` of them; it
  // becomes the most recently used.
  Match longest(const std::vector<int>& prompt, size_t most);
  // Keeps a copy of a prompt's keys and values (per layer [KV, tokens.size(), D]; views are fine),
  // unless an entry already holds all of it. An entry that this one extends is dropped. A prompt
  // larger than the whole budget is not kept; the least recently used entries make room.
  void insert(const std::vector<int>& tokens, const std::vector<at::Tensor>& k, const std::vector<at::Tensor>& v);

  uint64_t bytes() const { return bytes_; }
  size_t size() const { return entries_.size(); }

 private:
  uint64_t budget_;
  uint64_t bytes_ = 0;
  std::list<Entry> entries_;  // most recently used first
};

}  // namespace s2d
