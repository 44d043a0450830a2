// Tokenizer: a sentencepiece tokenizer.model or a Hugging Face tokenizer.json (byte-level or
// Metaspace BPE: see src/text/hf_tokenizer.cpp for what is supported) behind a pImpl, so this
// header pulls in neither. Special tokens (BOS, EOS, pad) are ids. A sentencepiece `encode` never
// parses "<s>" as a token; a tokenizer.json's added tokens are matched in the text, as HF does.
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
  // Loads a `tokenizer.model`, or a `*.json` as HF's tokenizer.json; InputError naming the file
  // (and the JSON path of an unsupported piece) otherwise.
  static Tokenizer load(const std::string& path);

  // Without the special tokens a tokenizer adds around a text (BOS...).
  std::vector<int> encode(const std::string& text) const;
  // With them, as HF's encode(text, add_special_tokens=True): the post-processor's template for
  // a tokenizer.json, BOS for sentencepiece.
  std::vector<int> encode_with_special(const std::string& text) const;
  // Control (special) tokens decode to nothing; byte-fallback pieces decode to their bytes.
  std::string decode(const std::vector<int>& ids) const;
  std::string id_to_piece(int id) const;
  int piece_to_id(const std::string& piece) const;  // -1 when the piece is not in the vocabulary
  bool is_control(int id) const;

  int vocab_size() const;
  int bos_id() const;
  int eos_id() const;
  int unk_id() const;
  // -1 when the tokenizer has none. sentencepiece models often have no pad piece; callers then pad
  // with EOS or 0 and mask.
  int pad_id() const;
  const std::string& path() const;

  // At least how many tokens `bytes` bytes of text encode to, without encoding them: a token covers
  // at most the longest piece's bytes, and normalisation shrinks text at most 4-fold (NFKC maps a
  // 4-byte letter to 1 byte). Lets a caller refuse a text that cannot fit a context in O(1).
  int64_t min_tokens_for_bytes(size_t bytes) const;

  struct Impl;  // what an implementation provides (src/text/tokenizer_impl.h)

 private:
  std::shared_ptr<const Impl> impl_;  // shared: copies are cheap and share the loaded model
};

// The tokenizer file of a model directory: tokenizer.model when present (the form s2d's models
// and Llama-2 checkpoints ship), else tokenizer.json; "" when it has neither.
std::string find_tokenizer_file(const std::string& model_dir);

}  // namespace s2d
