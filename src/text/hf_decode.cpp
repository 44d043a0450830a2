// HF decoders: token strings back to text (tokenizers' decode_chain, then concatenation).
#include <cstdio>

#include "hf_parts.h"
#include "s2d/util/error.h"

namespace s2d::hf {

namespace {

using nlohmann::json;
const std::string kSpaceMark = "\xE2\x96\x81";  // ▁

std::string replace_all(const std::string& s, const std::string& from, const std::string& to) {
  if (from.empty()) return s;
  std::string out;
  size_t last = 0, at;
  while ((at = s.find(from, last)) != std::string::npos) {
    out.append(s, last, at - last);
    out += to;
    last = at + from.size();
  }
  out.append(s, last, std::string::npos);
  return out;
}

class ByteLevelDec : public Decoder {
 public:
  std::vector<std::string> apply(std::vector<std::string> tokens) const override {
    std::string bytes;
    for (const auto& t : tokens) {
      std::string mine;
      bool mapped = true;
      for (size_t i = 0; i < t.size() && mapped;) {
        const size_t n = utf8_len(t, i);
        const int b = unicode_to_byte(std::string_view(t).substr(i, n));
        if (b < 0)
          mapped = false;
        else
          mine.push_back(static_cast<char>(b));
        i += n;
      }
      bytes += mapped ? mine : t;  // a token outside the byte map (an added token) keeps its bytes
    }
    return {utf8_lossy(bytes)};
  }
};

class MetaspaceDec : public Decoder {
 public:
  MetaspaceDec(std::string rep, bool strip_first) : rep_(std::move(rep)), strip_first_(strip_first) {}
  std::vector<std::string> apply(std::vector<std::string> tokens) const override {
    // As tokenizers does: in the first token every mark is dropped (not only a leading one).
    for (size_t i = 0; i < tokens.size(); ++i)
      tokens[i] = replace_all(tokens[i], rep_, i == 0 && strip_first_ ? "" : " ");
    return tokens;
  }

 private:
  std::string rep_;
  bool strip_first_;
};

class ByteFallbackDec : public Decoder {
 public:
  std::vector<std::string> apply(std::vector<std::string> tokens) const override {
    std::vector<std::string> out;
    std::string pending;  // bytes of consecutive <0xXX> tokens
    size_t pending_count = 0;
    auto flush = [&] {
      if (pending_count == 0) return;
      const std::string ok = utf8_lossy(pending);
      if (ok == pending)
        out.push_back(ok);
      else
        for (size_t i = 0; i < pending_count; ++i) out.push_back("\xEF\xBF\xBD");
      pending.clear();
      pending_count = 0;
    };
    for (const auto& t : tokens) {
      unsigned v = 0;
      if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>' && std::sscanf(t.c_str() + 3, "%2x", &v) == 1) {
        pending.push_back(static_cast<char>(v));
        ++pending_count;
      } else {
        flush();
        out.push_back(t);
      }
    }
    flush();
    return out;
  }
};

class FuseDec : public Decoder {
 public:
  std::vector<std::string> apply(std::vector<std::string> tokens) const override {
    std::string all;
    for (const auto& t : tokens) all += t;
    return {all};
  }
};

class StripDec : public Decoder {
 public:
  StripDec(std::string content, size_t start, size_t stop) : c_(std::move(content)), start_(start), stop_(stop) {}
  std::vector<std::string> apply(std::vector<std::string> tokens) const override {
    for (auto& t : tokens) {
      for (size_t k = 0; k < start_ && !c_.empty() && t.compare(0, c_.size(), c_) == 0; ++k) t.erase(0, c_.size());
      for (size_t k = 0;
           k < stop_ && !c_.empty() && t.size() >= c_.size() && t.compare(t.size() - c_.size(), c_.size(), c_) == 0;
           ++k)
        t.erase(t.size() - c_.size());
    }
    return tokens;
  }

 private:
  std::string c_;
  size_t start_, stop_;
};

class ReplaceDec : public Decoder {
 public:
  ReplaceDec(std::string from, std::string to) : from_(std::move(from)), to_(std::move(to)) {}
  std::vector<std::string> apply(std::vector<std::string> tokens) const override {
    for (auto& t : tokens) t = replace_all(t, from_, to_);
    return tokens;
  }

 private:
  std::string from_, to_;
};

class SequenceDec : public Decoder {
 public:
  explicit SequenceDec(std::vector<std::unique_ptr<Decoder>> parts) : parts_(std::move(parts)) {}
  std::vector<std::string> apply(std::vector<std::string> tokens) const override {
    for (const auto& p : parts_) tokens = p->apply(std::move(tokens));
    return tokens;
  }

 private:
  std::vector<std::unique_ptr<Decoder>> parts_;
};

}  // namespace

std::unique_ptr<Decoder> make_decoder(const json& j, const std::string& path) {
  if (j.is_null()) return nullptr;
  const std::string type = j.is_object() ? j.value("type", std::string()) : std::string();
  if (type == "ByteLevel") return std::make_unique<ByteLevelDec>();
  if (type == "Metaspace") {
    std::string scheme = j.value("prepend_scheme", std::string());
    if (scheme.empty()) scheme = j.value("add_prefix_space", true) ? "always" : "never";
    return std::make_unique<MetaspaceDec>(j.value("replacement", kSpaceMark), scheme != "never");
  }
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDec>();
  if (type == "Fuse") return std::make_unique<FuseDec>();
  if (type == "Strip") {
    return std::make_unique<StripDec>(j.value("content", std::string(" ")), j.value("start", size_t{0}),
                                      j.value("stop", size_t{0}));
  }
  if (type == "Replace") {
    const json& p = j.value("pattern", json());
    if (!p.is_object() || !p.contains("String") || !p["String"].is_string())
      throw_input("unsupported decoder pattern", {.field = path + ".pattern", .expected = "{\"String\": ...}"});
    return std::make_unique<ReplaceDec>(p["String"].get<std::string>(), j.value("content", std::string()));
  }
  if (type == "Sequence" && j.contains("decoders") && j["decoders"].is_array()) {
    return std::make_unique<SequenceDec>(parts_of<Decoder>(j["decoders"], path + ".decoders", make_decoder));
  }
  throw_input("unsupported tokenizer component",
              {.field = path + ".type",
               .expected = "ByteLevel|Metaspace|ByteFallback|Fuse|Strip|Replace|Sequence",
               .found = type.empty() ? std::string("nothing") : type});
}

}  // namespace s2d::hf
