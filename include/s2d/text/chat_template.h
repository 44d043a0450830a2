// Chat templates that turn messages into token ids, with special tokens inserted as ids.
//
//   llama-2 : <s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {answer} </s><s>[INST] ...
//   mistral : <s>[INST] {user} [/INST]{answer}</s>[INST] ...        (system joined to first user)
//   zephyr  : <|system|>\n{system}</s>\n<|user|>\n{user}</s>\n<|assistant|>\n{answer}</s>\n
//   chatml  : <|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n{answer}<|im_end|>\n
//   plain   : <s>{user}{answer}</s>                                 (raw text, BOS as sentencepiece adds it)
//
// Each text run is encoded on its own, as Meta's llama-2 reference code does per turn, so the
// assistant's tokens are the same whether or not a turn follows: that keeps the training mask
// (assistant tokens only) and the generation prompt consistent.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "s2d/text/tokenizer.h"

namespace s2d {

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
  RenderedChat render(const Tokenizer& tok, const std::vector<ChatMessage>& messages,
                      bool add_generation_prompt) const;
  // Token ids that end an assistant turn (EOS, or <|im_end|> for chatml).
  std::vector<int> stop_ids(const Tokenizer& tok) const;

 private:
  std::string name_;
};

// The template a model directory asks for: tokenizer_config.json's "chat_template" (a Jinja
// string) is matched by its markers; "" when there is none or it is not recognised.
std::string detect_chat_template(const std::string& model_dir);
// Writes DIR/tokenizer_config.json declaring template `name` (a Jinja string with its markers),
// so that `auto` finds it again and transformers can render the same prompts; keeps the file's
// other fields when it exists. "plain" declares nothing.
void write_chat_template_config(const std::string& dir, const std::string& name);

}  // namespace s2d
