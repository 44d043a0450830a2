// `s2d filter`: curate generated samples into SFT examples. Thin: src/pipeline/filter.cpp works.
#include <iostream>

#include "s2d/cli/commands.h"
#include "s2d/engine/local_backend.h"
#include "s2d/pipeline/filter.h"

namespace s2d::cli {

void register_filter(CLI::App& root, Commands& out) {
  auto o = std::make_shared<FilterOptions>();
  auto lb = std::make_shared<BackendFlags>();
  auto cmd = add_command(root, out, "filter", "Stage 2: keep self-consistent answers and write SFT examples");
  CLI::App& a = *cmd->app;
  a.footer(
      "Examples:\n"
      "  s2d filter --by self-consistency --in rar2.jsonl --out sft.jsonl --min-agreement 0.75\n"
      "  s2d filter --by perturbation --in bsm.jsonl --out sft.jsonl     (generate with --swap)\n"
      "  s2d filter --by usc --in s2a.jsonl --out sft.jsonl --model M\n"
      "Writes OUT and OUT.summary.json (kept, dropped by reason, agreement histogram).");
  a.add_option("--by", o->by, filter_names() + " (oracle reads labels, none keeps the first answer: ablations only)")
      ->capture_default_str();
  a.add_option("--in", o->in_path, "Sample JSONL from 's2d generate'");
  a.add_option("--out", o->out_path, "SFT JSONL (chat messages)");
  a.add_option("--min-agreement", o->min_agreement, "Share of samples that must give the majority answer")
      ->capture_default_str();
  a.add_option("--min-votes", o->min_votes, "Samples that must give the majority answer")->capture_default_str();
  a.add_option("--tasks", o->tasks_path, "Labelled task file (oracle only)");
  a.add_flag("--both-orders", o->both_orders,
             "perturbation only: also write each kept pair swapped, its verdict mapped (position-balanced, twice the examples)");
  a.add_flag("--allow-mixed-methods", o->allow_mixed_methods, "Accept samples of several methods in one input");
  a.add_option("--template", o->usc_template, "USC template JSON (default configs/methods/usc.json)");
  a.add_option("--user-template", o->user_template,
               "SFT user turn: system1 (the System 1 prompt eval sends), a system1 template JSON, or raw (the input)")
      ->capture_default_str();
  add_backend_flags(a, *lb, "Model for --by usc");
  o->usc_sampling.max_new_tokens = 32;
  a.add_option("--max-new-tokens", o->usc_sampling.max_new_tokens, "USC answer length")->capture_default_str();
  cmd->run = [o, lb, cmd] {
    require_flags(*cmd->app, {"--in", "--out"});
    std::unique_ptr<Backend> backend;
    if (o->by == "usc") {
      backend = make_backend(*cmd->app, *lb);
    }
    const FilterSummary s = run_filter(*o, backend.get());
    std::cout << "filter " << o->by << ": kept " << s.kept << " of " << s.inputs << " tasks (" << s.examples << " examples) -> "
              << o->out_path << "\n";
    for (const auto& [why, n] : s.dropped) std::cout << "  dropped " << n << ": " << why << "\n";
    std::cout << "  agreement histogram:";
    for (const auto& [bin, n] : s.agreement) std::cout << " [" << bin << "] " << n;
    std::cout << "\n  summary: " << o->out_path << ".summary.json\n";
    if (o->by == "oracle") std::cout << "  NOTE: the oracle filter reads labels; use it for ablations only.\n";
    return 0;
  };
}

}  // namespace s2d::cli
