// The Hugging Face tokenizer files a GGUF's tokenizer metadata describes, built as transformers
// builds them when it loads a GGUF (its gguf_tokenizer_mapping), so that the imported model
// tokenizes exactly as transformers' GGUF load of the same file.
//   tokenizer.ggml.model "gpt2": byte-level BPE from tokenizer.ggml.tokens and .merges; the
//   pre-tokenizer from tokenizer.ggml.pre (Llama-3's or Qwen2's split regex, else GPT-2's);
//   control tokens (token_type 3) as special added tokens, user-defined ones (4) as plain ones;
//   BOS/EOS as tokenizer.ggml.add_bos_token / add_eos_token say.
// Another tokenizer model (sentencepiece "llama", "t5", ...) is an InputError naming the key.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace s2d {

struct HfTokenizerFiles {
  nlohmann::json tokenizer;          // tokenizer.json
  nlohmann::json tokenizer_config;   // tokenizer_config.json (special tokens, add_bos_token)
  nlohmann::json generation_config;  // generation_config.json (bos, eos, pad ids)
  std::string chat_template;         // chat_template.jinja ("" when the file has none)
};

HfTokenizerFiles hf_tokenizer_from_gguf(const nlohmann::json& metadata, const std::string& file);

}  // namespace s2d
