// A small BPE sentencepiece model with byte fallback, trained once per test process, laid out
// like Llama's (unk 0, bos 1, eos 2) plus the ChatML markers as user-defined pieces.
#pragma once

#include <sentencepiece_trainer.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>
#include <string>

#include "s2d/text/tokenizer.h"
#include "test_util.h"

namespace s2d::testing {

inline const std::string& tiny_tokenizer_path() {
  static const std::string path = [] {
    // Per process: ctest runs test cases as parallel processes.
    const auto dir =
        std::filesystem::temp_directory_path() / "s2d_tests" / ("sp_fixture." + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::string corpus;
    for (int i = 0; i < 200; ++i)
      corpus +=
          "Take the last letters of the words in \"Mary John\" and concatenate them. [INST] answer [/INST] "
          "A coin is heads up. Is the coin still heads up? yes no <<SYS>> system " +
          std::to_string(i) + "\n";
    write_text((dir / "corpus.txt").string(), corpus);
    const auto st = sentencepiece::SentencePieceTrainer::Train(
        "--input=" + (dir / "corpus.txt").string() + " --model_prefix=" + (dir / "sp").string() +
        " --vocab_size=400 --model_type=bpe --byte_fallback=true --character_coverage=1.0"
        " --unk_id=0 --bos_id=1 --eos_id=2 --pad_id=-1 --user_defined_symbols=<|im_start|>,<|im_end|>"
        " --minloglevel=2");
    if (!st.ok()) throw std::runtime_error(st.ToString());
    return (dir / "sp.model").string();
  }();
  return path;
}

inline const Tokenizer& tiny_tokenizer() {
  static Tokenizer tok = Tokenizer::load(tiny_tokenizer_path());
  return tok;
}

}  // namespace s2d::testing
