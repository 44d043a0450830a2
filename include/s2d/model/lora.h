// LoRA adapters in PEFT's on-disk layout, so that PEFT (PeftModel.from_pretrained) loads what
// s2d writes and s2d loads what PEFT writes:
//   adapter_config.json        {"peft_type": "LORA", "r", "lora_alpha", "lora_dropout", "target_modules", ...}
//   adapter_model.safetensors  base_model.model.model.layers.{i}.{self_attn|mlp}.{target}.lora_{A|B}.weight
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "s2d/model/llama.h"

namespace s2d {

struct LoraOptions {
  int64_t rank = 8;
  double alpha = 16;
  double dropout = 0.0;
  std::vector<std::string> targets = {"q", "k", "v", "o"};  // short or HF names
};

// Canonical HF module names for --lora-targets ("q" or "q_proj"); InputError for names that
// match no module.
std::vector<std::string> lora_target_modules(const std::vector<std::string>& targets);

// A new adapter as PEFT initialises one: A ~ kaiming-uniform(a = sqrt(5)), B = 0, fp32.
std::shared_ptr<LoraAdapter> init_lora(const ModelConfig& c, const LoraOptions& o, const c10::Device& device,
                                       uint64_t seed);

// The PEFT tensor name of a pair ("lora_A" or "lora_B").
std::string peft_name(size_t layer, const std::string& target, const char* which);

void save_adapter(const std::string& dir, const LoraAdapter& a, const std::string& base_model);
std::shared_ptr<LoraAdapter> load_adapter(const std::string& dir, const ModelConfig& c, const c10::Device& device);

// Folds the adapter into the base weights (W += B @ A * alpha / r) and detaches it.
void merge_lora(LlamaModel& model);

}  // namespace s2d
