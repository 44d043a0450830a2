// IncrementalText: the text of a growing list of generated ids, kept up to date in O(window) per
// id instead of re-decoding every id at every step (which made stop-string checks and streaming
// quadratic in the answer's length).
//
// Each push decodes only a short window: the ids since the last settled point plus a few before
// it (the "prefix"), and appends what the window adds beyond the prefix's own text. The prefix is
// there because a decoder treats its first id specially (Metaspace and sentencepiece drop the
// first piece's leading space; Strip removes leading characters), so the window and the prefix
// share that first id and the same treatment. A window whose text ends in U+FFFD (a character
// whose bytes are not all there yet) waits for more ids.
//
// text() is always a prefix of decode(ids), and equals it whenever decode(ids) does not end in
// U+FFFD. Where the window's text does not extend the prefix's (a decoder that rewrites across
// ids), or ids pile up without settling (invalid bytes), it falls back to decoding every id at
// each push, which is exact. The conformance suite checks both properties at every step on the
// four reference tokenizers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "s2d/text/tokenizer.h"

namespace s2d {

class IncrementalText {
 public:
  IncrementalText() = default;  // empty; assign one built with a tokenizer before push
  explicit IncrementalText(const Tokenizer& tokenizer) : tok_(&tokenizer) {}

  void push(int id);
  const std::string& text() const { return text_; }
  const std::vector<int>& ids() const { return ids_; }
  // Pushes that decoded every id (0 on a tokenizer the windows suit).
  int64_t full_decodes() const { return full_decodes_; }

 private:
  std::string decode_range(size_t from, size_t to) const;
  void decode_everything();

  const Tokenizer* tok_ = nullptr;
  std::vector<int> ids_;
  std::string text_;         // decode(ids_[0, read_)) while windowed
  std::string prefix_text_;  // decode(ids_[prefix_, read_)), never empty once prefix_ > 0
  size_t prefix_ = 0;        // window start
  size_t read_ = 0;          // ids settled into text_
  bool whole_ = false;       // fell back: text_ is decode(ids_) at every push
  int64_t full_decodes_ = 0;
};

}  // namespace s2d
