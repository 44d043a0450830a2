#include "s2d/text/gguf_tokenizer.h"

#include <map>
#include <set>

#include "hf_parts.h"
#include "s2d/util/error.h"
#include "s2d/util/json.h"

namespace s2d {

namespace {

using json = nlohmann::json;

// tokenizer.ggml.pre -> the Split regex transformers puts before ByteLevel(use_regex=false).
const std::map<std::string, std::string>& split_regexes() {
  static const std::string llama3 =
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  static const std::string qwen2 =
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  static const std::map<std::string, std::string> m = {
      {"llama3", llama3}, {"llama-v3", llama3}, {"llama-bpe", llama3},       {"falcon3", llama3}, {"smaug-bpe", llama3},
      {"dbrx", llama3},   {"qwen2", qwen2},     {"deepseek-r1-qwen", qwen2}, {"megrez", qwen2},
  };
  return m;
}

const json& req(const json& md, const std::string& key, const std::string& file) {
  auto it = md.find(key);
  if (it == md.end())
    throw_input("missing GGUF key", {.file = file, .field = key, .expected = "present", .found = "absent"});
  return *it;
}

// An optional key of one JSON type: `dflt` when absent, an InputError naming it for another type
// (nlohmann's value() would throw its own type_error on a hostile file).
json opt_typed(const json& md, const std::string& key, json::value_t type, const json& dflt, const char* expected,
               const std::string& file) {
  auto it = md.find(key);
  if (it == md.end()) return dflt;
  if (it->type() != type)
    throw_input("wrong type", {.file = file, .field = key, .expected = expected, .found = json_excerpt(*it, 40)});
  return *it;
}

std::string token_at(const json& tokens, const json& md, const std::string& key) {
  auto it = md.find(key);
  if (it == md.end() || !it->is_number_unsigned() || it->get<uint64_t>() >= tokens.size()) return "";
  return tokens[it->get<size_t>()].get<std::string>();
}

// Element i of a metadata array, which must be a string (InputError naming key[i]).
const std::string& string_at(const json& array, size_t i, const std::string& key, const std::string& file) {
  if (!array[i].is_string())
    throw_input("wrong type", {.file = file, .field = key + "[" + std::to_string(i) + "]", .expected = "a string"});
  return array[i].get_ref<const std::string&>();
}

}  // namespace

HfTokenizerFiles hf_tokenizer_from_gguf(const json& md, const std::string& file) {
  const json& model = req(md, "tokenizer.ggml.model", file);
  if (!model.is_string() || model.get<std::string>() != "gpt2") {
    throw_input("unsupported GGUF tokenizer", {.file = file,
                                               .field = "tokenizer.ggml.model",
                                               .expected = "gpt2 (byte-level BPE)",
                                               .found = json_excerpt(model, 40)});
  }
  const json& tokens = req(md, "tokenizer.ggml.tokens", file);
  const json& merges = req(md, "tokenizer.ggml.merges", file);
  if (!tokens.is_array() || tokens.empty() || !tokens[0].is_string())
    throw_input("wrong type", {.file = file, .field = "tokenizer.ggml.tokens", .expected = "an array of strings"});
  if (!merges.is_array() || (!merges.empty() && !merges[0].is_string()))
    throw_input("wrong type", {.file = file, .field = "tokenizer.ggml.merges", .expected = "an array of strings"});
  const json types =
      opt_typed(md, "tokenizer.ggml.token_type", json::value_t::array, json::array(), "an array of integers", file);

  // The vocabulary in the byte alphabet: a token spelled otherwise is respelled byte by byte.
  const auto& to_char = hf::byte_to_unicode();
  std::set<std::string> alphabet(to_char.begin(), to_char.end());
  auto in_alphabet = [&](const std::string& t) {
    for (size_t i = 0; i < t.size(); i += hf::utf8_len(t, i))
      if (!alphabet.count(t.substr(i, hf::utf8_len(t, i)))) return false;
    return true;
  };
  json vocab = json::object();
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string& t = string_at(tokens, i, "tokenizer.ggml.tokens", file);
    std::string spelled;
    if (in_alphabet(t)) {
      spelled = t;
    } else {
      for (unsigned char b : t) spelled += to_char[b];
    }
    vocab[spelled] = static_cast<int64_t>(i);  // a repeated spelling keeps its last id, as a dict built in order does
  }
  json pairs = json::array();
  for (size_t i = 0; i < merges.size(); ++i) {
    const std::string& m = string_at(merges, i, "tokenizer.ggml.merges", file);
    const size_t sp = m.find(' ');
    if (sp == std::string::npos || m.find(' ', sp + 1) != std::string::npos)
      throw_input("bad merge", {.file = file,
                                .field = "tokenizer.ggml.merges[" + std::to_string(i) + "]",
                                .expected = "\"left right\"",
                                .found = printable_excerpt(m, 40)});
    pairs.push_back({m.substr(0, sp), m.substr(sp + 1)});
  }

