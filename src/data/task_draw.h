// Deterministic draws shared by the task generators (generators.cpp, toy/world.cpp): our own
// integer sampling, because std::uniform_int_distribution's output differs between platforms.
#pragma once

#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "s2d/data/task_generators.h"
#include "s2d/util/error.h"

namespace s2d::detail {

// Unbiased integer in [0, n) from a 64-bit Mersenne Twister, identical on every platform.
inline uint64_t uniform_below(std::mt19937_64& rng, uint64_t n) {
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do x = rng();
  while (x >= limit);
  return x % n;
}

// k distinct indices from [0, n), in draw order (partial Fisher-Yates).
inline std::vector<size_t> draw_distinct(std::mt19937_64& rng, size_t n, int k) {
  std::vector<size_t> idx(n);
  for (size_t i = 0; i < n; ++i) idx[i] = i;
  for (int i = 0; i < k; ++i) std::swap(idx[i], idx[i + uniform_below(rng, n - i)]);
  idx.resize(k);
  return idx;
}

inline void check_n(const SyntheticTaskOptions& opt) {
  if (opt.n <= 0 || opt.n > kMaxTasksPerDraw)
    throw_input("bad number of questions",
                {.field = "--n", .expected = "1.." + std::to_string(kMaxTasksPerDraw), .found = std::to_string(opt.n)});
}

inline void check_options(const SyntheticTaskOptions& opt, const char* what_k) {
  check_n(opt);
  if (opt.k <= 0) {
    throw_input("must be positive", {.field = what_k, .expected = ">= 1", .found = std::to_string(opt.k)});
  }
  if (opt.names.size() < static_cast<size_t>(opt.k)) {
    throw_input("not enough names for distinct words per question",
                {.field = what_k,
                 .expected = "<= " + std::to_string(opt.names.size()) + " (names available)",
                 .found = std::to_string(opt.k)});
  }
}

// Draws questions until `n` distinct ones exist; gives up with a clear error when the space of
// questions is too small (e.g. 1 word from 3 names) rather than looping forever.
template <typename MakeFn>
std::vector<Task> generate_distinct(const SyntheticTaskOptions& opt, const std::string& task_name, MakeFn make) {
  std::mt19937_64 rng(opt.seed);
  std::vector<Task> out;
  std::unordered_set<std::string> seen(opt.exclude.begin(), opt.exclude.end());
  const int64_t max_attempts = opt.n * 50 + 1000;
  int64_t attempts = 0;
  while (static_cast<int64_t>(out.size()) < opt.n) {
    if (++attempts > max_attempts) {
      throw_input("cannot find enough distinct questions",
                  {.field = "--n",
                   .expected = "at most about " + std::to_string(out.size()),
                   .found = std::to_string(opt.n),
                   .hint = "use more names, a larger k, or fewer excluded tasks"});
    }
    Task t = make(rng);
    if (!seen.insert(t.input).second) continue;
    char id[96];
    std::snprintf(id, sizeof id, "%s-k%d-s%llu-%06zu", task_name.c_str(), opt.k,
                  static_cast<unsigned long long>(opt.seed), out.size());
    t.id = id;
    t.task = task_name;
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace s2d::detail
