// The pieces of a Hugging Face `tokenizers` pipeline (tokenizer.json) that s2d implements:
// normalizers, pre-tokenizers, the BPE model and decoders. Private to src/text: the public face
// is s2d::Tokenizer. Each piece is built from its JSON object; an unsupported "type" is an
// InputError naming the JSON path (e.g. "pre_tokenizer.pretokenizers[1].type").
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace s2d::hf {

// --- UTF-8 -------------------------------------------------------------------------------------

// Byte length of the UTF-8 character starting at s[i] (1 for an invalid lead byte).
size_t utf8_len(std::string_view s, size_t i);
// GPT-2's byte-to-character map, as UTF-8 strings: printable bytes map to themselves, the rest
// to U+0100 and up, so every byte sequence becomes printable text and back.
const std::vector<std::string>& byte_to_unicode();
// Its inverse: the UTF-8 of a mapped character -> its byte (-1 when it is not a mapped one).
int unicode_to_byte(std::string_view ch);
// `bytes` as text, with every invalid UTF-8 sequence replaced by U+FFFD (Rust's from_utf8_lossy).
std::string utf8_lossy(std::string_view bytes);

// --- regex (PCRE2, UTF + Unicode properties) ---------------------------------------------------

class Regex {
 public:
  // InputError naming `where` when the pattern does not compile.
  Regex(const std::string& pattern, const std::string& where);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  // [begin, end) byte offsets of each non-overlapping match in `text`, left to right.
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const;

 private:
  void* code_ = nullptr;  // pcre2_code_8*
};

// --- normalizers and pre-tokenizers ------------------------------------------------------------

// A piece of text on its way to the model; `first` marks the piece that starts the text that
// was encoded (Metaspace's prepend_scheme "first" needs it).
struct Split {
  std::string text;
  bool first = false;
};

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual std::string apply(std::string s) const = 0;
};
// null -> nullptr.
std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& j, const std::string& path);

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  virtual void apply(std::vector<Split>& splits) const = 0;
};
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& j, const std::string& path);

// --- the BPE model ------------------------------------------------------------------------------

class Bpe {
 public:
  Bpe(const nlohmann::json& model, const std::string& path);
  // Appends the ids of one pre-tokenized piece.
  void encode(std::string_view piece, std::vector<int>& out) const;
  int token_to_id(std::string_view token) const;                          // -1 when absent
  const std::vector<std::string>& vocab() const { return id_to_token_; }  // id -> token ("" for holes)
  void add_token(const std::string& token, int id);                       // an added token outside the model's vocab

 private:
  std::unordered_map<std::string, int> token_to_id_;
  std::vector<std::string> id_to_token_;
  std::unordered_map<uint64_t, std::pair<int, int>> merges_;  // (left id, right id) -> (rank, merged id)
  int unk_id_ = -1;
  bool byte_fallback_ = false, fuse_unk_ = false, ignore_merges_ = false;
  int byte_ids_[256];  // "<0xXX>" -> id, -1 when absent
};

// The parts of a "Sequence" component, each built by `make(json, path)`; a null part is skipped.
template <class T, class Make>
std::vector<std::unique_ptr<T>> parts_of(const nlohmann::json& arr, const std::string& path, Make make) {
  std::vector<std::unique_ptr<T>> parts;
  for (size_t i = 0; i < arr.size(); ++i)
    if (auto p = make(arr[i], path + "[" + std::to_string(i) + "]")) parts.push_back(std::move(p));
  return parts;
}

// --- decoders -----------------------------------------------------------------------------------

class Decoder {
 public:
  virtual ~Decoder() = default;
  // Token strings in, token strings out (HF's decode_chain); the result is concatenated.
  virtual std::vector<std::string> apply(std::vector<std::string> tokens) const = 0;
};
std::unique_ptr<Decoder> make_decoder(const nlohmann::json& j, const std::string& path);

}  // namespace s2d::hf
