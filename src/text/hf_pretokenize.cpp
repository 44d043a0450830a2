// HF normalizers and pre-tokenizers: what turns text into the pieces the BPE model sees.
#include <utf8proc.h>

#include <algorithm>
#include <cstdlib>
#include <map>

#include "hf_parts.h"
#include "s2d/util/error.h"

namespace s2d::hf {

namespace {

using nlohmann::json;

[[noreturn]] void unsupported(const std::string& path, const json& j, const std::string& supported) {
  std::string type =
      j.is_object() && j.contains("type") && j["type"].is_string() ? j["type"].get<std::string>() : j.dump();
  if (type.size() > 60) type = type.substr(0, 60) + "...";
  throw_input("unsupported tokenizer component",
              {.field = path + ".type",
               .expected = supported,
               .found = type,
               .hint = "s2d reads the BPE tokenizers of Llama, Mistral, Qwen and SmolLM"});
}

std::string str_field(const json& j, const char* key, const std::string& path, const std::string& dflt = "") {
  if (!j.contains(key) || j[key].is_null()) return dflt;
  if (!j[key].is_string()) throw_input("wrong type", {.field = path + "." + key, .expected = "a string"});
  return j[key].get<std::string>();
}

bool bool_field(const json& j, const char* key, bool dflt) {
  return j.contains(key) && j[key].is_boolean() ? j[key].get<bool>() : dflt;
}

// A {"String": s} or {"Regex": r} pattern as a regex (a literal string is quoted).
std::unique_ptr<Regex> pattern_of(const json& j, const std::string& path) {
  if (j.is_object() && j.contains("Regex") && j["Regex"].is_string())
    return std::make_unique<Regex>(j["Regex"].get<std::string>(), path);
  if (j.is_object() && j.contains("String") && j["String"].is_string()) {
    std::string quoted;
    for (char c : j["String"].get<std::string>()) {
      if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) quoted.push_back('\\');
      quoted.push_back(c);
    }
    return std::make_unique<Regex>(quoted, path);
  }
  throw_input("bad pattern", {.field = path, .expected = "{\"String\": ...} or {\"Regex\": ...}"});
}

// --- normalizers -------------------------------------------------------------------------------

class Utf8procNormalizer : public Normalizer {
 public:
  explicit Utf8procNormalizer(int options) : options_(options) {}
  std::string apply(std::string s) const override {
    utf8proc_uint8_t* out = nullptr;
    const auto n =
        utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()), static_cast<utf8proc_ssize_t>(s.size()), &out,
                     static_cast<utf8proc_option_t>(options_ | UTF8PROC_STABLE));
    if (n < 0) return s;  // invalid UTF-8: left as it is (encode replaces it before this)
    std::string r(reinterpret_cast<char*>(out), static_cast<size_t>(n));
    std::free(out);
    return r;
  }

 private:
  int options_;
};

class PrependNormalizer : public Normalizer {
 public:
  explicit PrependNormalizer(std::string p) : p_(std::move(p)) {}
  std::string apply(std::string s) const override { return s.empty() ? s : p_ + s; }

 private:
  std::string p_;
};

class ReplaceNormalizer : public Normalizer {
 public:
  ReplaceNormalizer(std::unique_ptr<Regex> re, std::string content)
      : re_(std::move(re)), content_(std::move(content)) {}
  std::string apply(std::string s) const override {
    std::string out;
    size_t last = 0;
    for (const auto& [b, e] : re_->find_all(s)) {
      out.append(s, last, b - last);
      out += content_;
      last = e;
    }
    out.append(s, last, std::string::npos);
    return out;
  }

 private:
  std::unique_ptr<Regex> re_;
  std::string content_;
};

