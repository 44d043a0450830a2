// A sentencepiece tokenizer.model behind Tokenizer::Impl.
#include <sentencepiece_processor.h>

#include <algorithm>

#include "s2d/util/error.h"
#include "tokenizer_impl.h"

namespace s2d {

namespace {

class SentencePieceTokenizer : public Tokenizer::Impl {
 public:
  sentencepiece::SentencePieceProcessor sp;

  std::vector<int> encode(const std::string& text) const override {
    std::vector<int> ids;
    const auto status = sp.Encode(text, &ids);
    if (!status.ok()) throw_runtime("sentencepiece encode failed: " + status.ToString(), {.file = path});
    return ids;
  }
  std::vector<int> encode_with_special(const std::string& text) const override {
    std::vector<int> ids = encode(text);
    if (bos >= 0) ids.insert(ids.begin(), bos);  // as Llama's tokenizers do (add_bos_token)
    return ids;
  }
  std::string decode(const std::vector<int>& ids) const override {
    std::string text;
    const auto status = sp.Decode(ids, &text);
    if (!status.ok()) throw_runtime("sentencepiece decode failed: " + status.ToString(), {.file = path});
    return text;
  }
  std::string id_to_piece(int id) const override { return sp.IdToPiece(id); }
  int piece_to_id(const std::string& piece) const override {
    const int id = sp.PieceToId(piece);
    // PieceToId returns unk for unknown pieces; only the unk piece itself maps to unk legitimately.
    return (id == sp.unk_id() && piece != sp.IdToPiece(id)) ? -1 : id;
  }
  bool is_control(int id) const override { return sp.IsControl(id); }
  int vocab_size() const override { return sp.GetPieceSize(); }
};

}  // namespace

std::shared_ptr<const Tokenizer::Impl> load_sentencepiece(const std::string& path) {
  auto t = std::make_shared<SentencePieceTokenizer>();
  t->path = path;
  const auto status = t->sp.Load(path);
  if (!status.ok()) throw_input("not a sentencepiece model", {.file = path, .found = status.ToString()});
  for (int id = 0; id < t->sp.GetPieceSize(); ++id)
    t->max_piece_bytes = std::max(t->max_piece_bytes, t->sp.IdToPiece(id).size());
  t->bos = t->sp.bos_id(), t->eos = t->sp.eos_id(), t->unk = t->sp.unk_id(), t->pad = t->sp.pad_id();
  return t;
}

}  // namespace s2d
