// s2d's tokenizer.json reader against the Python `tokenizers` package, on the tokenizers and the
// 1 MB corpus that make_tokenizer_reference.py writes: identical ids (with and without special
// tokens) and identical decodes for every line, decode(encode(x)) == x for the byte-level ones,
// incremental decoding that never ends inside a UTF-8 character, and IncrementalText equal to the
// whole decode at every step.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "conformance_main.h"
#include "s2d/text/incremental_text.h"
#include "s2d/text/tokenizer.h"
#include "s2d/util/json.h"
#include "s2d/util/jsonl.h"

namespace {

std::string g_dir;

std::vector<std::string> corpus() {
  std::vector<std::string> lines;
  for (const auto& j : s2d::read_jsonl_all(g_dir + "/corpus.jsonl")) lines.push_back(j.at("text").get<std::string>());
  return lines;
}

class TokenizerParity : public ::testing::TestWithParam<std::string> {};

TEST_P(TokenizerParity, IdsAndDecodesEqualTokenizers) {
  const std::string dir = g_dir + "/" + GetParam();
  const s2d::Tokenizer tok = s2d::Tokenizer::load(dir + "/tokenizer.json");
  const auto lines = corpus();
  std::vector<nlohmann::json> ref;
  s2d::read_jsonl(dir + "/reference.jsonl", [&](int64_t, const nlohmann::json& j) { ref.push_back(j); });
  ASSERT_EQ(ref.size(), lines.size());
  size_t bytes = 0, tokens = 0, id_mismatch = 0, special_mismatch = 0, decode_mismatch = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    bytes += lines[i].size();
    const auto ids = tok.encode(lines[i]);
    tokens += ids.size();
    const auto want = ref[i]["ids"].get<std::vector<int>>();
    if (ids != want && id_mismatch++ < 3)
      ADD_FAILURE() << GetParam() << " line " << i + 1 << ": ids differ for " << nlohmann::json(lines[i]).dump();
    if (tok.encode_with_special(lines[i]) != ref[i]["ids_special"].get<std::vector<int>>() && special_mismatch++ < 3)
      ADD_FAILURE() << GetParam() << " line " << i + 1 << ": ids with special tokens differ";
    if (tok.decode(want) != ref[i]["decoded"].get<std::string>() && decode_mismatch++ < 3)
      ADD_FAILURE() << GetParam() << " line " << i + 1
                    << ": decode differs: " << nlohmann::json(tok.decode(want)).dump() << " vs "
                    << ref[i]["decoded"].dump();
  }
  EXPECT_EQ(id_mismatch, 0u);
  EXPECT_EQ(special_mismatch, 0u);
  EXPECT_EQ(decode_mismatch, 0u);
  EXPECT_GE(bytes, size_t{1} << 20);
  std::printf("tokenizer %s: %zu lines, %zu bytes, %zu tokens, ids/decodes identical to tokenizers\n",
              GetParam().c_str(), lines.size(), bytes, tokens);
}

TEST_P(TokenizerParity, RoundTripAndPrefixDecodes) {
  const s2d::Tokenizer tok = s2d::Tokenizer::load(g_dir + "/" + GetParam() + "/tokenizer.json");
  const auto lines = corpus();
  const std::string replacement = "\xEF\xBF\xBD";
  for (size_t i = 0; i < lines.size(); i += 7) {
    const auto ids = tok.encode(lines[i]);
    // Byte-level with no normalizer: decode(encode(x)) == x, special tokens aside, and for texts
    // without "<mask>", whose lstrip takes the spaces before it.
    if (GetParam() == "gpt2" && lines[i].find("<mask>") == std::string::npos) {
      std::string want = lines[i];
      for (const std::string sp : {"<|endoftext|>", "<|im_start|>", "<|im_end|>"})
        for (size_t at; (at = want.find(sp)) != std::string::npos;) want.erase(at, sp.size());
      EXPECT_EQ(tok.decode(ids), want) << "line " << i + 1;
    }
    // What streaming needs: the text of any prefix of the ids, less a trailing U+FFFD (a
    // character whose bytes are not all there yet), is a prefix of the whole text.
    const std::string whole = tok.decode(ids);
    for (size_t k = 1; k < ids.size(); k += 3) {
      std::string part = tok.decode(std::vector<int>(ids.begin(), ids.begin() + static_cast<long>(k)));
      while (part.size() >= 3 && part.compare(part.size() - 3, 3, replacement) == 0) part.resize(part.size() - 3);
      EXPECT_EQ(whole.compare(0, part.size(), part), 0)
          << GetParam() << " line " << i + 1 << ", prefix of " << k << " ids";
    }
  }
}

