// `s2d model init`: a model directory (HF layout) with randomly initialised weights for a
// config.json and a tokenizer, for models trained from scratch (the toy world's). Torch-free;
// the weights come from init_random_model (model/init.h).
#pragma once

#include <cstdint>
#include <string>

#include "s2d/util/option_set.h"

namespace s2d {

// `s2d model init`: a model directory with random weights for a config.json and a tokenizer.
struct InitModelOptions {
  std::string config_path;     // HF config.json; vocab_size 0 or absent: the tokenizer's
  std::string tokenizer_path;  // tokenizer.model (or tokenizer.json) to ship with it
  std::string out_dir;
  std::string chat_template = "llama-2";  // declared in tokenizer_config.json
  uint64_t seed = 0;
  bool overwrite = false;
};

template <OptionsOf<InitModelOptions> O, class F>
void visit_options(O& o, F&& f) {
  f("--model-config", "", o.config_path, "HF config.json to build (vocab_size 0 or absent: the tokenizer's)");
  f("--tokenizer", "", o.tokenizer_path, "tokenizer.model to ship with it");
  f("--chat-template", "", o.chat_template, "Template to declare in tokenizer_config.json");
  f("--seed", "", o.seed, "Initialisation seed");
  f("--out", "", o.out_dir, "Model directory to write");
  f("--overwrite", "", o.overwrite, "Replace an existing directory");
}

// Writes the directory (InputError when it exists without `overwrite`, or when the config's
// vocab_size is not the tokenizer's); returns the number of parameters.
int64_t init_model_dir(const InitModelOptions& o);

}  // namespace s2d
