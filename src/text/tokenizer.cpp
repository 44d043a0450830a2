#include "s2d/text/tokenizer.h"

#include <algorithm>
#include <filesystem>

#include "s2d/util/atomic_file.h"
#include "s2d/util/error.h"
#include "tokenizer_impl.h"

namespace s2d {

Tokenizer Tokenizer::load(const std::string& path) {
  if (!std::filesystem::exists(path)) {
    throw_input("tokenizer not found", {.file = path,
                                        .expected = "a sentencepiece tokenizer.model or a tokenizer.json",
                                        .hint = "copy the checkpoint's tokenizer files into the model directory"});
  }
  require_regular_file(path);
  Tokenizer t;
  const bool json = path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0;
  t.impl_ = json ? load_hf_tokenizer(path) : load_sentencepiece(path);
  return t;
}

std::vector<int> Tokenizer::encode(const std::string& text) const { return impl_->encode(text); }
std::vector<int> Tokenizer::encode_with_special(const std::string& text) const {
  return impl_->encode_with_special(text);
}

std::string Tokenizer::decode(const std::vector<int>& ids) const {
  const int n = vocab_size();
  for (int id : ids) {
    if (id < 0 || id >= n) {
      throw_input("token id out of range",
                  {.file = impl_->path, .expected = "0.." + std::to_string(n - 1), .found = std::to_string(id)});
    }
  }
  return impl_->decode(ids);
}

std::string Tokenizer::id_to_piece(int id) const { return impl_->id_to_piece(id); }
int Tokenizer::piece_to_id(const std::string& piece) const { return impl_->piece_to_id(piece); }
bool Tokenizer::is_control(int id) const { return impl_->is_control(id); }
int Tokenizer::vocab_size() const { return impl_->vocab_size(); }
int Tokenizer::bos_id() const { return impl_->bos; }
int Tokenizer::eos_id() const { return impl_->eos; }
int Tokenizer::unk_id() const { return impl_->unk; }
int Tokenizer::pad_id() const { return impl_->pad; }
const std::string& Tokenizer::path() const { return impl_->path; }

std::string find_tokenizer_file(const std::string& model_dir) {
  for (const char* name : {"tokenizer.model", "tokenizer.json"}) {
    const auto p = std::filesystem::path(model_dir) / name;
    if (std::filesystem::exists(p)) return p.string();
  }
  return "";
}

int64_t Tokenizer::min_tokens_for_bytes(size_t bytes) const {
  return static_cast<int64_t>(bytes / (4 * std::max<size_t>(1, impl_->max_piece_bytes)));
}

}  // namespace s2d
