// The in-process backend: a model directory run by the engine in this process.
// The header is torch-free (pImpl) so that CLI and pipeline files stay fast to compile.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "s2d/engine/backend.h"

namespace s2d {

struct LocalBackendOptions {
  std::string model_dir;
  std::string adapter_dir;  // a LoRA adapter (PEFT layout) to apply to the model
  std::string device = "auto";
  std::string dtype = "auto";
  std::string chat_template = "auto";  // auto | a built-in name | FILE.jinja (see load_chat_template)
  std::string chat_template_kwargs;    // a JSON object of template variables, e.g. {"enable_thinking": false}
  int64_t batch_size = 16;
  int64_t prefix_cache_mb = -1;  // EngineOptions::prefix_cache_bytes in MiB (-1: auto, 0: off)
  bool grow_cache = true;        // EngineOptions::grow_cache (no flag: the tests turn it off)
  bool cache_answers = false;    // EngineOptions::cache_answers (no flag: s2d serve turns it on)
};

// The in-process model's flags (see util/option_set.h). None has a key: a backend's identity()
// says what of it defines a run.
template <OptionsOf<LocalBackendOptions> O, class F>
void visit_options(O& o, F&& f) {
  f("--model", "", o.model_dir,
    "Model directory (HF layout: config.json, *.safetensors, tokenizer.json or tokenizer.model)");
  f("--adapter", "", o.adapter_dir, "LoRA adapter directory (PEFT layout) applied to --model");
  f("--chat-template", "", o.chat_template,
    "auto|llama-2|mistral|zephyr|chatml|plain|FILE.jinja (auto: the checkpoint's own template)");
  f("--chat-template-kwargs", "", o.chat_template_kwargs,
    "Template variables as a JSON object, e.g. '{\"enable_thinking\": false}'");
  f("--device", "", o.device, "auto|cpu|cuda");
  f("--dtype", "", o.dtype, "auto|fp32|bf16|fp16 (auto: bf16 on CUDA, fp32 on CPU)");
  f("--batch-size", "", o.batch_size,
    "The most decode slots at once (continuous batching); the cache grows to them as work arrives");
  f("--prefix-cache-mb", "", o.prefix_cache_mb,
    "Memory for the keys and values of earlier prompts (and in serve their answers), which later prompts that start "
    "the same way reuse (-1: a sixteenth of free memory, at most 1024; 0: off)");
}

// Loads the model (InputError naming what is wrong with the directory).
std::unique_ptr<Backend> make_local_backend(const LocalBackendOptions& opts);

}  // namespace s2d
