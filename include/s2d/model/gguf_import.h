// `s2d model import-gguf`: a GGUF checkpoint (llama.cpp's format) as a Hugging Face model
// directory that s2d, transformers and PEFT load: config.json from the GGUF's hyperparameters,
// model.safetensors with every tensor dequantised (and Llama's Q/K rows put back in HF's rotary
// order, which llama.cpp's converter permutes), and tokenizer.json, tokenizer_config.json,
// generation_config.json and chat_template.jinja from its tokenizer metadata.
// Architectures: llama (Llama, Mistral, SmolLM2), qwen2, qwen3. Torch-free.
#pragma once

#include <cstdint>
#include <string>

namespace s2d {

struct GgufImportOptions {
  std::string gguf_path;
  std::string out_dir;
  std::string dtype = "fp32";  // fp32 | bf16
  bool overwrite = false;
};

struct GgufImportSummary {
  std::string architecture;  // the HF class written
  int64_t tensors = 0;
  int64_t parameters = 0;
  std::string types;  // "Q4_1 x210, F32 x61, Q8_0 x1"
};

GgufImportSummary import_gguf(const GgufImportOptions& o);

}  // namespace s2d
