// `s2d generate`: run a method over tasks (or one --prompt) and append sample records.
#include <iostream>

#include "s2d/cli/commands.h"
#include "s2d/engine/local_backend.h"
#include "s2d/pipeline/generate.h"
#include "s2d/pipeline/shard_merge.h"
#include "s2d/util/log.h"
#include "s2d/version.h"

namespace s2d::cli {

void register_generate(CLI::App& root, Commands& out) {
  auto cmd =
      add_command(root, out, "generate", "Stage 1: run a method over tasks and write sample records (JSONL, resumable)",
                  methods_help() + "\n" + R"(Examples:
  s2d generate --model M --tasks tasks.jsonl --out samples.jsonl --method rar2 --samples 8 --temperature 0.7
  s2d generate --model M --tasks judge.jsonl --out bsm.jsonl --method bsm --swap
  s2d generate --model M --prompt 'Is the coin still heads up?' --max-new-tokens 32
  S2D_API_KEY=... s2d generate --endpoint http://vllm:8000/v1 --concurrency 32 --tasks t.jsonl --out s.jsonl --method cot
A rerun with the same --out and flags skips finished samples and redoes a torn last line;
one with other sampling flags, seed, method or model is refused unless --overwrite.)");
  CLI::App& a = *cmd->app;
  auto lb = add_backend_flags(a);
  auto o = add_option_set<GenerateOptions>(a);
  cmd->run = [o, lb, cmd] {
    if (o->prompt.empty()) require_flags(*cmd->app, {"--tasks", "--out"});
    check_generate_options(*o);  // before the model loads: bad flags fail fast
    auto backend = make_backend(*cmd->app, *lb);
    o->provenance = {{"command", "s2d generate"}, {"flags", flags_as_json(*cmd->app)}, {"s2d_version", S2D_VERSION}};
    log::info("model: " + backend->describe());
    const auto sum = run_generate(*o, *backend, [&](const nlohmann::json& rec) {
      if (!o->prompt.empty()) std::cout << rec["steps"][0]["output"].get<std::string>() << "\n";
    });
    char line[256];
    std::snprintf(line, sizeof line,
                  "%lld samples written (%lld of %lld tasks were already done); %lld prompt + %lld generated tokens in "
                  "%.1f s (%.0f tok/s)",
                  (long long)sum.samples_written, (long long)sum.tasks_already_done, (long long)sum.tasks,
                  (long long)sum.prompt_tokens, (long long)sum.generated_tokens, sum.seconds,
                  sum.seconds > 0 ? sum.generated_tokens / sum.seconds : 0.0);
    log::info(line);
    if (sum.prefilled_tokens > 0) {
      std::snprintf(
          line, sizeof line,
          "prefill: %lld prompt tokens (each prompt once for all its samples), %lld computed (%.0f%%); the "
          "others reused an earlier prompt's keys and values",
          (long long)sum.prefilled_tokens, (long long)sum.computed_prompt_tokens,
          100.0 * static_cast<double>(sum.computed_prompt_tokens) / static_cast<double>(sum.prefilled_tokens));
      log::info(line);
    }
    if (sum.graph_steps > 0) log::info("decode: " + std::to_string(sum.graph_steps) + " steps replayed as CUDA graphs");
    return 0;
  };
}

void register_merge(CLI::App& root, Commands& out) {
  auto inputs = std::make_shared<std::vector<std::string>>();
  auto out_path = std::make_shared<std::string>();
  auto cmd = add_command(root, out, "merge", "Join sample files from 'generate --shard i/n' runs into one");
  cmd->app->add_option("inputs", *inputs, "Sample JSONL files (one per shard)");
  cmd->app->add_option("--out", *out_path, "Merged sample JSONL (written atomically)");
  cmd->app->footer(
      "Example:\n  s2d generate --shard 0/2 ... --out s0.jsonl   # machine A\n"
      "  s2d generate --shard 1/2 ... --out s1.jsonl   # machine B\n  s2d merge s0.jsonl s1.jsonl --out samples.jsonl");
  cmd->run = [inputs, out_path, cmd] {
    require_flags(*cmd->app, {"inputs", "--out"});
    const ShardMergeSummary s = merge_shards(*inputs, *out_path);
    std::cout << "merged " << s.records << " samples from " << s.files << " files (" << s.duplicates
              << " duplicates dropped) into " << *out_path << "\n";
    return 0;
  };
}

}  // namespace s2d::cli
