// A Hugging Face tokenizer.json as Tokenizer::Impl, for the BPE tokenizers of today's checkpoints
// (Llama-3, Qwen2/3, SmolLM2, Mistral, Llama-2 exports). Encoding follows tokenizers' order:
//   added tokens are matched in the raw text (leftmost-longest, with lstrip/rstrip/single_word);
//   each stretch between them is normalized, pre-tokenized into pieces, and each piece BPE-encoded.
// Supported: model BPE (merges as strings or pairs, byte_fallback, fuse_unk, ignore_merges,
// unk_token); normalizers NFC/NFD/NFKC/NFKD, Prepend, Replace, Sequence; pre-tokenizers ByteLevel,
// Split, Digits, Metaspace, Sequence; post-processors TemplateProcessing, ByteLevel, Sequence;
// decoders ByteLevel, Metaspace, ByteFallback, Fuse, Strip, Replace, Sequence. Anything else is an
// InputError naming its JSON path. Tokens marked "normalized" are matched in the raw text too,
// which is the same for every tokenizer whose normalizer leaves them alone (all of the above).
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <mutex>
#include <unordered_map>

#include "hf_parts.h"
#include "s2d/util/error.h"
#include "s2d/util/json.h"
#include "tokenizer_impl.h"

namespace s2d {

namespace {

using nlohmann::json;

struct AddedToken {
  std::string content;
  int id = -1;
  bool special = false, lstrip = false, rstrip = false, single_word = false;
};

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_word_byte(unsigned char c) { return std::isalnum(c) || c == '_' || c >= 0x80; }

class HfTokenizer : public Tokenizer::Impl {
 public:
  explicit HfTokenizer(const std::string& file) {
    path = file;
    const json j = read_json_file(file);
    if (!j.is_object()) throw_input("tokenizer.json is not a JSON object", {.file = file});
    with_context([&] {
      model_ = std::make_unique<hf::Bpe>(j.value("model", json()), "model");
      normalizer_ = hf::make_normalizer(j.value("normalizer", json()), "normalizer");
      pre_ = hf::make_pre_tokenizer(j.value("pre_tokenizer", json()), "pre_tokenizer");
      decoder_ = hf::make_decoder(j.value("decoder", json()), "decoder");
      read_added_tokens(j.value("added_tokens", json::array()));
      read_post_processor(j.value("post_processor", json()), "post_processor");
    });
    for (const auto& t : model_->vocab()) max_piece_bytes = std::max(max_piece_bytes, t.size());
    unk = -1;
    // BOS, EOS and pad are not in tokenizer.json; transformers reads them from tokenizer_config.json.
    const auto cfg_path = std::filesystem::path(file).parent_path() / "tokenizer_config.json";
    json cfg;
    if (std::filesystem::exists(cfg_path)) cfg = read_json_file(cfg_path.string());
    auto id_of = [&](const char* key) {
      const std::string t = config_token_text(cfg, key);
      return t.empty() ? -1 : model_->token_to_id(t);
    };
    bos = id_of("bos_token");
    if (bos < 0 && !prefix_.empty()) bos = prefix_.front();
    eos = id_of("eos_token");
    pad = id_of("pad_token");
    unk = id_of("unk_token");
  }

  std::vector<int> encode(const std::string& raw) const override {
    const std::string text = hf::utf8_lossy(raw);  // HF takes only valid Unicode
    std::vector<int> ids;
    size_t seg_start = 0;
    auto encode_stretch = [&](size_t b, size_t e) {
      if (e <= b) return;
      std::string s = text.substr(b, e - b);
      if (normalizer_) s = normalizer_->apply(std::move(s));
      std::vector<hf::Split> splits = {{std::move(s), b == 0}};
      if (pre_) pre_->apply(splits);
      for (const auto& sp : splits) encode_piece(sp.text, ids);
    };
    size_t i = 0;
    while (i < text.size()) {
      size_t mb = 0, me = 0;
      const AddedToken* t = match_at(text, i, mb, me);
      if (t == nullptr) {
        ++i;
        continue;
      }
      encode_stretch(seg_start, mb);
      ids.push_back(t->id);
      seg_start = i = me;
    }
    encode_stretch(seg_start, text.size());
    return ids;
  }

  std::vector<int> encode_with_special(const std::string& text) const override {
    std::vector<int> ids = prefix_;
    const std::vector<int> body = encode(text);
    ids.insert(ids.end(), body.begin(), body.end());
    ids.insert(ids.end(), suffix_.begin(), suffix_.end());
    return ids;
  }

  std::string decode(const std::vector<int>& ids) const override {
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (int id : ids) {
      if (is_control(id)) continue;  // skip_special_tokens=True
      tokens.push_back(model_->vocab()[static_cast<size_t>(id)]);
    }
    if (!decoder_) {  // HF joins with spaces when a tokenizer has no decoder
      std::string out;
      for (size_t k = 0; k < tokens.size(); ++k) out += (k ? " " : "") + tokens[k];
      return out;
    }
    std::string out;
    for (const auto& s : decoder_->apply(std::move(tokens))) out += s;
    return out;
  }

  std::string id_to_piece(int id) const override {
    return id >= 0 && static_cast<size_t>(id) < model_->vocab().size() ? model_->vocab()[static_cast<size_t>(id)] : "";
  }
  int piece_to_id(const std::string& piece) const override { return model_->token_to_id(piece); }
  bool is_control(int id) const override { return special_ids_.count(id) > 0; }
  int vocab_size() const override { return static_cast<int>(model_->vocab().size()); }

 private:
  template <class Fn>
  void with_context(Fn&& fn) {
    try {
      fn();
    } catch (const Error& e) {  // name the file in errors about its JSON paths
      ErrorContext c = e.context();
      if (c.file.empty()) c.file = path;
      throw Error(e.kind(), e.message(), c);
    }
  }

