// `s2d distill`: supervised fine-tuning on curated answers. Thin: src/train/distill.cpp works.
#include <iostream>

#include "s2d/cli/commands.h"
#include "s2d/pipeline/distill.h"

namespace s2d::cli {

void register_distill(CLI::App& root, Commands& out) {
  auto o = std::make_shared<DistillOptions>();
  auto cmd = add_command(root, out, "distill", "Stage 3: fine-tune the model to give the curated answers directly");
  CLI::App& a = *cmd->app;
  a.footer(
      "Example:\n"
      "  s2d distill --model M --data sft.jsonl --out distilled --epochs 3 --lr 1e-4 --val-fraction 0.1\n"
      "OUT gets the fine-tuned model (HF layout), metrics.jsonl, train_config.json and checkpoints/.\n"
      "  s2d distill --model M --data sft.jsonl --out adapter --lora-rank 16 --lora-targets q k v o [--merge]\n"
      "Loss counts assistant tokens only. A LoRA run writes a PEFT adapter to OUT; use it with\n"
      "'s2d generate --model M --adapter OUT'. With --merge, OUT is the merged model and the adapter is OUT/adapter.");
  a.add_option("--model", o->model_dir, "Base model directory (HF layout, with tokenizer.model)");
  a.add_option("--data", o->data_path, "SFT JSONL in chat-messages form (from 's2d filter')");
  a.add_option("--out", o->out_dir, "Output directory");
  a.add_option("--val-file", o->val_path, "Validation SFT JSONL");
  a.add_option("--val-fraction", o->val_fraction, "Or hold out this fraction of --data")->capture_default_str();
  a.add_option("--chat-template", o->chat_template, "auto|llama-2|mistral|zephyr|chatml|plain|FILE.jinja (as generate/eval)")->capture_default_str();
  a.add_option("--chat-template-kwargs", o->chat_template_kwargs, "Template variables as a JSON object, e.g. '{\"enable_thinking\": false}'");
  a.add_option("--device", o->device, "auto|cpu|cuda (fp32 master weights; bf16 autocast on CUDA)")->capture_default_str();
  a.add_option("--precision", o->precision, "auto (bf16 autocast on CUDA, fp32 on CPU) | fp32 (no autocast)")->capture_default_str();
  a.add_option("--max-seq-len", o->max_seq_len, "Longer examples are truncated (and counted)")->capture_default_str();
  a.add_option("--batch-size", o->batch_size, "Examples per micro-batch")->capture_default_str();
  a.add_option("--grad-accum", o->grad_accum, "Micro-batches per optimizer step")->capture_default_str();
  a.add_option("--epochs", o->epochs, "Passes over the data")->capture_default_str();
  a.add_option("--max-steps", o->max_steps, "Optimizer steps; overrides --epochs when > 0")->capture_default_str();
  a.add_option("--lr", o->lr, "Peak learning rate")->capture_default_str();
  a.add_option("--weight-decay", o->weight_decay, "Decoupled (AdamW); not applied to norm weights")->capture_default_str();
  a.add_option("--max-grad-norm", o->max_grad_norm, "Clip the global gradient norm; 0 = off")->capture_default_str();
  a.add_option("--warmup-steps", o->warmup_steps, "Linear warmup")->capture_default_str();
  a.add_option("--schedule", o->schedule, "cosine|linear|constant after warmup")->capture_default_str();
  a.add_option("--seed", o->seed, "Data order and validation split")->capture_default_str();
  a.add_option("--save-every", o->save_every, "Checkpoint every N steps (0 = at the end)")->capture_default_str();
  a.add_option("--keep-checkpoints", o->keep_checkpoints, "Checkpoints kept")->capture_default_str();
  a.add_option("--eval-every", o->eval_every, "Validation loss every N steps (0 = at the end)")->capture_default_str();
  a.add_option("--lora-rank", o->lora_rank, "Train a LoRA adapter of this rank (0 = full fine-tune)")->capture_default_str();
  a.add_option("--lora-alpha", o->lora_alpha, "LoRA scale numerator (scale = alpha / rank)")->capture_default_str();
  a.add_option("--lora-dropout", o->lora_dropout, "Dropout on the adapter's input")->capture_default_str();
  a.add_option("--lora-targets", o->lora_targets, "Projections: q k v o gate up down")->capture_default_str();
  a.add_flag("--merge", o->merge, "LoRA: also write merged full weights to --out");
  a.add_option("--peak-tflops", o->peak_tflops, "Peak FLOP/s for the MFU figure (0: 989 on CUDA, none on CPU)")->capture_default_str();
  a.add_flag("--resume", o->resume, "Continue the run in --out from its newest checkpoint");
  a.add_flag("--overwrite", o->overwrite, "Replace whatever --out holds");
  cmd->run = [o, cmd] {
    require_flags(*cmd->app, {"--model", "--data", "--out"});
    const DistillSummary s = run_distill(*o);
    char val[48] = "";
    if (s.val_loss >= 0) std::snprintf(val, sizeof val, ", validation loss %.4f", s.val_loss);
    std::printf("distill: %lld steps over %lld examples (%lld truncated), final loss %.4f%s, %.0f tok/s, %.1f s\n",
                (long long)s.steps, (long long)s.examples, (long long)s.truncated, s.final_loss, val,
                s.tokens_per_second, s.seconds);
    std::printf("model written to %s (metrics: %s/metrics.jsonl)\n", o->out_dir.c_str(), o->out_dir.c_str());
    return 0;
  };
}

}  // namespace s2d::cli
