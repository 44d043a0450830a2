// `s2d filter`: curate generated samples into SFT examples. Thin: src/pipeline/filter.cpp works.
#include <iostream>

#include "s2d/cli/commands.h"
#include "s2d/engine/local_backend.h"
#include "s2d/pipeline/filter.h"

namespace s2d::cli {

void register_filter(CLI::App& root, Commands& out) {
  auto cmd = add_command(root, out, "filter", "Stage 2: keep self-consistent answers and write SFT examples",
                         R"(Examples:
  s2d filter --by self-consistency --in rar2.jsonl --out sft.jsonl --min-agreement 0.75
  s2d filter --by perturbation --in bsm.jsonl --out sft.jsonl     (generate with --swap)
  s2d filter --by usc --in s2a.jsonl --out sft.jsonl --model M   (the model that picks; or --endpoint)
Writes OUT and OUT.summary.json (kept, dropped by reason, agreement histogram).)");
  CLI::App& a = *cmd->app;
  auto o = add_option_set<FilterOptions>(a);
  auto lb = add_backend_flags(a);
  cmd->run = [o, lb, cmd] {
    require_flags(*cmd->app, {"--in", "--out"});
    check_filter_options(*o);  // before a model loads: bad flags fail fast
    std::unique_ptr<Backend> backend;
    if (o->by == "usc") {
      backend = make_backend(*cmd->app, *lb);
    }
    const FilterSummary s = run_filter(*o, backend.get());
    std::cout << "filter " << o->by << ": kept " << s.kept << " of " << s.inputs << " tasks (" << s.examples
              << " examples) -> " << o->out_path << "\n";
    for (const auto& [why, n] : s.dropped) std::cout << "  dropped " << n << ": " << why << "\n";
    std::cout << "  agreement histogram:";
    for (const auto& [bin, n] : s.agreement) std::cout << " [" << bin << "] " << n;
    std::cout << "\n  summary: " << o->out_path << ".summary.json\n";
    if (o->by == "oracle") std::cout << "  NOTE: the oracle filter reads labels; use it for ablations only.\n";
    return 0;
  };
}

}  // namespace s2d::cli
