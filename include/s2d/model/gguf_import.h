// `s2d model import-gguf`: a GGUF checkpoint (llama.cpp's format) as a Hugging Face model
// directory that s2d, transformers and PEFT load: config.json from the GGUF's hyperparameters,
// model.safetensors with every tensor dequantised (and Llama's Q/K rows put back in HF's rotary
// order, which llama.cpp's converter permutes), and tokenizer.json, tokenizer_config.json,
// generation_config.json and chat_template.jinja from its tokenizer metadata.
// Architectures: llama (Llama, Mistral, SmolLM2), qwen2, qwen3. Torch-free.
#pragma once

#include <cstdint>
#include <string>

#include "s2d/util/option_set.h"

namespace s2d {

struct GgufImportOptions {
  std::string gguf_path;
  std::string out_dir;
  std::string dtype = "fp32";  // fp32 | bf16
  bool overwrite = false;
};

// `s2d model import-gguf`'s arguments (util/option_set.h).
template <OptionsOf<GgufImportOptions> O, class F>
void visit_options(O& o, F&& f) {
  f("gguf", "", o.gguf_path, "The .gguf file");
  f("--out", "", o.out_dir, "Model directory to write (config.json, model.safetensors, tokenizer.json, ...)");
  f("--dtype", "", o.dtype, "fp32|bf16: the dtype of the dequantised weights");
  f("--overwrite", "", o.overwrite, "Replace an existing directory");
}

struct GgufImportSummary {
  std::string architecture;  // the HF class written
  int64_t tensors = 0;
  int64_t parameters = 0;
  std::string types;  // "Q4_1 x210, F32 x61, Q8_0 x1"
};

GgufImportSummary import_gguf(const GgufImportOptions& o);

}  // namespace s2d
