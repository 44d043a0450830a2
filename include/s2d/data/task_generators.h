// Synthetic task generators after the Rephrase-and-Respond datasets (Deng et al. 2023), which the
// System 2 distillation paper (Yu et al. 2024) used:
//   last-letter: Take the last letters of the words in "A B" and concatenate them.  -> "ab"
//   coin-flip:   A coin is heads up. X flips the coin. ... Is the coin still heads up? -> "yes"/"no"
// Deterministic: the same options give byte-identical output on every platform (own RNG helpers,
// no std::uniform_int_distribution, whose output is implementation-defined).
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "s2d/data/task.h"

namespace s2d {

// The most questions one draw makes: a draw holds them all (and a set of their texts) in memory to
// keep them distinct, and no System 2 study needs more.
inline constexpr int64_t kMaxTasksPerDraw = 1'000'000;

struct SyntheticTaskOptions {
  int64_t n = 100;  // number of distinct questions
  int k = 2;        // words (last-letter) or people (coin-flip) per question
  uint64_t seed = 0;
  std::vector<std::string> names;  // word pool, see load_names()
  std::set<std::string> exclude;   // inputs that must not be generated (other splits, corpora)
};

// Reads a names file: one name per line, '#' comments and blank lines skipped; at least 2 names.
std::vector<std::string> load_names(const std::string& path);
// The names file shipped in data/: $S2D_DATA_DIR/names.txt, else the source tree's data/.
std::string default_names_path();

std::vector<Task> generate_last_letter(const SyntheticTaskOptions& opt);
std::vector<Task> generate_coin_flip(const SyntheticTaskOptions& opt);

// Deterministic shuffle, then the first round(n * test_fraction) tasks form the test split.
// Questions are distinct, so no question lands in both splits.
struct Split {
  std::vector<Task> train, test;
};
Split split_tasks(std::vector<Task> tasks, double test_fraction, uint64_t seed);

}  // namespace s2d