// The generator's stop strings and streaming read IncrementalText: at every step its text must be
// the whole decode of the ids so far (or, while that ends in U+FFFD, a prefix of it).
void expect_incremental_equals_whole(const s2d::Tokenizer& tok, const std::vector<int>& ids, const std::string& what,
                                     int64_t& full_decodes) {
  static const std::string replacement = "\xEF\xBF\xBD";
  s2d::IncrementalText inc(tok);
  std::vector<int> so_far;
  for (size_t k = 0; k < ids.size(); ++k) {
    inc.push(ids[k]);
    so_far.push_back(ids[k]);
    const std::string whole = tok.decode(so_far);
    const bool pending = whole.size() >= 3 && whole.compare(whole.size() - 3, 3, replacement) == 0;
    if (pending ? whole.compare(0, inc.text().size(), inc.text()) != 0 : inc.text() != whole) {
      ADD_FAILURE() << what << ", after " << k + 1 << " ids: incremental " << nlohmann::json(inc.text()).dump()
                    << " vs whole " << nlohmann::json(whole).dump();
      return;
    }
  }
  full_decodes += inc.full_decodes();
}

TEST_P(TokenizerParity, IncrementalTextEqualsTheWholeDecodeAtEveryStep) {
  const s2d::Tokenizer tok = s2d::Tokenizer::load(g_dir + "/" + GetParam() + "/tokenizer.json");
  const auto lines = corpus();
  int64_t corpus_full = 0, random_full = 0;
  size_t ids_seen = 0;
  int control = -1;
  for (int id = 0; id < tok.vocab_size() && control < 0; ++id)
    if (tok.is_control(id)) control = id;
  ASSERT_GE(control, 0) << GetParam() << " has no control id to interleave";
  for (size_t i = 0; i < lines.size(); i += 5) {
    const auto ids = tok.encode(lines[i]);
    ids_seen += ids.size();
    expect_incremental_equals_whole(tok, ids, GetParam() + " line " + std::to_string(i + 1), corpus_full);
    // A control id (no text) every few ids: a window may not start on one.
    std::vector<int> with_control;
    for (size_t k = 0; k < ids.size(); ++k) {
      with_control.push_back(ids[k]);
      if (k % 4 == 1 && control >= 0) with_control.push_back(control);
    }
    expect_incremental_equals_whole(tok, with_control,
                                    GetParam() + " line " + std::to_string(i + 1) + " with control ids", corpus_full);
  }
  // Ids no text encodes to: random pieces (byte pieces, control ids, lone spaces) in any order.
  uint64_t state = 12345;
  auto next = [&] { return state = state * 6364136223846793005ULL + 1442695040888963407ULL, state >> 33; };
  for (int seq = 0; seq < 200; ++seq) {
    std::vector<int> ids(1 + next() % 40);
    for (int& id : ids) id = static_cast<int>(next() % static_cast<uint64_t>(tok.vocab_size()));
    expect_incremental_equals_whole(tok, ids, GetParam() + " random sequence " + std::to_string(seq), random_full);
  }
  // On real text the windows must do the work: a fallback to whole decodes would be quadratic again.
  EXPECT_EQ(corpus_full, 0) << "pushes that fell back to decoding every id, over " << ids_seen << " corpus ids";
  std::printf("incremental text %s: %zu corpus ids, %lld whole decodes on corpus lines, %lld on random ids\n",
              GetParam().c_str(), ids_seen, static_cast<long long>(corpus_full), static_cast<long long>(random_full));
}

INSTANTIATE_TEST_SUITE_P(All, TokenizerParity, ::testing::Values("gpt2", "llama3", "metaspace", "legacy"));

TEST(TokenizerJson, UnsupportedPiecesNameTheirJsonPath) {
  const std::string path = ::testing::TempDir() + "/bad_tokenizer.json";
  auto expect = [&](const nlohmann::json& j, const std::string& fragment) {
    FILE* f = std::fopen(path.c_str(), "w");
    std::fputs(j.dump().c_str(), f);
    std::fclose(f);
    try {
      s2d::Tokenizer::load(path);
      ADD_FAILURE() << "expected an error for " << fragment;
    } catch (const s2d::Error& e) {
      EXPECT_EQ(e.exit_code(), 2);
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  const nlohmann::json bpe = {{"type", "BPE"}, {"vocab", {{"a", 0}}}, {"merges", nlohmann::json::array()}};
  expect({{"model", {{"type", "Unigram"}, {"vocab", nlohmann::json::array()}}}}, "'model.type'");
  expect({{"model", bpe}, {"pre_tokenizer", {{"type", "Sequence"}, {"pretokenizers", {{{"type", "Whitespace"}}}}}}},
         "'pre_tokenizer.pretokenizers[0].type'");
  expect({{"model", bpe}, {"normalizer", {{"type", "BertNormalizer"}}}}, "'normalizer.type'");
  expect({{"model", bpe}, {"decoder", {{"type", "WordPiece"}}}}, "'decoder.type'");
  expect({{"model", bpe}, {"post_processor", {{"type", "RobertaProcessing"}}}}, "'post_processor.type'");
  expect({{"model", {{"type", "BPE"}, {"vocab", {{"a", 0}}}, {"merges", {"a b"}}}}}, "'model.merges[0]'");
}

}  // namespace

int main(int argc, char** argv) {
  g_dir = s2d::conformance::Flags(argc, argv).get("--dir");
  if (g_dir.empty())
    return s2d::conformance::usage("s2d_tokenizer_conformance_tests --dir DIR (made by make_tokenizer_reference.py)");
  return RUN_ALL_TESTS();
}
