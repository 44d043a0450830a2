// Supervised fine-tuning of a LlamaModel: masked next-token loss, AdamW with decoupled weight
// decay (the same update as torch.optim.AdamW), warmup then cosine or linear decay, gradient
// accumulation and clipping. Parameters are the model's packed tensors (llama.h); fp32 master
// weights, with bf16 autocast on CUDA.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "s2d/model/llama.h"
#include "s2d/train/batch.h"

namespace s2d {

struct OptimizerOptions {
  double lr = 1e-4;
  double weight_decay = 0.0;  // decoupled; not applied to norm weights (1-D tensors)
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double max_grad_norm = 1.0;  // <= 0: no clipping
  int64_t warmup_steps = 0;
  std::string schedule = "cosine";  // cosine | linear | constant (after warmup)
  int64_t total_steps = 1;          // for the decay
};

// Compute precision of the forward and backward passes. Optimizer state stays fp32 either way.
// Auto: bf16 autocast on CUDA (what PyTorch's torch.autocast does), fp32 on the CPU: fp32 weights
// and residual stream, bf16 GEMMs. Fp32: fp32 everywhere (the CUDA conformance check compares it
// with the CPU reference). Bf16: bf16 weights, activations and gradients, with fp32 master weights
// and gradient sums in the optimizer (Megatron's bf16 recipe; PyTorch's model.to(bfloat16) with
// fp32 copies for AdamW): half autocast's elementwise traffic, since the residual stream, the
// norms and the casts before each GEMM are bf16 or gone, at bf16's rounding of the weights the
// forward reads. Full fine-tunes only.
enum class Precision { Auto, Fp32, Bf16 };
Precision parse_precision(const std::string& name);  // "auto" | "fp32" | "bf16"

// The dtype a model's weights are trained from: fp32 master weights, except a LoRA run's frozen
// base on CUDA under autocast, which stays bf16 (what PEFT users do): half the memory, and no
// fp32 -> bf16 copy of every weight per step; and Bf16, whose weights are bf16 (the trainer keeps
// their fp32 masters). distill loads in it; the Trainer accepts only it.
c10::ScalarType training_weight_dtype(bool lora, const c10::Device& device, Precision precision);

// MFU's default peak on CUDA: H100/H200 dense bf16, FLOP/s.
constexpr double kCudaPeakBf16Flops = 989e12;

// Model FLOPs per trained token: 6N for a full fine-tune (forward 2N, backward 4N), 4N for LoRA
// (no weight gradients for the frozen base); N excludes the embedding lookup and attention's
// T^2 term. The MFU figures of distill and the training benchmark use it.
double train_flops_per_token(const ModelConfig& c, bool lora);

// Learning rate at optimizer step `step` (1-based).
double lr_at(const OptimizerOptions& o, int64_t step);

class Trainer {
 public:
  // With a LoRA adapter attached to `model`, only the adapter trains (PEFT names); otherwise
  // every packed weight does.
  Trainer(LlamaModel& model, OptimizerOptions opts, Precision precision = Precision::Auto);

  // Sum of token losses over the batch; adds gradients (scaled by 1 / `step_tokens`, the target
  // tokens of the whole accumulated step). Neither this nor step() reads anything back from the
  // device: they return 0-dim fp32 tensors on it, so that a caller can read a step's figures
  // after it has queued the next step (an .item() per step would make a GPU wait for the host).
  at::Tensor accumulate(const Batch& b, int64_t step_tokens);
  // The same, the gradients scaled by 1 / `step_tokens`, a 0-dim fp32 tensor on the device (the
  // same bits for any count below 2^24): what a captured step reads.
  at::Tensor accumulate(const Batch& b, const at::Tensor& step_tokens);
  // Clips (through the fused AdamW's gradient scale), applies AdamW, clears gradients; returns the
  // pre-clip gradient norm (0 when no parameter had a gradient).
  at::Tensor step();

  // A step in two halves, for a CUDA graph (captured_train_step.h), which can hold no host value
  // that changes between replays. begin_device_step counts the step on the host and writes its
  // learning rate into `lr` (0-dim fp32 on the device; no wait); step_on_device is step()'s
  // clipping and AdamW with the rate read from `lr`. fp32 is what the fused kernel reads a tensor
  // rate as, so the update can differ from step()'s, which takes the rate in double, by the rate's
  // rounding to fp32 (a relative 6e-8), unless the rate is exact in fp32.
  void begin_device_step(at::Tensor& lr);
  at::Tensor step_on_device(const at::Tensor& lr);
  // Mean loss over target tokens, no gradients.
  double evaluate(const Batch& b);
  // Each target token's loss [N] (fp32, on the device), no gradients: what evaluate averages.
  at::Tensor token_losses(const Batch& b);

  int64_t steps_done() const { return step_; }
  // Optimizer state under stable names ("<param>.exp_avg", "<param>.exp_avg_sq"), for checkpoints.
  std::map<std::string, at::Tensor> state();
  void load_state(const std::map<std::string, at::Tensor>& state, int64_t steps_done);
  // Parameter name -> gradient, under the Hugging Face names (views into the packed gradients),
  // or PEFT's names for a LoRA adapter.
  std::map<std::string, at::Tensor> hf_named_grads();

 private:
  struct Param {
    std::string name;
    at::Tensor* value;
    at::Tensor exp_avg, exp_avg_sq;
    bool decay;
    at::Tensor step_count;  // the fused AdamW's per-parameter step (an fp32 scalar on the parameter's device)
    // Precision::Bf16: the fp32 weight AdamW updates (the bf16 value is its rounding), and the
    // step's gradient summed over micro-batches in fp32; both undefined otherwise.
    at::Tensor master, master_grad;
    at::Tensor& weight() { return master.defined() ? master : *value; }
    at::Tensor grad() const { return master.defined() ? master_grad : value->grad(); }
  };
  // The learning rate as a host double, or as a 0-dim fp32 tensor on the device when defined.
  struct Rate {
    double value;
    at::Tensor on_device;
  };
  at::Tensor backward_scaled(const Batch& b, const std::function<at::Tensor(const at::Tensor&)>& scale);
  void sum_into_masters();
  at::Tensor clip_and_update(const Rate& lr);
  void fused_adamw(const std::vector<Param*>& live, const Rate& lr, const std::optional<at::Tensor>& grad_scale);
  LlamaModel& model_;
  OptimizerOptions opts_;
  std::vector<Param> params_;
  int64_t step_ = 0;
  bool lora_ = false;
  Precision precision_;
  bool autocast_on(const at::Tensor& ids) const { return precision_ == Precision::Auto && ids.is_cuda(); }
};

}  // namespace s2d