  void read_added_tokens(const json& arr) {
    if (!arr.is_array()) throw_input("bad added_tokens", {.field = "added_tokens", .expected = "an array"});
    for (size_t k = 0; k < arr.size(); ++k) {
      const json& a = arr[k];
      const std::string where = "added_tokens[" + std::to_string(k) + "]";
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || !a.contains("content") ||
          !a["content"].is_string() || a["content"].get<std::string>().empty() || a["id"].get<int64_t>() < 0 ||
          a["id"].get<int64_t>() >= (1 << 24))
        throw_input("bad added token", {.field = where, .expected = "{\"id\": N, \"content\": \"...\"}"});
      AddedToken t{a["content"].get<std::string>(), a["id"].get<int>(),       a.value("special", false),
                   a.value("lstrip", false),        a.value("rstrip", false), a.value("single_word", false)};
      if (model_->token_to_id(t.content) != t.id) model_->add_token(t.content, t.id);
      if (t.special) special_ids_.insert({t.id, true});
      by_first_byte_[static_cast<unsigned char>(t.content[0])].push_back(added_.size());
      added_.push_back(std::move(t));
    }
    // Longest first, so that the first match found at a position is the longest one there.
    for (auto& v : by_first_byte_)
      std::sort(v.begin(), v.end(),
                [&](size_t a, size_t b) { return added_[a].content.size() > added_[b].content.size(); });
  }

  void read_post_processor(const json& p, const std::string& where) {
    if (p.is_null()) return;
    const std::string type = p.is_object() ? p.value("type", std::string()) : std::string();
    if (type == "ByteLevel") return;  // offsets only
    if (type == "Sequence" && p.contains("processors") && p["processors"].is_array()) {
      for (size_t k = 0; k < p["processors"].size(); ++k)
        read_post_processor(p["processors"][k], where + ".processors[" + std::to_string(k) + "]");
      return;
    }
    if (type == "TemplateProcessing" && p.contains("single") && p["single"].is_array()) {
      bool seen_sequence = false;
      for (const auto& piece : p["single"]) {
        if (piece.contains("Sequence")) {
          seen_sequence = true;
        } else if (piece.contains("SpecialToken") && piece["SpecialToken"].contains("id")) {
          const std::string name = piece["SpecialToken"]["id"].get<std::string>();
          const json& st = p.value("special_tokens", json::object());
          if (!st.contains(name) || !st[name].contains("ids") || !st[name]["ids"].is_array())
            throw_input("template names an undeclared special token",
                        {.field = where + ".special_tokens", .found = name});
          for (const auto& id : st[name]["ids"]) (seen_sequence ? suffix_ : prefix_).push_back(id.get<int>());
        }
      }
      return;
    }
    throw_input("unsupported tokenizer component", {.field = where + ".type",
                                                    .expected = "TemplateProcessing|ByteLevel|Sequence",
                                                    .found = type.empty() ? std::string("nothing") : type});
  }

  // The longest added token matching at `i` (with its lstrip/rstrip reach in [mb, me)), or null.
  const AddedToken* match_at(const std::string& text, size_t i, size_t& mb, size_t& me) const {
    const auto& cands = by_first_byte_[static_cast<unsigned char>(text[i])];
    for (size_t k : cands) {
      const AddedToken& t = added_[k];
      if (text.compare(i, t.content.size(), t.content) != 0) continue;
      size_t b = i, e = i + t.content.size();
      if (t.single_word && ((b > 0 && is_word_byte(static_cast<unsigned char>(text[b - 1]))) ||
                            (e < text.size() && is_word_byte(static_cast<unsigned char>(text[e])))))
        continue;
      if (t.lstrip)
        while (b > 0 && is_space(text[b - 1])) --b;
      if (t.rstrip)
        while (e < text.size() && is_space(text[e])) ++e;
      mb = b, me = e;
      return &t;
    }
    return nullptr;
  }

  // One piece through BPE, cached: text repeats words, and a word's ids never change.
  void encode_piece(const std::string& piece, std::vector<int>& out) const {
    {
      std::lock_guard<std::mutex> lk(cache_mu_);
      const auto it = cache_.find(piece);
      if (it != cache_.end()) {
        out.insert(out.end(), it->second.begin(), it->second.end());
        return;
      }
    }
    std::vector<int> ids;
    model_->encode(piece, ids);
    out.insert(out.end(), ids.begin(), ids.end());
    if (piece.size() > 256) return;  // long pieces are rare; keep the cache small
    std::lock_guard<std::mutex> lk(cache_mu_);
    if (cache_.size() > 200000) cache_.clear();
    cache_.emplace(piece, std::move(ids));
  }

  std::unique_ptr<hf::Bpe> model_;
  std::unique_ptr<hf::Normalizer> normalizer_;
  std::unique_ptr<hf::PreTokenizer> pre_;
  std::unique_ptr<hf::Decoder> decoder_;
  std::vector<AddedToken> added_;
  std::vector<size_t> by_first_byte_[256];
  std::unordered_map<int, bool> special_ids_;
  std::vector<int> prefix_, suffix_;  // what add_special_tokens=True puts around a text
  mutable std::mutex cache_mu_;
  mutable std::unordered_map<std::string, std::vector<int>> cache_;
};

}  // namespace

std::string config_token_text(const nlohmann::json& cfg, const char* key) {
  if (!cfg.is_object() || !cfg.contains(key)) return "";
  const nlohmann::json& v = cfg[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return "";
}

std::shared_ptr<const Tokenizer::Impl> load_hf_tokenizer(const std::string& path) {
  return std::make_shared<HfTokenizer>(path);
}

}  // namespace s2d
