// A checkpoint's own chat template: found in its directory, rendered by s2d::jinja, encoded as
// transformers' apply_chat_template(tokenize=True) does (the text with added tokens matched in it,
// no special tokens added around it), and its end-of-turn ids from generation_config.json.
#include <algorithm>
#include <filesystem>

#include "s2d/text/chat_template.h"
#include "s2d/text/jinja.h"
#include "s2d/util/atomic_file.h"
#include "s2d/util/error.h"
#include "s2d/util/json.h"
#include "s2d/util/log.h"
#include "tokenizer_impl.h"

namespace fs = std::filesystem;

namespace s2d {

namespace {

// The checkpoint's Jinja source and where it came from; "" when it has none.
std::pair<std::string, std::string> find_jinja(const std::string& dir, const nlohmann::json& cfg) {
  const auto file = fs::path(dir) / "chat_template.jinja";  // transformers 4.43+ and 5 write it here
  if (fs::exists(file)) return {read_file(file.string()), file.string()};
  const std::string where = (fs::path(dir) / "tokenizer_config.json").string() + ": chat_template";
  if (!cfg.is_object() || !cfg.contains("chat_template")) return {"", ""};
  const auto& t = cfg["chat_template"];
  if (t.is_string()) return {t.get<std::string>(), where};
  if (t.is_array()) {  // named templates: [{"name": "default", "template": ...}, ...]
    for (const auto& e : t)
      if (e.is_object() && e.value("name", std::string()) == "default" && e.contains("template") &&
          e["template"].is_string())
        return {e["template"].get<std::string>(), where + "[default]"};
  }
  throw_input("chat_template is neither a string nor a list with a \"default\" template", {.file = where});
}

// generation_config.json's eos_token_id (an int or a list), then the tokenizer's EOS.
std::vector<int> stop_ids_of(const std::string& dir, const Tokenizer& tok) {
  std::vector<int> out;
  const auto gen = fs::path(dir) / "generation_config.json";
  if (fs::exists(gen)) {
    const nlohmann::json g = read_json_file(gen.string());
    const auto eos = g.is_object() && g.contains("eos_token_id") ? g["eos_token_id"] : nlohmann::json();
    for (const auto& id : eos.is_array() ? eos : nlohmann::json::array({eos}))
      if (id.is_number_integer()) out.push_back(id.get<int>());
  }
  if (tok.eos_id() >= 0 && std::find(out.begin(), out.end(), tok.eos_id()) == out.end()) out.push_back(tok.eos_id());
  return out;
}

bool is_json_tokenizer(const Tokenizer& tok) {
  const std::string& p = tok.path();
  return p.size() >= 5 && p.compare(p.size() - 5, 5, ".json") == 0;
}

}  // namespace

ChatTemplate load_chat_template(const std::string& model_dir, const Tokenizer& tok, const std::string& choice,
                                const nlohmann::ordered_json& kwargs) {
  const bool is_file = choice.size() > 6 && choice.compare(choice.size() - 6, 6, ".jinja") == 0;
  if (!is_file && choice != "auto") return ChatTemplate::by_name(choice);
  const auto cfg_path = fs::path(model_dir) / "tokenizer_config.json";
  const nlohmann::json cfg = fs::exists(cfg_path) ? read_json_file(cfg_path.string()) : nlohmann::json::object();
  std::pair<std::string, std::string> src;
  if (is_file) {
    src = {read_file(choice), choice};
  } else if (is_json_tokenizer(tok)) {
    src = find_jinja(model_dir, cfg);
  }
  if (src.first.empty()) {  // a sentencepiece checkpoint, or none declared: the built-in by markers
    std::string name = detect_chat_template(model_dir);
    if (name.empty()) {
      log::warn("no chat template declared in " + model_dir +
                "; using 'plain' (pass --chat-template NAME or FILE.jinja)");
      name = "plain";
    }
    return ChatTemplate::by_name(name);
  }
  ChatTemplate t;
  t.name_ = is_file ? choice : "checkpoint";
  t.source_ = src.first;
  t.jinja_ = std::make_shared<jinja::Template>(src.first, src.second);
  t.bos_text_ = config_token_text(cfg, "bos_token");
  t.eos_text_ = config_token_text(cfg, "eos_token");
  if (!kwargs.is_null() && !kwargs.is_object()) {
    throw_input("template variables must be a JSON object", {.field = "--chat-template-kwargs",
                                                             .expected = "{\"name\": value}",
                                                             .found = printable_excerpt(kwargs.dump())});
  }
  if (kwargs.is_object()) t.kwargs_ = kwargs;
  t.stops_ = stop_ids_of(model_dir, tok);
  return t;
}

nlohmann::ordered_json template_kwargs(const std::string& text, const std::string& flag) {
  if (text.empty()) return nlohmann::ordered_json::object();
  nlohmann::ordered_json j = parse_ordered_json(text, {.field = flag});  // in order, as Python's json.loads
  if (!j.is_object())
    throw_input("template variables must be a JSON object",
                {.field = flag, .expected = "{\"name\": value}", .found = printable_excerpt(text)});
  return j;
}

void write_trained_template(const std::string& dir, const ChatTemplate& t) {
  if (t.jinja_source().empty())
    write_chat_template_config(dir, t.name());
  else
    write_file_atomic((fs::path(dir) / "chat_template.jinja").string(), t.jinja_source());
}

RenderedChat ChatTemplate::render_jinja(const Tokenizer& tok, const std::vector<ChatMessage>& msgs,
                                        bool add_generation_prompt, const nlohmann::ordered_json& extra) const {
  auto text_of = [&](size_t n, bool gen) {
    nlohmann::ordered_json ctx = {{"messages", nlohmann::ordered_json::array()},
                                  {"add_generation_prompt", gen},
                                  {"bos_token", bos_text_},
                                  {"eos_token", eos_text_},
                                  {"tools", nullptr},
                                  {"documents", nullptr}};
    for (size_t i = 0; i < n; ++i) ctx["messages"].push_back({{"role", msgs[i].role}, {"content", msgs[i].content}});
    for (const auto* kw : {&kwargs_, &extra})
      if (kw->is_object())
        for (auto it = kw->begin(); it != kw->end(); ++it) ctx[it.key()] = *it;
    return jinja_->render(ctx);
  };
  RenderedChat out;
  out.ids = tok.encode(text_of(msgs.size(), add_generation_prompt));
  out.assistant_mask.assign(out.ids.size(), 0);
  if (!add_generation_prompt && msgs.back().role == "assistant") {
    // The answer is what the full conversation adds to the prompt that asks for it.
    const std::vector<int> prompt = tok.encode(text_of(msgs.size() - 1, true));
    if (prompt.size() > out.ids.size() || !std::equal(prompt.begin(), prompt.end(), out.ids.begin())) {
      throw_input(
          "the chat template renders the prompt differently once the answer follows, so the answer's tokens "
          "cannot be told apart for training",
          {.field = name_, .hint = "pass --chat-template with a template whose prompt is a prefix of the whole"});
    }
    std::fill(out.assistant_mask.begin() + static_cast<long>(prompt.size()), out.assistant_mask.end(), 1);
  }
  return out;
}

}  // namespace s2d
