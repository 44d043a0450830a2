// Tokenizer: a sentencepiece model behind a pImpl, so this header pulls in no sentencepiece.
// Special tokens (BOS, EOS, pad) are ids; `encode` never adds them and never parses "<s>" as one.
// Thread-safety: const methods may be called from several threads (sentencepiece is re-entrant).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace s2d {

class Tokenizer {
 public:
  // Loads `tokenizer.model`; InputError naming the file when missing or not a sentencepiece model.
  static Tokenizer load(const std::string& path);

  std::vector<int> encode(const std::string& text) const;
  // Control tokens (BOS/EOS/pad) decode to nothing; byte-fallback pieces decode to their bytes.
  std::string decode(const std::vector<int>& ids) const;
  std::string id_to_piece(int id) const;
  int piece_to_id(const std::string& piece) const;  // -1 when the piece is not in the vocabulary
  bool is_control(int id) const;

  int vocab_size() const;
  int bos_id() const;
  int eos_id() const;
  int unk_id() const;
  // sentencepiece models often have no pad piece (-1); callers then pad with EOS or 0 and mask.
  int pad_id() const;
  const std::string& path() const;

  // At least how many tokens `bytes` bytes of text encode to, without encoding them: a token covers
  // at most the longest piece's bytes, and normalisation shrinks text at most 4-fold (NFKC maps a
  // 4-byte letter to 1 byte). Lets a caller refuse a text that cannot fit a context in O(1).
  int64_t min_tokens_for_bytes(size_t bytes) const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;  // shared: copies are cheap and share the loaded model
};

}  // namespace s2d
