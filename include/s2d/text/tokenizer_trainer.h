// Trains a sentencepiece tokenizer laid out like Llama's (unk 0, <s> 1, </s> 2, BPE, byte
// fallback, digits split, whitespace kept verbatim) on the text of an SFT or task file, for
// models trained from scratch such as the toy world's.
#pragma once

#include <cstdint>
#include <string>

#include "s2d/util/option_set.h"

namespace s2d {

struct TokenizerTrainOptions {
  std::string data_path;  // JSONL: every "messages[].content", "input" and "answer" string is text
  std::string out_path;   // the tokenizer.model to write (atomically)
  int vocab_size = 1000;
  uint64_t max_sentences = 2000000;  // above this, sentencepiece samples lines (not reproducibly)
};

// `s2d model train-tokenizer`'s flags (util/option_set.h); max_sentences is not one.
template <OptionsOf<TokenizerTrainOptions> O, class F>
void visit_options(O& o, F&& f) {
  f("--data", "", o.data_path, "SFT or task JSONL; messages[].content, input and answer are read");
  f("--vocab-size", "", o.vocab_size, "Pieces, including 256 byte pieces and <unk>, <s>, </s>");
  f("--out", "", o.out_path, "tokenizer.model to write");
}

// Returns the number of text lines read. InputError naming the file for no text, or a vocabulary
// size sentencepiece cannot reach on it.
int64_t train_tokenizer(const TokenizerTrainOptions& opts);

}  // namespace s2d
