// Model directories in the Hugging Face layout:
//   config.json, model.safetensors (or shards + model.safetensors.index.json), tokenizer.model
// so that transformers, vLLM and llama.cpp's converters read what s2d writes.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "s2d/model/config.h"
#include "s2d/model/llama.h"
#include "s2d/text/tokenizer.h"

namespace s2d {

struct LoadOptions {
  std::string device = "auto";  // auto | cpu | cuda
  std::string dtype = "auto";   // auto | fp32 | bf16 | fp16
  bool require_tokenizer = true;
};

struct ModelBundle {
  std::string dir;
  ModelConfig config;
  std::shared_ptr<LlamaModel> model;
  std::optional<Tokenizer> tokenizer;  // from dir/tokenizer.model
};

// Strict load: every expected tensor present with the right shape, no unexpected ones (except
// known parameter-free leftovers); each failure names the file and tensor.
ModelBundle load_model(const std::string& dir, const LoadOptions& opts = {});

struct SaveOptions {
  uint64_t max_shard_bytes = 5ull << 30;  // HF's default shard size
  std::optional<c10::ScalarType> dtype;   // default: the model's own dtype
  std::string tokenizer_path;             // copied when set: to tokenizer.model, or a *.json with its siblings
};
// Writes the whole directory atomically (temp dir + rename).
void save_model(const std::string& dir, const LlamaModel& model, const SaveOptions& opts = {});
// Writes the model files into an existing directory, each file atomically, leaving other files
// (a training run's metrics and checkpoints) alone.
void write_model_files(const std::string& dir, const LlamaModel& model, const SaveOptions& opts = {});

}  // namespace s2d
