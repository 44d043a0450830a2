#include "s2d/text/tokenizer.h"

#include <sentencepiece_processor.h>

#include <algorithm>
#include <filesystem>

#include "s2d/util/atomic_file.h"
#include "s2d/util/error.h"

namespace s2d {

struct Tokenizer::Impl {
  sentencepiece::SentencePieceProcessor sp;
  std::string path;
  size_t max_piece_bytes = 1;  // longest piece's bytes ("\xe2\x96\x81" counted as its 3)
};

Tokenizer Tokenizer::load(const std::string& path) {
  if (!std::filesystem::exists(path)) {
    throw_input("tokenizer not found", {.file = path, .expected = "a sentencepiece tokenizer.model",
                                        .hint = "copy the checkpoint's tokenizer.model into the model directory"});
  }
  require_regular_file(path);
  auto impl = std::make_shared<Impl>();
  impl->path = path;
  const auto status = impl->sp.Load(path);
  if (!status.ok()) {
    throw_input("not a sentencepiece model", {.file = path, .found = status.ToString()});
  }
  for (int id = 0; id < impl->sp.GetPieceSize(); ++id)
    impl->max_piece_bytes = std::max(impl->max_piece_bytes, impl->sp.IdToPiece(id).size());
  Tokenizer t;
  t.impl_ = std::move(impl);
  return t;
}

int64_t Tokenizer::min_tokens_for_bytes(size_t bytes) const {
  return static_cast<int64_t>(bytes / (4 * std::max<size_t>(1, impl_->max_piece_bytes)));
}

std::vector<int> Tokenizer::encode(const std::string& text) const {
  std::vector<int> ids;
  const auto status = impl_->sp.Encode(text, &ids);
  if (!status.ok()) throw_runtime("sentencepiece encode failed: " + status.ToString(), {.file = impl_->path});
  return ids;
}

std::string Tokenizer::decode(const std::vector<int>& ids) const {
  std::vector<int> valid;
  valid.reserve(ids.size());
  const int n = vocab_size();
  for (int id : ids) {
    if (id < 0 || id >= n) {
      throw_input("token id out of range", {.file = impl_->path, .expected = "0.." + std::to_string(n - 1),
                                            .found = std::to_string(id)});
    }
    valid.push_back(id);
  }
  std::string text;
  const auto status = impl_->sp.Decode(valid, &text);
  if (!status.ok()) throw_runtime("sentencepiece decode failed: " + status.ToString(), {.file = impl_->path});
  return text;
}

std::string Tokenizer::id_to_piece(int id) const { return impl_->sp.IdToPiece(id); }
int Tokenizer::piece_to_id(const std::string& piece) const {
  const int id = impl_->sp.PieceToId(piece);
  // PieceToId returns unk for unknown pieces; only the unk piece itself maps to unk legitimately.
  return (id == impl_->sp.unk_id() && piece != impl_->sp.IdToPiece(id)) ? -1 : id;
}
bool Tokenizer::is_control(int id) const { return impl_->sp.IsControl(id); }
int Tokenizer::vocab_size() const { return impl_->sp.GetPieceSize(); }
int Tokenizer::bos_id() const { return impl_->sp.bos_id(); }
int Tokenizer::eos_id() const { return impl_->sp.eos_id(); }
int Tokenizer::unk_id() const { return impl_->sp.unk_id(); }
int Tokenizer::pad_id() const { return impl_->sp.pad_id(); }
const std::string& Tokenizer::path() const { return impl_->path; }

}  // namespace s2d
