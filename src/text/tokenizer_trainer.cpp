#include "s2d/text/tokenizer_trainer.h"

#include <sentencepiece_trainer.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "s2d/util/atomic_file.h"
#include "s2d/util/error.h"
#include "s2d/util/jsonl.h"

namespace s2d {

namespace {

// Feeds sentencepiece from memory: no temporary files, and no file path recorded in the model,
// so that the same text always gives the same tokenizer.model bytes.
class LineIterator : public sentencepiece::SentenceIterator {
 public:
  explicit LineIterator(const std::vector<std::string>& lines) : lines_(lines) {}
  bool done() const override { return i_ >= lines_.size(); }
  void Next() override { ++i_; }
  const std::string& value() const override { return lines_[i_]; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  const std::vector<std::string>& lines_;
  size_t i_ = 0;
};

}  // namespace

int64_t train_tokenizer(const TokenizerTrainOptions& o) {
  // At least the 256 byte pieces, specials and some merges; at most what any model ships (the
  // trainer allocates by the size asked, before it finds the text has fewer merges to give).
  if (o.vocab_size < 300 || o.vocab_size > 1'000'000) {
    throw_input("bad vocabulary size", {.field = "--vocab-size",
                                        .expected = "300..1000000 (256 byte pieces + specials + merges)",
                                        .found = std::to_string(o.vocab_size)});
  }
  std::vector<std::string> lines;  // sentencepiece reads one sentence per line
  auto put = [&](const std::string& s) {
    size_t i = 0;
    while (i <= s.size()) {
      size_t j = s.find('\n', i);
      if (j == std::string::npos) j = s.size();
      if (j > i) lines.push_back(s.substr(i, j - i));
      i = j + 1;
    }
  };
  read_jsonl(o.data_path, [&](int64_t, const nlohmann::json& j) {
    if (j.contains("messages") && j["messages"].is_array())
      for (const auto& m : j["messages"])
        if (m.contains("content") && m["content"].is_string()) put(m["content"]);
    for (const char* f : {"input", "answer"})
      if (j.contains(f) && j[f].is_string()) put(j[f]);
  });
  if (lines.empty())
    throw_input("no text to train a tokenizer on",
                {.file = o.data_path, .expected = "JSONL with messages[].content or input"});
  LineIterator it(lines);
  std::string model;
  const auto st = sentencepiece::SentencePieceTrainer::Train(
      "--vocab_size=" + std::to_string(o.vocab_size) +
          " --model_type=bpe --byte_fallback=true --split_digits=true --character_coverage=1.0"
          " --normalization_rule_name=identity --remove_extra_whitespaces=false --allow_whitespace_only_pieces=true"
          " --unk_id=0 --bos_id=1 --eos_id=2 --pad_id=-1 --num_threads=2 --minloglevel=2"
          " --input_sentence_size=" +
          std::to_string(o.max_sentences) + " --shuffle_input_sentence=true",
      &it, &model);
  if (!st.ok()) {
    throw_input("sentencepiece could not train: " + st.ToString(),
                {.file = o.data_path, .field = "--vocab-size", .found = std::to_string(o.vocab_size)});
  }
  write_file_atomic(o.out_path, model);
  return static_cast<int64_t>(lines.size());
}

}  // namespace s2d
