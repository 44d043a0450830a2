#include "s2d/data/task_generators.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <random>
#include <unordered_set>

#include "s2d/util/error.h"
#include "task_draw.h"

#ifndef S2D_SOURCE_DATA_DIR
#define S2D_SOURCE_DATA_DIR "data"
#endif

namespace s2d {

namespace {

using detail::check_options;
using detail::draw_distinct;
using detail::generate_distinct;
using detail::uniform_below;

char lower_ascii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace

std::string default_names_path() {
  if (const char* dir = std::getenv("S2D_DATA_DIR"); dir && *dir) return std::string(dir) + "/names.txt";
  return std::string(S2D_SOURCE_DATA_DIR) + "/names.txt";
}

std::vector<std::string> load_names(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw_input("cannot open names file", {.file = path, .hint = "pass --names FILE or set S2D_DATA_DIR"});
  std::vector<std::string> names;
  std::unordered_set<std::string> seen;
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    if (seen.insert(line).second) names.push_back(line);
  }
  if (names.size() < 2) {
    throw_input("too few names",
                {.file = path, .expected = ">= 2 distinct names", .found = std::to_string(names.size())});
  }
  return names;
}

std::vector<Task> generate_last_letter(const SyntheticTaskOptions& opt) {
  check_options(opt, "--words");
  return generate_distinct(opt, "last-letter", [&](std::mt19937_64& rng) {
    std::string words, answer;
    for (size_t i : draw_distinct(rng, opt.names.size(), opt.k)) {
      const std::string& w = opt.names[i];
      if (!words.empty()) words += ' ';
      words += w;
      answer += lower_ascii(w.back());
    }
    Task t;
    t.input = "Take the last letters of the words in \"" + words + "\" and concatenate them.";
    t.answer = answer;
    t.meta = {{"words", opt.k}};
    return t;
  });
}

std::vector<Task> generate_coin_flip(const SyntheticTaskOptions& opt) {
  check_options(opt, "--people");
  return generate_distinct(opt, "coin-flip", [&](std::mt19937_64& rng) {
    std::string text = "A coin is heads up.";
    int flips = 0;
    for (size_t i : draw_distinct(rng, opt.names.size(), opt.k)) {
      const bool flip = uniform_below(rng, 2) == 1;
      flips += flip;
      text += " " + opt.names[i] + (flip ? " flips the coin." : " does not flip the coin.");
    }
    text += " Is the coin still heads up?";
    Task t;
    t.input = text;
    t.answer = (flips % 2 == 0) ? "yes" : "no";
    t.meta = {{"people", opt.k}, {"flips", flips}};
    return t;
  });
}

Split split_tasks(std::vector<Task> tasks, double test_fraction, uint64_t seed) {
  if (!(test_fraction > 0.0 && test_fraction < 1.0)) {
    throw_input("split fraction out of range",
                {.field = "--split", .expected = "a test fraction in (0, 1)", .found = std::to_string(test_fraction)});
  }
  std::mt19937_64 rng(seed ^ 0x5eed5eedULL);
  for (size_t i = tasks.size(); i > 1; --i) std::swap(tasks[i - 1], tasks[uniform_below(rng, i)]);
  const auto n_test = static_cast<size_t>(std::llround(static_cast<double>(tasks.size()) * test_fraction));
  if (n_test == 0 || n_test == tasks.size()) {
    throw_input("split leaves one side empty",
                {.field = "--split",
                 .expected = "both splits non-empty",
                 .found = std::to_string(n_test) + " of " + std::to_string(tasks.size()) + " in test"});
  }
  Split s;
  s.test.assign(std::make_move_iterator(tasks.begin()), std::make_move_iterator(tasks.begin() + n_test));
  s.train.assign(std::make_move_iterator(tasks.begin() + n_test), std::make_move_iterator(tasks.end()));
  return s;
}

}  // namespace s2d