class SequenceNormalizer : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> parts) : parts_(std::move(parts)) {}
  std::string apply(std::string s) const override {
    for (const auto& p : parts_) s = p->apply(std::move(s));
    return s;
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

// --- pre-tokenizers ------------------------------------------------------------------------------

enum class Behavior { Isolated, Removed, MergedWithPrevious, MergedWithNext, Contiguous };

// Splits `s` at the regex's matches as HF's SplitDelimiterBehavior does.
void split_by(const Split& s, const Regex& re, Behavior how, std::vector<Split>& out) {
  struct Seg {
    size_t b, e;
    bool match;
  };
  std::vector<Seg> segs;
  size_t last = 0;
  for (const auto& [b, e] : re.find_all(s.text)) {
    if (b > last) segs.push_back({last, b, false});
    segs.push_back({b, e, true});
    last = e;
  }
  if (last < s.text.size()) segs.push_back({last, s.text.size(), false});
  std::vector<Seg> merged;
  bool prev = false;
  switch (how) {
    case Behavior::Isolated: merged = segs; break;
    case Behavior::Removed:
      for (const auto& g : segs)
        if (!g.match) merged.push_back(g);
      break;
    case Behavior::MergedWithPrevious:
      for (const auto& g : segs) {
        if (g.match && !prev && !merged.empty())
          merged.back().e = g.e;
        else
          merged.push_back(g);
        prev = g.match;
      }
      break;
    case Behavior::MergedWithNext:
      for (auto it = segs.rbegin(); it != segs.rend(); ++it) {
        if (it->match && !prev && !merged.empty())
          merged.back().b = it->b;
        else
          merged.push_back(*it);
        prev = it->match;
      }
      std::reverse(merged.begin(), merged.end());
      break;
    case Behavior::Contiguous:
      for (const auto& g : segs) {
        if (g.match == prev && !merged.empty())
          merged.back().e = g.e;
        else
          merged.push_back(g);
        prev = g.match;
      }
      break;
  }
  for (const auto& g : merged) out.push_back({s.text.substr(g.b, g.e - g.b), s.first && g.b == 0});
}

class SplitPre : public PreTokenizer {
 public:
  SplitPre(std::unique_ptr<Regex> re, Behavior how) : re_(std::move(re)), how_(how) {}
  void apply(std::vector<Split>& splits) const override {
    std::vector<Split> out;
    for (const auto& s : splits) split_by(s, *re_, how_, out);
    splits = std::move(out);
  }

 private:
  std::unique_ptr<Regex> re_;
  Behavior how_;
};

// GPT-2's pattern, which ByteLevel applies when use_regex is set.
constexpr const char* kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class ByteLevelPre : public PreTokenizer {
 public:
  ByteLevelPre(bool add_prefix_space, bool use_regex, const std::string& path)
      : add_prefix_space_(add_prefix_space), re_(use_regex ? std::make_unique<Regex>(kGpt2Pattern, path) : nullptr) {}
  void apply(std::vector<Split>& splits) const override {
    std::vector<Split> out;
    for (auto& s : splits) {
      if (add_prefix_space_ && (s.text.empty() || s.text[0] != ' ')) s.text.insert(0, " ");
      if (re_)
        split_by(s, *re_, Behavior::Isolated, out);
      else
        out.push_back(std::move(s));
    }
    const auto& map = byte_to_unicode();
    for (auto& s : out) {
      std::string mapped;
      mapped.reserve(s.text.size() * 2);
      for (unsigned char c : s.text) mapped += map[c];
      s.text = std::move(mapped);
    }
    splits = std::move(out);
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<Regex> re_;
};

class MetaspacePre : public PreTokenizer {
 public:
  MetaspacePre(std::string replacement, std::string scheme, bool split)
      : rep_(std::move(replacement)), scheme_(std::move(scheme)), split_(split), re_(quote(rep_), "Metaspace") {}
  void apply(std::vector<Split>& splits) const override {
    std::vector<Split> out;
    for (auto& s : splits) {
      std::string t;
      for (char c : s.text) {
        if (c == ' ')
          t += rep_;
        else
          t.push_back(c);
      }
      const bool prepend = scheme_ == "always" || (scheme_ == "first" && s.first);
      if (prepend && t.compare(0, rep_.size(), rep_) != 0) t.insert(0, rep_);
      Split ns{std::move(t), s.first};
      if (split_)
        split_by(ns, re_, Behavior::MergedWithNext, out);
      else
        out.push_back(std::move(ns));
    }
    splits = std::move(out);
  }

 private:
  static std::string quote(const std::string& s) { return "\\Q" + s + "\\E"; }
  std::string rep_, scheme_;
  bool split_;
  Regex re_;
};

class SequencePre : public PreTokenizer {
 public:
  explicit SequencePre(std::vector<std::unique_ptr<PreTokenizer>> parts) : parts_(std::move(parts)) {}
  void apply(std::vector<Split>& splits) const override {
    for (const auto& p : parts_) p->apply(splits);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const json& j, const std::string& path) {
  if (j.is_null()) return nullptr;
  const std::string type = str_field(j, "type", path);
  if (type == "NFC") return std::make_unique<Utf8procNormalizer>(UTF8PROC_COMPOSE);
  if (type == "NFD") return std::make_unique<Utf8procNormalizer>(UTF8PROC_DECOMPOSE);
  if (type == "NFKC") return std::make_unique<Utf8procNormalizer>(UTF8PROC_COMPOSE | UTF8PROC_COMPAT);
  if (type == "NFKD") return std::make_unique<Utf8procNormalizer>(UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT);
  if (type == "Prepend") return std::make_unique<PrependNormalizer>(str_field(j, "prepend", path));
  if (type == "Replace") {
    return std::make_unique<ReplaceNormalizer>(pattern_of(j.value("pattern", json()), path + ".pattern"),
                                               str_field(j, "content", path));
  }
  if (type == "Sequence" && j.contains("normalizers") && j["normalizers"].is_array()) {
    return std::make_unique<SequenceNormalizer>(
        parts_of<Normalizer>(j["normalizers"], path + ".normalizers", make_normalizer));
  }
  unsupported(path, j, "NFC|NFD|NFKC|NFKD|Prepend|Replace|Sequence");
}

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& j, const std::string& path) {
  if (j.is_null()) return nullptr;
  const std::string type = str_field(j, "type", path);
  if (type == "ByteLevel")
    return std::make_unique<ByteLevelPre>(bool_field(j, "add_prefix_space", true), bool_field(j, "use_regex", true),
                                          path);
  if (type == "Split") {
    if (bool_field(j, "invert", false)) unsupported(path + ".invert", json{{"type", "invert: true"}}, "invert: false");
    static const std::map<std::string, Behavior> behaviors = {{"Isolated", Behavior::Isolated},
                                                              {"Removed", Behavior::Removed},
                                                              {"MergedWithPrevious", Behavior::MergedWithPrevious},
                                                              {"MergedWithNext", Behavior::MergedWithNext},
                                                              {"Contiguous", Behavior::Contiguous}};
    const std::string b = str_field(j, "behavior", path, "Isolated");
    const auto it = behaviors.find(b);
    if (it == behaviors.end())
      unsupported(path + ".behavior", json{{"type", b}},
                  "Isolated|Removed|MergedWithPrevious|MergedWithNext|Contiguous");
    return std::make_unique<SplitPre>(pattern_of(j.value("pattern", json()), path + ".pattern"), it->second);
  }
  if (type == "Digits") {
    const bool individual = bool_field(j, "individual_digits", false);
    return std::make_unique<SplitPre>(std::make_unique<Regex>(individual ? "\\p{N}" : "\\p{N}+", path),
                                      individual ? Behavior::Isolated : Behavior::Contiguous);
  }
  if (type == "Metaspace") {
    std::string scheme = str_field(j, "prepend_scheme", path, "");
    if (scheme.empty()) scheme = bool_field(j, "add_prefix_space", true) ? "always" : "never";
    if (scheme != "always" && scheme != "first" && scheme != "never")
      unsupported(path + ".prepend_scheme", json{{"type", scheme}}, "always|first|never");
    return std::make_unique<MetaspacePre>(str_field(j, "replacement", path, "\xE2\x96\x81"), scheme,
                                          bool_field(j, "split", true));
  }
  if (type == "Sequence" && j.contains("pretokenizers") && j["pretokenizers"].is_array()) {
    return std::make_unique<SequencePre>(
        parts_of<PreTokenizer>(j["pretokenizers"], path + ".pretokenizers", make_pre_tokenizer));
  }
  unsupported(path, j, "ByteLevel|Split|Digits|Metaspace|Sequence");
}

}  // namespace s2d::hf
