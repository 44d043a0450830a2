// `s2d model ...`: make models to train from scratch (the toy world's): a tokenizer from text,
// and randomly initialised weights for a config. Thin: the work is in text/ and model/.
#include <filesystem>
#include <iostream>

#include "s2d/cli/commands.h"
#include "s2d/model/checkpoint.h"
#include "s2d/model/config.h"
#include "s2d/model/gguf_import.h"
#include "s2d/model/init.h"
#include "s2d/text/chat_template.h"
#include "s2d/text/tokenizer.h"
#include "s2d/text/tokenizer_trainer.h"
#include "s2d/util/atomic_file.h"
#include "s2d/util/error.h"
#include "s2d/util/json.h"

namespace s2d::cli {

void register_model(CLI::App& root, Commands& out) {
  CLI::App* model =
      root.add_subcommand("model", "Model files: import a GGUF, train a tokenizer, initialise weights, tokenize");
  model->require_subcommand(1);

  auto gi = std::make_shared<GgufImportOptions>();
  auto imp = add_command(*model, out, "import-gguf",
                         "Convert a GGUF checkpoint (llama.cpp) to a Hugging Face model directory");
  imp->app->add_option("gguf", gi->gguf_path, "The .gguf file")->required();
  imp->app->add_option("--out", gi->out_dir,
                       "Model directory to write (config.json, model.safetensors, tokenizer.json, ...)");
  imp->app->add_option("--dtype", gi->dtype, "fp32|bf16: the dtype of the dequantised weights")->capture_default_str();
  imp->app->add_flag("--overwrite", gi->overwrite, "Replace an existing directory");
  imp->app->footer(
      "Dequantises F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K and Q6_K tensors of llama\n"
      "(Llama, Mistral, SmolLM2), qwen2 and qwen3 models with a byte-level BPE (gpt2) tokenizer.\n"
      "Example:\n  s2d model import-gguf SmolLM2-135M-Instruct.Q4_1.gguf --out models/smollm2");
  imp->run = [gi, imp] {
    require_flags(*imp->app, {"--out"});
    const GgufImportSummary s = import_gguf(*gi);
    std::cout << "imported " << s.architecture << ": " << s.tensors << " tensors (" << s.types << "), " << s.parameters
              << " parameters, as " << gi->dtype << " in " << gi->out_dir << "\n";
    return 0;
  };

  auto t = std::make_shared<TokenizerTrainOptions>();
  auto train = add_command(*model, out, "train-tokenizer",
                           "Train a Llama-style sentencepiece tokenizer (BPE, byte fallback) on a JSONL file's text");
  train->app->add_option("--data", t->data_path, "SFT or task JSONL; messages[].content, input and answer are read");
  train->app->add_option("--vocab-size", t->vocab_size, "Pieces, including 256 byte pieces and <unk>, <s>, </s>")
      ->capture_default_str();
  train->app->add_option("--out", t->out_path, "tokenizer.model to write");
  train->run = [t, train] {
    require_flags(*train->app, {"--data", "--out"});
    const int64_t lines = train_tokenizer(*t);
    std::cout << "trained a " << t->vocab_size << "-piece tokenizer on " << lines << " lines: " << t->out_path << "\n";
    return 0;
  };

  struct InitFlags {
    std::string config, tokenizer, out, chat_template = "llama-2";
    uint64_t seed = 0;
    bool overwrite = false;
  };
  auto f = std::make_shared<InitFlags>();
  auto init = add_command(*model, out, "init", "Write a randomly initialised Llama model directory (HF layout)");
  init->app->add_option("--model-config", f->config,
                        "HF config.json to build (vocab_size 0 or absent: the tokenizer's)");
  init->app->add_option("--tokenizer", f->tokenizer, "tokenizer.model to ship with it");
  init->app->add_option("--chat-template", f->chat_template, "Template to declare in tokenizer_config.json")
      ->capture_default_str();
  init->app->add_option("--seed", f->seed, "Initialisation seed")->capture_default_str();
  init->app->add_option("--out", f->out, "Model directory to write");
  init->app->add_flag("--overwrite", f->overwrite, "Replace an existing directory");
  init->run = [f, init] {
    require_flags(*init->app, {"--model-config", "--tokenizer", "--out"});
    if (std::filesystem::exists(f->out) && !f->overwrite)
      throw_input("output directory already exists", {.file = f->out, .hint = "pass --overwrite to replace it"});
    const Tokenizer tok = Tokenizer::load(f->tokenizer);
    auto cfg_json = read_json_file(f->config);
    if (!cfg_json.is_object()) throw_input("not a JSON object", {.file = f->config});
    if (cfg_json.value("vocab_size", 0) == 0) cfg_json["vocab_size"] = tok.vocab_size();
    if (cfg_json["vocab_size"] != tok.vocab_size()) {
      throw_input("config and tokenizer disagree",
                  {.file = f->config,
                   .field = "vocab_size",
                   .expected = std::to_string(tok.vocab_size()) + " (the tokenizer's pieces)",
                   .found = cfg_json["vocab_size"].dump()});
    }
    const ModelConfig c = parse_model_config(cfg_json, f->config);
    const LlamaModel m = init_random_model(c, f->seed, cfg_json.value("initializer_range", 0.02));
    save_model(f->out, m, {.tokenizer_path = f->tokenizer});
    write_chat_template_config(f->out, f->chat_template);
    std::cout << "initialised " << c.num_parameters() << " parameters in " << f->out << "\n";
    return 0;
  };

  struct TokenizeFlags {
    std::string model, tokenizer, text, in;
    bool json = false, special = false;
  };
  auto k = std::make_shared<TokenizeFlags>();
  auto tok = add_command(*model, out, "tokenize", "Print the ids and pieces a model's tokenizer gives a text");
  tok->app->add_option("--model", k->model, "Model directory (its tokenizer.model, else its tokenizer.json)");
  tok->app->add_option("--tokenizer", k->tokenizer, "A tokenizer.model or tokenizer.json instead of --model");
  tok->app->add_option("--text", k->text, "The text to encode");
  tok->app->add_option("--in", k->in, "A file whose whole content is the text");
  tok->app->add_flag("--json", k->json, "One JSON object {\"ids\", \"pieces\", \"decoded\"} instead of a table");
  tok->app->add_flag("--special", k->special,
                     "Add the tokens the tokenizer puts around a text (BOS...), as HF's add_special_tokens");
  tok->app->footer(
      "Examples:\n  s2d model tokenize --model runs/distilled --text 'Hello world'\n"
      "  s2d model tokenize --tokenizer tokenizer.json --in prompt.txt --json --special");
  tok->run = [k, tok] {
    if (k->model.empty() == k->tokenizer.empty())
      throw_input("give one of --model or --tokenizer",
                  {.field = "--model / --tokenizer", .hint = "see 's2d model tokenize --help'"});
    if (k->text.empty() == k->in.empty())
      throw_input("give one of --text or --in", {.field = "--text / --in", .hint = "see 's2d model tokenize --help'"});
    std::string path = k->tokenizer;
    if (path.empty()) {
      path = find_tokenizer_file(k->model);
      if (path.empty())
        throw_input("model directory has no tokenizer",
                    {.file = k->model, .expected = "tokenizer.model or tokenizer.json", .found = "neither"});
    }
    const Tokenizer tokenizer = Tokenizer::load(path);
    const std::string text = k->in.empty() ? k->text : read_file(k->in);
    const std::vector<int> ids = k->special ? tokenizer.encode_with_special(text) : tokenizer.encode(text);
    if (k->json) {
      nlohmann::json pieces = nlohmann::json::array();
      for (int id : ids) pieces.push_back(tokenizer.id_to_piece(id));
      std::cout << nlohmann::json{{"ids", ids}, {"pieces", pieces}, {"decoded", tokenizer.decode(ids)}}.dump(
                       -1, ' ', false, nlohmann::json::error_handler_t::replace)
                << "\n";
    } else {
      for (int id : ids)
        std::cout
            << id << "\t"
            << nlohmann::json(tokenizer.id_to_piece(id)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
            << "\n";
      std::cout << ids.size() << " tokens\n";
    }
    return 0;
  };
}

}  // namespace s2d::cli
