// `s2d inspect MODEL_DIR`: config, parameter count, dtypes, and missing or extra tensors.
// Reads safetensors headers only (no weights are loaded), so it is instant on a 70B checkpoint.
#include <filesystem>
#include <iostream>

#include "s2d/cli/commands.h"
#include "s2d/model/config.h"
#include "s2d/model/weight_names.h"
#include "s2d/text/chat_template.h"
#include "s2d/text/tokenizer.h"

namespace s2d::cli {

namespace {
void print_list(const char* title, const std::vector<std::string>& items) {
  std::cout << title << ": " << (items.empty() ? "none" : std::to_string(items.size())) << "\n";
  for (const auto& s : items) std::cout << "  " << s << "\n";
}
}  // namespace

void register_inspect(CLI::App& root, Commands& out) {
  auto dir = std::make_shared<std::string>();
  auto json_out = std::make_shared<bool>(false);
  auto cmd = add_command(root, out, "inspect", "Show a model directory's config, size, dtypes and tensor problems");
  cmd->app->add_option("model_dir", *dir, "Hugging Face model directory (config.json + safetensors)");
  cmd->app->add_flag("--json", *json_out, "Print one JSON object instead of text");
  cmd->run = [dir, json_out, cmd] {
    require_flags(*cmd->app, {"model_dir"});
    const ModelConfig c = load_model_config((std::filesystem::path(*dir) / "config.json").string());
    const WeightReport r = inspect_weights(*dir, c);
    const auto tok_path = (std::filesystem::path(*dir) / "tokenizer.model").string();
    nlohmann::json tok = nullptr;
    if (std::filesystem::exists(tok_path)) {
      Tokenizer t = Tokenizer::load(tok_path);
      tok = {{"pieces", t.vocab_size()}, {"bos", t.bos_id()}, {"eos", t.eos_id()}, {"pad", t.pad_id()}};
    }
    const std::string tmpl = detect_chat_template(*dir);
    const bool ok = r.missing.empty() && r.unexpected.empty() && r.wrong_shape.empty();
    if (*json_out) {
      nlohmann::json j = {{"config", model_config_to_json(c)},
                          {"parameters", c.num_parameters()},
                          {"stored_elements", r.parameters},
                          {"dtypes", r.dtype_tensors},
                          {"missing", r.missing},
                          {"unexpected", r.unexpected},
                          {"wrong_shape", r.wrong_shape},
                          {"tokenizer", tok},
                          {"chat_template", tmpl},
                          {"ok", ok}};
      std::cout << j.dump(2) << "\n";
    } else {
      std::cout << *dir << ": " << c.architecture << "\n"
                << "  layers " << c.num_hidden_layers << ", hidden " << c.hidden_size << ", heads "
                << c.num_attention_heads << " (kv " << c.num_key_value_heads << "), head_dim " << c.head_dim << ", mlp "
                << c.intermediate_size << ", vocab " << c.vocab_size << "\n"
                << "  rope_theta " << c.rope_theta << ", rope_scaling " << c.rope_scaling.type
                << ", max_position_embeddings " << c.max_position_embeddings << ", tied embeddings "
                << (c.tie_word_embeddings ? "yes" : "no") << "\n"
                << "  parameters " << c.num_parameters() << " (stored elements " << r.parameters << ")\n  dtypes";
      for (const auto& [d, n] : r.dtype_tensors) std::cout << " " << d << "x" << n;
      std::cout << "\n  tokenizer " << (tok.is_null() ? std::string("none") : tok.dump()) << "\n  chat template "
                << (tmpl.empty() ? "not declared" : tmpl) << "\n";
      print_list("missing tensors", r.missing);
      print_list("unexpected tensors", r.unexpected);
      print_list("wrong shapes", r.wrong_shape);
    }
    return ok ? 0 : 2;
  };
}

}  // namespace s2d::cli
