#include "s2d/model/init.h"
#include "s2d/model/init_dir.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <filesystem>

#include "s2d/model/checkpoint.h"
#include "s2d/model/weight_names.h"
#include "s2d/text/chat_template.h"
#include "s2d/text/tokenizer.h"
#include "s2d/util/error.h"
#include "s2d/util/json.h"

namespace s2d {

LlamaModel init_random_model(const ModelConfig& c, uint64_t seed, double initializer_range) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto shapes = expected_weight_shapes(c);
  LlamaWeights w;
  // for_each_weight visits tensors in a fixed order, so the draws are reproducible.
  for_each_weight(c, w, [&](const std::string& name, at::Tensor& t) {
    const auto& shape = shapes.at(name);
    if (name.find("norm") != std::string::npos) {
      t = at::ones(shape);
    } else {
      t = at::empty(shape).normal_(0.0, initializer_range, gen);
    }
  });
  return LlamaModel(c, std::move(w));
}

int64_t init_model_dir(const InitModelOptions& o) {
  if (std::filesystem::exists(o.out_dir) && !o.overwrite)
    throw_input("output directory already exists", {.file = o.out_dir, .hint = "pass --overwrite to replace it"});
  const Tokenizer tok = Tokenizer::load(o.tokenizer_path);
  auto cfg_json = read_json_file(o.config_path);
  if (!cfg_json.is_object()) throw_input("not a JSON object", {.file = o.config_path});
  if (cfg_json.value("vocab_size", 0) == 0) cfg_json["vocab_size"] = tok.vocab_size();
  if (cfg_json["vocab_size"] != tok.vocab_size()) {
    throw_input("config and tokenizer disagree",
                {.file = o.config_path,
                 .field = "vocab_size",
                 .expected = std::to_string(tok.vocab_size()) + " (the tokenizer's pieces)",
                 .found = cfg_json["vocab_size"].dump()});
  }
  const ModelConfig c = parse_model_config(cfg_json, o.config_path);
  const LlamaModel m = init_random_model(c, o.seed, cfg_json.value("initializer_range", 0.02));
  save_model(o.out_dir, m, {.tokenizer_path = o.tokenizer_path});
  write_chat_template_config(o.out_dir, o.chat_template);
  return c.num_parameters();
}

}  // namespace s2d
