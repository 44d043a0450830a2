#include "s2d/text/chat_template.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "s2d/util/atomic_file.h"
#include "s2d/util/error.h"
#include "s2d/util/json.h"
#include "s2d/util/strings.h"

namespace s2d {

namespace {

// Accumulates ids plus the assistant mask.
class Builder {
 public:
  explicit Builder(const Tokenizer& tok) : tok_(tok) {}
  void special(int id, bool assistant = false) {
    out_.ids.push_back(id);
    out_.assistant_mask.push_back(assistant);
  }
  void text(const std::string& s, bool assistant = false) {
    if (s.empty()) return;
    for (int id : tok_.encode(s)) special(id, assistant);
  }
  RenderedChat take() { return std::move(out_); }

 private:
  const Tokenizer& tok_;
  RenderedChat out_;
};

int require_piece(const Tokenizer& tok, const std::string& piece, const std::string& tmpl) {
  const int id = tok.piece_to_id(piece);
  if (id < 0) {
    throw_input("chat template needs a special token the vocabulary lacks", {.file = tok.path(),
                                                                             .field = tmpl,
                                                                             .expected = "piece " + piece,
                                                                             .found = "none",
                                                                             .hint = "choose another --chat-template"});
  }
  return id;
}

void check_roles(const std::vector<ChatMessage>& msgs, bool add_generation_prompt) {
  if (msgs.empty()) throw_input("no messages to render", {.field = "messages", .expected = ">= 1 message"});
  for (size_t i = 0; i < msgs.size(); ++i) {
    const auto& r = msgs[i].role;
    if (r != "system" && r != "user" && r != "assistant") {
      throw_input(
          "unknown chat role",
          {.field = "messages[" + std::to_string(i) + "].role", .expected = "system|user|assistant", .found = r});
    }
    if (r == "system" && i != 0) {
      throw_input("system message must come first", {.field = "messages[" + std::to_string(i) + "].role"});
    }
  }
  if (add_generation_prompt && msgs.back().role != "user") {
    throw_input("a generation prompt must end with a user turn",
                {.field = "messages", .expected = "last role user", .found = msgs.back().role});
  }
}

// Splits off an optional leading system message.
std::pair<std::string, size_t> system_of(const std::vector<ChatMessage>& msgs) {
  if (!msgs.empty() && msgs[0].role == "system") return {msgs[0].content, 1};
  return {"", 0};
}

RenderedChat render_llama2(const Tokenizer& tok, const std::vector<ChatMessage>& msgs, bool gen) {
  Builder b(tok);
  auto [sys, i] = system_of(msgs);
  bool first = true;
  for (; i < msgs.size(); ++i) {
    if (msgs[i].role == "user") {
      std::string u = trim(msgs[i].content);
      if (first && !sys.empty()) u = "<<SYS>>\n" + trim(sys) + "\n<</SYS>>\n\n" + u;
      first = false;
      b.special(tok.bos_id());
      b.text("[INST] " + u + " [/INST]");
    } else {  // assistant
      b.text(trim(msgs[i].content), true);
      b.special(tok.eos_id(), true);
    }
  }
  (void)gen;  // the prompt already ends with [/INST]
  return b.take();
}

RenderedChat render_mistral(const Tokenizer& tok, const std::vector<ChatMessage>& msgs, bool) {
  Builder b(tok);
  auto [sys, i] = system_of(msgs);
  b.special(tok.bos_id());
  bool first = true;
  for (; i < msgs.size(); ++i) {
    if (msgs[i].role == "user") {
      std::string u = msgs[i].content;
      if (first && !sys.empty()) u = sys + "\n\n" + u;
      first = false;
      b.text("[INST] " + u + " [/INST]");
    } else {
      b.text(msgs[i].content, true);
      b.special(tok.eos_id(), true);
    }
  }
  return b.take();
}

RenderedChat render_zephyr(const Tokenizer& tok, const std::vector<ChatMessage>& msgs, bool gen) {
  Builder b(tok);
  for (const auto& m : msgs) {
    const bool asst = m.role == "assistant";
    b.text("<|" + m.role + "|>\n");
    b.text(m.content, asst);
    b.special(tok.eos_id(), asst);
    b.text("\n");
  }
  if (gen) b.text("<|assistant|>\n");
  return b.take();
}

RenderedChat render_chatml(const Tokenizer& tok, const std::vector<ChatMessage>& msgs, bool gen) {
  const int start = require_piece(tok, "<|im_start|>", "chatml");
  const int end = require_piece(tok, "<|im_end|>", "chatml");
  Builder b(tok);
  for (const auto& m : msgs) {
    const bool asst = m.role == "assistant";
    b.special(start);
    b.text(m.role + "\n");
    b.text(m.content, asst);
    b.special(end, asst);
    b.text("\n");
  }
  if (gen) {
    b.special(start);
    b.text("assistant\n");
  }
  return b.take();
}

RenderedChat render_plain(const Tokenizer& tok, const std::vector<ChatMessage>& msgs, bool) {
  Builder b(tok);
  b.special(tok.bos_id());
  for (const auto& m : msgs) {
    const bool asst = m.role == "assistant";
    b.text(m.content, asst);
    if (asst) b.special(tok.eos_id(), true);
  }
  return b.take();
}

}  // namespace

const std::vector<std::string>& ChatTemplate::names() {
  static const std::vector<std::string> kNames = {"llama-2", "mistral", "zephyr", "chatml", "plain"};
  return kNames;
}

ChatTemplate ChatTemplate::by_name(const std::string& name) {
  const auto& n = names();
  if (std::find(n.begin(), n.end(), name) == n.end()) {
    throw_input("unknown chat template",
                {.field = "--chat-template", .expected = "llama-2|mistral|zephyr|chatml|plain", .found = name});
  }
  ChatTemplate t;
  t.name_ = name;
  return t;
}

RenderedChat ChatTemplate::render(const Tokenizer& tok, const std::vector<ChatMessage>& msgs,
                                  bool add_generation_prompt, const nlohmann::ordered_json& extra) const {
  check_roles(msgs, add_generation_prompt);
  if (jinja_) return render_jinja(tok, msgs, add_generation_prompt, extra);
  if (name_ == "llama-2") return render_llama2(tok, msgs, add_generation_prompt);
  if (name_ == "mistral") return render_mistral(tok, msgs, add_generation_prompt);
  if (name_ == "zephyr") return render_zephyr(tok, msgs, add_generation_prompt);
  if (name_ == "chatml") return render_chatml(tok, msgs, add_generation_prompt);
  return render_plain(tok, msgs, add_generation_prompt);
}

std::vector<int> ChatTemplate::stop_ids(const Tokenizer& tok) const {
  if (jinja_) return stops_;
  if (name_ == "chatml") return {require_piece(tok, "<|im_end|>", "chatml"), tok.eos_id()};
  return {tok.eos_id()};
}

std::string detect_chat_template(const std::string& model_dir) {
  const auto path = std::filesystem::path(model_dir) / "tokenizer_config.json";
  if (!std::filesystem::exists(path)) return "";
  // A corrupt file is an error, not "no template": falling back to plain would change every prompt.
  const nlohmann::json j = read_json_file(path.string());
  if (!j.is_object()) {
    throw_input("tokenizer config is not a JSON object", {.file = path.string(), .found = std::string(j.type_name())});
  }
  if (!j.contains("chat_template") || !j["chat_template"].is_string()) return "";
  const std::string t = j["chat_template"].get<std::string>();
  if (t.find("<|im_start|>") != std::string::npos) return "chatml";
  if (t.find("<|assistant|>") != std::string::npos) return "zephyr";
  if (t.find("<<SYS>>") != std::string::npos) return "llama-2";
  if (t.find("[INST]") != std::string::npos) return "mistral";
  return "";
}

void write_chat_template_config(const std::string& dir, const std::string& name) {
  // Equivalent Jinja for transformers' apply_chat_template; detect_chat_template keys on the markers.
  static const std::map<std::string, std::string> jinja = {
      {"llama-2",
       "{% if messages[0]['role'] == 'system' %}{% set sys = '<<SYS>>\\n' + messages[0]['content'] + "
       "'\\n<</SYS>>\\n\\n' %}"
       "{% set messages = messages[1:] %}{% else %}{% set sys = '' %}{% endif %}{% for m in messages %}"
       "{% if m['role'] == 'user' %}{{ bos_token + '[INST] ' + (sys if loop.first else '') + m['content'] + ' [/INST]' "
       "}}"
       "{% else %}{{ ' ' + m['content'] + ' ' + eos_token }}{% endif %}{% endfor %}"},
      {"mistral",
       "{% for m in messages %}{% if m['role'] == 'user' %}{{ bos_token + '[INST] ' + m['content'] + ' [/INST]' }}"
       "{% else %}{{ m['content'] + eos_token }}{% endif %}{% endfor %}"},
      {"zephyr",
       "{% for m in messages %}{{ '<|' + m['role'] + '|>\\n' + m['content'] + eos_token + '\\n' }}{% endfor %}"
       "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"},
      {"chatml",
       "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}"
       "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"}};
  ChatTemplate::by_name(name);  // validates the name
  auto it = jinja.find(name);
  if (it == jinja.end()) return;
  const auto path = std::filesystem::path(dir) / "tokenizer_config.json";
  nlohmann::json j = nlohmann::json::object();
  if (std::filesystem::exists(path)) {
    j = read_json_file(path.string());
    if (!j.is_object()) {
      throw_input("tokenizer config is not a JSON object",
                  {.file = path.string(), .found = std::string(j.type_name())});
    }
  }
  j["chat_template"] = it->second;
  j.emplace("bos_token", "<s>");
  j.emplace("eos_token", "</s>");
  j.emplace("tokenizer_class", "LlamaTokenizer");
  write_file_atomic(path.string(), j.dump(2) + "\n");
}

}  // namespace s2d
