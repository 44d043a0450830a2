// `s2d distill`: fine-tune a model on SFT examples so it answers directly (full fine-tune).
//
// OUT/ holds the run (full fine-tune, or a LoRA adapter with --lora-rank): train_config.json (what defines the run),
// metrics.jsonl (one line per optimizer step, plus validation lines), checkpoints/step-NNNNNN/ (model + optimizer +
// trainer_state.json, each written atomically, the last --keep-checkpoints kept), and at the end
// the fine-tuned model itself in the Hugging Face layout (config.json, model.safetensors,
// tokenizer.model). --resume continues from the newest checkpoint with the same optimizer
// state, schedule and data order, so the loss curve equals an uninterrupted run's.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "s2d/util/option_set.h"

namespace s2d {

struct DistillOptions {
  std::string model_dir, data_path, out_dir;
  std::string val_path;  // or a split of the data:
  double val_fraction = 0.0;
  std::string chat_template = "auto";
  std::string
      chat_template_kwargs;  // JSON object of template variables (distil with thinking off: {"enable_thinking": false})
  std::string device = "auto";
  std::string precision =
      "auto";  // auto: bf16 autocast on CUDA, fp32 on the CPU; fp32: fp32 everywhere; bf16: see Precision
  int64_t max_seq_len = 1024;
  int64_t batch_size = 8, grad_accum = 1;
  std::string packing = "auto";  // on | off | auto (see Packing in batch.h)
  // Each optimizer step replayed as a CUDA graph (captured_train_step.h), one graph per shape that
  // micro-batches are padded to (fixed_batch_shapes in batch.h).
  bool cuda_graph = false;
  int64_t epochs = 1, max_steps = 0;  // max_steps > 0 overrides epochs
  double lr = 1e-4, weight_decay = 0.0, max_grad_norm = 1.0;
  int64_t warmup_steps = 0;
  std::string schedule = "cosine";
  uint64_t seed = 0;
  int64_t save_every = 0;  // optimizer steps; 0 = only at the end
  int64_t keep_checkpoints = 2;
  int64_t eval_every = 0;  // 0 = at the end only
  bool resume = false, overwrite = false;
  // LoRA: rank > 0 trains an adapter instead of the full model; OUT then holds a PEFT adapter
  // (adapter_config.json, adapter_model.safetensors). With `merge_adapter` (--merge), OUT holds the merged full
  // model instead and the adapter is in OUT/adapter.
  int64_t lora_rank = 0;
  double lora_alpha = 16, lora_dropout = 0;
  std::vector<std::string> lora_targets = {"q", "k", "v", "o"};
  bool merge_adapter = false;
  // MFU = achieved FLOP/s / this peak. 0 = 989 TFLOP/s (H100/H200 dense bf16) on CUDA, none on CPU.
  double peak_tflops = 0;
};

// `s2d distill`'s flags (util/option_set.h). The keys are OUT/train_config.json: a --resume must
// match every one.
template <OptionsOf<DistillOptions> O, class F>
void visit_options(O& o, F&& f) {
  f("--model", "model", o.model_dir, "Base model directory (HF layout, with its tokenizer)");
  f("--data", "data", o.data_path, "SFT JSONL in chat-messages form (from 's2d filter')");
  f("--out", "", o.out_dir, "Output directory");
  f("--val-file", "val", o.val_path, "Validation SFT JSONL");
  f("--val-fraction", "val_fraction", o.val_fraction, "Or hold out this fraction of --data");
  f("--chat-template", "chat_template", o.chat_template,
    "auto|llama-2|mistral|zephyr|chatml|plain|FILE.jinja (as generate/eval)");
  f("--chat-template-kwargs", "chat_template_kwargs", o.chat_template_kwargs,
    "Template variables as a JSON object, e.g. '{\"enable_thinking\": false}'");
  f("--device", "", o.device, "auto|cpu|cuda (fp32 master weights; bf16 autocast on CUDA)");
  f("--precision", "precision", o.precision,
    "auto (bf16 autocast on CUDA, fp32 on CPU) | fp32 (no autocast) | bf16 (bf16 weights and activations, "
    "fp32 master weights in the optimizer; full fine-tunes)");
  f("--max-seq-len", "max_seq_len", o.max_seq_len, "Longer examples are truncated (and counted)");
  f("--batch-size", "batch_size", o.batch_size, "Examples per micro-batch");
  f("--grad-accum", "grad_accum", o.grad_accum, "Micro-batches per optimizer step");
  f("--packing", "", o.packing,
    "on: each micro-batch's examples back to back, no padding computed; off: padded to the longest; auto: on "
    "where padding would be at least 10% of the batch");
  f("--cuda-graph", "", o.cuda_graph,
    "Replay each optimizer step as one CUDA graph: saves the host's launches where they bound the step (small "
    "models, short examples), at the cost of padding micro-batches to a power of two of tokens (one graph per "
    "length, all in one memory pool); padded layout only");
  f("--epochs", "epochs", o.epochs, "Passes over the data");
  f("--max-steps", "max_steps", o.max_steps, "Optimizer steps; overrides --epochs when > 0");
  f("--lr", "lr", o.lr, "Peak learning rate");
  f("--weight-decay", "weight_decay", o.weight_decay, "Decoupled (AdamW); not applied to norm weights");
  f("--max-grad-norm", "max_grad_norm", o.max_grad_norm, "Clip the global gradient norm; 0 = off");
  f("--warmup-steps", "warmup_steps", o.warmup_steps, "Linear warmup");
  f("--schedule", "schedule", o.schedule, "cosine|linear|constant after warmup");
  f("--seed", "seed", o.seed, "Data order and validation split");
  f("--save-every", "", o.save_every, "Checkpoint every N steps (0 = at the end)");
  f("--keep-checkpoints", "", o.keep_checkpoints, "Newest checkpoints kept (>= 1; --resume starts from the newest)");
  f("--eval-every", "", o.eval_every, "Validation loss every N steps (0 = at the end)");
  f("--lora-rank", "lora_rank", o.lora_rank, "Train a LoRA adapter of this rank (0 = full fine-tune)");
  f("--lora-alpha", "lora_alpha", o.lora_alpha, "LoRA scale numerator (scale = alpha / rank)");
  f("--lora-dropout", "lora_dropout", o.lora_dropout, "Dropout on the adapter's input");
  f("--lora-targets", "lora_targets", o.lora_targets, "Projections: q k v o gate up down");
  f("--merge", "", o.merge_adapter, "LoRA: also write merged full weights to --out");
  f("--peak-tflops", "", o.peak_tflops, "Peak FLOP/s for the MFU figure (0: 989 on CUDA, none on CPU)");
  f("--resume", "", o.resume, "Continue the run in --out from its newest checkpoint");
  f("--overwrite", "", o.overwrite, "Replace whatever --out holds");
}

struct DistillSummary {
  int64_t steps = 0, examples = 0, truncated = 0, target_tokens = 0;
  double final_loss = 0, val_loss = -1, seconds = 0, tokens_per_second = 0;
};

class LlamaModel;
// `on_step(step, loss, model)` runs after every optimizer step (and after any checkpoint of that
// step); tests use it to interrupt a run or to corrupt weights.
DistillSummary run_distill(const DistillOptions& opts,
                           const std::function<void(int64_t step, double loss, LlamaModel& model)>& on_step = {});

}  // namespace s2d
