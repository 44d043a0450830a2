// `s2d model ...`: model files: import a GGUF checkpoint, train a tokenizer, initialise random weights
// (the toy world's), tokenize a text. Thin: the work is in text/ and model/.
#include <iostream>

#include "s2d/cli/commands.h"
#include "s2d/model/gguf_import.h"
#include "s2d/model/init_dir.h"
#include "s2d/text/tokenizer.h"
#include "s2d/text/tokenizer_trainer.h"
#include "s2d/util/atomic_file.h"
#include "s2d/util/error.h"
#include "s2d/util/json.h"

namespace s2d::cli {

namespace {

void register_import_gguf(CLI::App& model, Commands& out) {
  add_leaf_command<GgufImportOptions>(
      model, out, "import-gguf", "Convert a GGUF checkpoint (llama.cpp) to a Hugging Face model directory",
      {"gguf", "--out"},
      [](const GgufImportOptions& o) {
        const GgufImportSummary s = import_gguf(o);
        std::cout << "imported " << s.architecture << ": " << s.tensors << " tensors (" << s.types << "), "
                  << s.parameters << " parameters, as " << o.dtype << " in " << o.out_dir << "\n";
      },
      R"(Dequantises F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K and Q6_K tensors of llama
(Llama, Mistral, SmolLM2), qwen2 and qwen3 models with a byte-level BPE (gpt2) tokenizer.
Example:
  s2d model import-gguf SmolLM2-135M-Instruct.Q4_1.gguf --out models/smollm2)");
}

void register_train_tokenizer(CLI::App& model, Commands& out) {
  add_leaf_command<TokenizerTrainOptions>(
      model, out, "train-tokenizer",
      "Train a Llama-style sentencepiece tokenizer (BPE, byte fallback) on a JSONL file's text", {"--data", "--out"},
      [](const TokenizerTrainOptions& o) {
        const int64_t lines = train_tokenizer(o);
        std::cout << "trained a " << o.vocab_size << "-piece tokenizer on " << lines << " lines: " << o.out_path
                  << "\n";
      });
}

void register_init(CLI::App& model, Commands& out) {
  add_leaf_command<InitModelOptions>(
      model, out, "init", "Write a randomly initialised Llama model directory (HF layout)",
      {"--model-config", "--tokenizer", "--out"}, [](const InitModelOptions& o) {
        std::cout << "initialised " << init_model_dir(o) << " parameters in " << o.out_dir << "\n";
      });
}

struct TokenizeFlags {
  std::string model, tokenizer, text, in;
  bool json = false, special = false;
};
template <OptionsOf<TokenizeFlags> O, class F>
void visit_options(O& o, F&& f) {
  f("--model", "", o.model, "Model directory (its tokenizer.model, else its tokenizer.json)");
  f("--tokenizer", "", o.tokenizer, "A tokenizer.model or tokenizer.json instead of --model");
  f("--text", "", o.text, "The text to encode");
  f("--in", "", o.in, "A file whose whole content is the text");
  f("--json", "", o.json, "One JSON object {\"ids\", \"pieces\", \"decoded\"} instead of a table");
  f("--special", "", o.special, "Add the tokens the tokenizer puts around a text (BOS...), as HF's add_special_tokens");
}

void register_tokenize(CLI::App& model, Commands& out) {
  auto tok = add_command(model, out, "tokenize", "Print the ids and pieces a model's tokenizer gives a text",
                         R"(Examples:
  s2d model tokenize --model runs/distilled --text 'Hello world'
  s2d model tokenize --tokenizer tokenizer.json --in prompt.txt --json --special)");
  auto k = add_option_set<TokenizeFlags>(*tok->app);
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

}  // namespace

void register_model(CLI::App& root, Commands& out) {
  CLI::App* model =
      root.add_subcommand("model", "Model files: import a GGUF, train a tokenizer, initialise weights, tokenize");
  model->require_subcommand(1);
  register_import_gguf(*model, out);
  register_train_tokenizer(*model, out);
  register_init(*model, out);
  register_tokenize(*model, out);
}

}  // namespace s2d::cli
