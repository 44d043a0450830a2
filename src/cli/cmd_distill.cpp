// `s2d distill`: supervised fine-tuning on curated answers. Thin: src/train/distill.cpp works.
#include <iostream>

#include "s2d/cli/commands.h"
#include "s2d/train/distill.h"

namespace s2d::cli {

void register_distill(CLI::App& root, Commands& out) {
  auto cmd = add_command(root, out, "distill", "Stage 3: fine-tune the model to give the curated answers directly",
                         R"(Example:
  s2d distill --model M --data sft.jsonl --out distilled --epochs 3 --lr 1e-4 --val-fraction 0.1
OUT gets the fine-tuned model (HF layout), metrics.jsonl, train_config.json and checkpoints/.
  s2d distill --model M --data sft.jsonl --out adapter --lora-rank 16 --lora-targets q k v o [--merge]
Loss counts assistant tokens only. A LoRA run writes a PEFT adapter to OUT; use it with
's2d generate --model M --adapter OUT'. With --merge, OUT is the merged model and the adapter is OUT/adapter.)");
  CLI::App& a = *cmd->app;
  auto o = add_option_set<DistillOptions>(a);
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
