// The checkpoints and metrics of a `s2d distill` output directory (private to src/train):
//   OUT/checkpoints/step-NNNNNN/  model or adapter, optimizer.safetensors, trainer_state.json
//   OUT/metrics.jsonl             one line per optimizer step, plus validation lines
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace s2d {

class LlamaModel;
class Trainer;

// The complete checkpoints under OUT/checkpoints (those with a trainer_state.json), oldest first.
std::vector<std::pair<int64_t, std::filesystem::path>> list_checkpoints(const std::filesystem::path& out);

// Writes OUT/checkpoints/step-NNNNNN atomically (the adapter when the model has one, else the
// full model; the optimizer; the step), then keeps only the newest `keep` checkpoints.
void save_checkpoint(const std::filesystem::path& out, int64_t step, LlamaModel& model, Trainer& trainer,
                     const std::string& base_model_dir, int64_t keep);

// The optimizer state a checkpoint saved, on `dev`.
std::map<std::string, at::Tensor> load_optimizer(const std::string& path, const c10::Device& dev);

// A resumed run redoes the steps after its checkpoint, so the lines a killed run wrote for them
// (and a torn last line) go first: metrics.jsonl keeps one line per step.
void keep_metrics_through(const std::filesystem::path& path, int64_t step);

}  // namespace s2d
