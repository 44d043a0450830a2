// What a Tokenizer implementation provides (private to src/text): sentencepiece's
// tokenizer.model (sentencepiece_tokenizer.cpp) or HF's tokenizer.json (hf_tokenizer.cpp).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "s2d/text/tokenizer.h"

namespace s2d {

struct Tokenizer::Impl {
  virtual ~Impl() = default;
  std::string path;
  size_t max_piece_bytes = 1;  // the longest piece's bytes, for min_tokens_for_bytes
  int bos = -1, eos = -1, unk = -1, pad = -1;

  virtual std::vector<int> encode(const std::string& text) const = 0;
  // With the special tokens the tokenizer adds itself (HF: add_special_tokens=True).
  virtual std::vector<int> encode_with_special(const std::string& text) const = 0;
  // `ids` are in range (checked by Tokenizer::decode).
  virtual std::string decode(const std::vector<int>& ids) const = 0;
  virtual std::string id_to_piece(int id) const = 0;
  virtual int piece_to_id(const std::string& piece) const = 0;
  virtual bool is_control(int id) const = 0;
  virtual int vocab_size() const = 0;
};

// A token string from tokenizer_config.json ("bos_token": "..." or {"content": "..."}); "" if absent.
std::string config_token_text(const nlohmann::json& cfg, const char* key);

std::shared_ptr<const Tokenizer::Impl> load_sentencepiece(const std::string& path);
std::shared_ptr<const Tokenizer::Impl> load_hf_tokenizer(const std::string& path);

}  // namespace s2d
