// Encode throughput of s2d's tokenizer.json reader: every line of a corpus.jsonl ({"text": ...}),
// one thread, the best of R rounds (the BPE cache warm after the first). Prints one JSON line.
// Usage: s2d_bench_tokenize --tokenizer tokenizer.json --corpus corpus.jsonl [--rounds 3]
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "s2d/text/tokenizer.h"
#include "s2d/util/jsonl.h"

namespace {
std::string arg(int argc, char** argv, const std::string& name, const std::string& dflt) {
  for (int i = 1; i + 1 < argc; ++i)
    if (argv[i] == name) return argv[i + 1];
  return dflt;
}
}  // namespace

int main(int argc, char** argv) {
  const s2d::Tokenizer tok = s2d::Tokenizer::load(arg(argc, argv, "--tokenizer", "tokenizer.json"));
  std::vector<std::string> lines;
  size_t bytes = 0;
  for (const auto& j : s2d::read_jsonl_all(arg(argc, argv, "--corpus", "corpus.jsonl"))) {
    lines.push_back(j.at("text").get<std::string>());
    bytes += lines.back().size();
  }
  const int rounds = std::stoi(arg(argc, argv, "--rounds", "3"));
  double best = 1e30;
  size_t tokens = 0;
  for (int r = 0; r < rounds; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    tokens = 0;
    for (const auto& l : lines) tokens += tok.encode(l).size();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::printf("{\"bytes\": %zu, \"tokens\": %zu, \"seconds\": %.4f, \"mb_s\": %.2f, \"tok_s\": %.0f}\n", bytes, tokens,
              best, bytes / best / 1e6, tokens / best);
}
