// Chat templates that turn messages into token ids, with special tokens inserted as ids.
//
//   llama-2 : <s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {answer} </s><s>[INST] ...
//   mistral : <s>[INST] {user} [/INST]{answer}</s>[INST] ...        (system joined to first user)
//   zephyr  : <|system|>\n{system}</s>\n<|user|>\n{user}</s>\n<|assistant|>\n{answer}</s>\n
//   chatml  : <|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n{answer}<|im_end|>\n
//   plain   : <s>{user}{answer}</s>                                 (raw text, BOS as sentencepiece adds it)
//   jinja   : a checkpoint's own template (chat_template.jinja or tokenizer_config.json), rendered
//             to text by s2d::jinja as transformers does, then encoded with the tokenizer's added
//             tokens matched in the text (transformers' apply_chat_template(tokenize=True))
//
// Each text run is encoded on its own, as Meta's llama-2 reference code does per turn, so the
// assistant's tokens are the same whether or not a turn follows: that keeps the training mask
// (assistant tokens only) and the generation prompt consistent.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "s2d/text/tokenizer.h"

namespace s2d {

namespace jinja {
class Template;
}

struct ChatMessage {
  std::string role;  // system | user | assistant
  std::string content;
};

struct RenderedChat {
  std::vector<int> ids;
  std::vector<uint8_t> assistant_mask;  // 1 where the token belongs to an assistant answer (incl. its EOS)
};

class ChatTemplate {
 public:
  // llama-2 | mistral | zephyr | chatml | plain; InputError for anything else.
  static ChatTemplate by_name(const std::string& name);
  static const std::vector<std::string>& names();

  const std::string& name() const { return name_; }
  // `add_generation_prompt`: end with the tokens after which the assistant starts answering
  // (the last message must then be a user turn).
  // `extra` template variables override the template's own kwargs (a request's
  // chat_template_kwargs); the built-in templates have no variables and ignore them.
  RenderedChat render(const Tokenizer& tok, const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                      const nlohmann::ordered_json& extra = nlohmann::ordered_json()) const;
  // Token ids that end an assistant turn (EOS, or <|im_end|> for chatml; for a checkpoint's own
  // template, generation_config.json's eos_token_id, an int or a list, plus the tokenizer's EOS).
  std::vector<int> stop_ids(const Tokenizer& tok) const;
  // The Jinja source of a checkpoint's template ("" for the built-in ones).
  const std::string& jinja_source() const { return source_; }

 private:
  friend ChatTemplate load_chat_template(const std::string&, const Tokenizer&, const std::string&,
                                         const nlohmann::ordered_json&);
  RenderedChat render_jinja(const Tokenizer& tok, const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                            const nlohmann::ordered_json& extra) const;

  std::string name_;
  std::shared_ptr<const jinja::Template> jinja_;
  std::string source_, bos_text_, eos_text_;
  nlohmann::ordered_json kwargs_ = nlohmann::ordered_json::object();  // template variables (--chat-template-kwargs)
  std::vector<int> stops_;
};

// The template `choice` (--chat-template) selects for a model directory:
//   "auto": the checkpoint's own Jinja template (chat_template.jinja, else tokenizer_config.json's
//           "chat_template") when its tokenizer is a tokenizer.json; with a sentencepiece
//           tokenizer, the built-in template its markers name (detect_chat_template), else plain;
//   a built-in name (llama-2|mistral|zephyr|chatml|plain), or a FILE.jinja.
// `kwargs` are extra template variables, as vLLM's chat_template_kwargs ({"enable_thinking": false}).
ChatTemplate load_chat_template(const std::string& model_dir, const Tokenizer& tok, const std::string& choice,
                                const nlohmann::ordered_json& kwargs = nlohmann::ordered_json::object());
// A flag's JSON object of template variables ("" -> {}); InputError naming `flag` otherwise.
nlohmann::ordered_json template_kwargs(const std::string& text, const std::string& flag);

// The template a model directory asks for: tokenizer_config.json's "chat_template" (a Jinja
// string) is matched by its markers; "" when there is none or it is not recognised.
std::string detect_chat_template(const std::string& model_dir);
// Writes DIR/tokenizer_config.json declaring template `name` (a Jinja string with its markers),
// so that `auto` finds it again and transformers can render the same prompts; keeps the file's
// other fields when it exists. "plain" declares nothing.
void write_chat_template_config(const std::string& dir, const std::string& name);
// Writes what makes `auto` pick `t` again in DIR: a checkpoint template's Jinja source as
// chat_template.jinja (where transformers reads it too), or a built-in's declaration as above.
void write_trained_template(const std::string& dir, const ChatTemplate& t);

}  // namespace s2d
