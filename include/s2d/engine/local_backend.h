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
};

// Loads the model (InputError naming what is wrong with the directory).
std::unique_ptr<Backend> make_local_backend(const LocalBackendOptions& opts);

}  // namespace s2d