  HfTokenizerFiles out;
  json& tj = out.tokenizer;
  tj = {{"version", "1.0"}, {"truncation", nullptr}, {"padding", nullptr}, {"normalizer", nullptr}};
  json added = json::array();
  for (size_t i = 0; i < tokens.size() && i < types.size(); ++i) {
    const int64_t type = types[i].is_number_integer() ? types[i].get<int64_t>() : 1;
    const std::string& t = tokens[i].get_ref<const std::string&>();
    // 3 control: special (skipped when outside the byte alphabet, a llama.cpp mislabel); 4 user-defined.
    if ((type == 3 && in_alphabet(t)) || (type == 4 && vocab.contains(t)))
      added.push_back({{"id", static_cast<int64_t>(i)},
                       {"content", t},
                       {"single_word", false},
                       {"lstrip", false},
                       {"rstrip", false},
                       {"normalized", false},
                       {"special", type == 3}});
  }
  tj["added_tokens"] = added;
  const std::string pre =
      opt_typed(md, "tokenizer.ggml.pre", json::value_t::string, "", "a string", file).get<std::string>();
  if (auto it = split_regexes().find(pre); it != split_regexes().end()) {
    tj["pre_tokenizer"] = {
        {"type", "Sequence"},
        {"pretokenizers",
         {{{"type", "Split"}, {"pattern", {{"Regex", it->second}}}, {"behavior", "Isolated"}, {"invert", false}},
          {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}}}}};
  } else {
    tj["pre_tokenizer"] = {
        {"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
  }
  const bool add_bos =
      opt_typed(md, "tokenizer.ggml.add_bos_token", json::value_t::boolean, false, "true or false", file).get<bool>();
  const bool add_eos =
      opt_typed(md, "tokenizer.ggml.add_eos_token", json::value_t::boolean, false, "true or false", file).get<bool>();
  const std::string bos = token_at(tokens, md, "tokenizer.ggml.bos_token_id"),
                    eos = token_at(tokens, md, "tokenizer.ggml.eos_token_id");
  json single = json::array(), special = json::object();
  auto special_piece = [&](const std::string& tok, const char* key) {
    single.push_back({{"SpecialToken", {{"id", tok}, {"type_id", 0}}}});
    special[tok] = {{"id", tok}, {"ids", {md[key].get<int64_t>()}}, {"tokens", {tok}}};
  };
  if (add_bos && !bos.empty()) special_piece(bos, "tokenizer.ggml.bos_token_id");
  single.push_back({{"Sequence", {{"id", "A"}, {"type_id", 0}}}});
  if (add_eos && !eos.empty()) special_piece(eos, "tokenizer.ggml.eos_token_id");
  tj["post_processor"] = {
      {"type", "TemplateProcessing"}, {"single", single}, {"pair", single}, {"special_tokens", special}};
  tj["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
  tj["model"] = {{"type", "BPE"},
                 {"dropout", nullptr},
                 {"unk_token", nullptr},
                 {"continuing_subword_prefix", ""},
                 {"end_of_word_suffix", ""},
                 {"fuse_unk", false},
                 {"byte_fallback", false},
                 {"ignore_merges", false},
                 {"vocab", vocab},
                 {"merges", pairs}};

  json& tc = out.tokenizer_config;
  tc = {{"tokenizer_class", "PreTrainedTokenizerFast"}, {"add_bos_token", add_bos}, {"add_eos_token", add_eos}};
  for (const auto& [name, key] :
       std::vector<std::pair<const char*, const char*>>{{"bos_token", "tokenizer.ggml.bos_token_id"},
                                                        {"eos_token", "tokenizer.ggml.eos_token_id"},
                                                        {"unk_token", "tokenizer.ggml.unknown_token_id"},
                                                        {"pad_token", "tokenizer.ggml.padding_token_id"}}) {
    const std::string t = token_at(tokens, md, key);
    tc[name] = t.empty() ? json(nullptr) : json(t);
    if (!t.empty() && std::string(name) != "unk_token") out.generation_config[std::string(name) + "_id"] = md[key];
  }
  if (auto it = md.find("tokenizer.chat_template"); it != md.end() && it->is_string())
    out.chat_template = it->get<std::string>();
  return out;
}

}  // namespace s2d
