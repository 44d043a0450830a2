// `s2d eval`: measure a method on labelled tasks, or compare eval runs. Thin: src/pipeline/eval.cpp
// and src/report/report.cpp do the work.
#include <filesystem>
#include <iostream>

#include "s2d/cli/commands.h"
#include "s2d/engine/local_backend.h"
#include "s2d/pipeline/eval.h"
#include "s2d/report/paper_report.h"
#include "s2d/report/report.h"
#include "s2d/version.h"

namespace s2d::cli {

namespace {
// `s2d eval --compare` and `--report`: reports over earlier runs, written to --out.
struct ReportFlags {
  std::vector<std::string> compare;
  std::string plan, runs_root;
};
template <OptionsOf<ReportFlags> O, class F>
void visit_options(O& o, F&& f) {
  f("--compare", "", o.compare, "Eval output directories to line up (writes the report to --out)");
  f("--report", "", o.plan, "Report plan JSON (rows of System 1/2/distilled runs, targets): the paper-style table");
  f("--runs", "", o.runs_root, "Root the --report plan's run directories are relative to (default: --out)");
}
}  // namespace

void register_eval(CLI::App& root, Commands& out) {
  auto cmd = add_command(root, out, "eval", "Stage 4: accuracy and tokens per answer; --compare lines runs up",
                         methods_help() + "\n" + R"(Examples:
  s2d eval --model M --method system1 --tasks test.jsonl --out runs/s1
  s2d eval --model M --method rar2 --samples 8 --temperature 0.7 --tasks test.jsonl --out runs/s2
  s2d eval --model distilled --method system1 --role distilled --tasks test.jsonl --out runs/d
  s2d eval --compare runs/s1 runs/s2 runs/d --out runs/report   (report.md, report.svg)
  s2d eval --report configs/toy/demo.json --runs runs/demo --out runs/demo   (a whole study, with targets))");
  CLI::App& a = *cmd->app;
  auto lb = add_backend_flags(a);
  auto o = add_option_set<EvalOptions>(a);
  auto rep = add_option_set<ReportFlags>(a, "Reports (instead of a run)");
  cmd->run = [o, lb, rep, cmd] {
    if (!rep->plan.empty()) {
      require_flags(*cmd->app, {"--out"});
      const PaperReport r = build_paper_report(rep->plan, rep->runs_root.empty() ? o->out_dir : rep->runs_root);
      write_paper_report(r, o->out_dir);
      std::cout << r.markdown << "\nreport: " << o->out_dir << "/report.{md,json,svg}\n";
      return 0;
    }
    require_flags(*cmd->app, {"--out"});
    if (!rep->compare.empty()) {
      const CompareReport r = compare_runs(rep->compare);
      write_report(r, o->out_dir);
      std::cout << r.markdown << "\nreport: " << o->out_dir << "/report.md, " << o->out_dir << "/report.svg\n";
      return 0;
    }
    require_flags(*cmd->app, {"--tasks"});
    check_eval_options(*o);  // before the model loads: bad flags fail fast
    auto backend = make_backend(*cmd->app, *lb);
    o->provenance = {{"command", "s2d eval"},
                     {"flags", flags_as_json(*cmd->app)},
                     {"s2d_version", S2D_VERSION},
                     {"backend", backend->describe()},
                     {"distilled", std::filesystem::exists(lb->local.model_dir + "/train_config.json") ||
                                       !lb->local.adapter_dir.empty()}};
    const auto s = run_eval(*o, *backend);
    std::printf("%s (%s): accuracy %.1f%% on %lld examples, %.1f generated tokens per answer, %.3f s per example\n",
                s["label"].get<std::string>().c_str(), s["role"].get<std::string>().c_str(),
                100 * s["accuracy"].get<double>(), (long long)s["examples"].get<int64_t>(),
                s["generated_tokens_per_answer"].get<double>(), s["seconds_per_example"].get<double>());
    if (s.contains("position_consistency"))
      std::printf("position consistency %.1f%%\n", 100 * s["position_consistency"].get<double>());
    std::printf("written to %s/summary.json and %s/examples.jsonl\n", o->out_dir.c_str(), o->out_dir.c_str());
    return 0;
  };
}

}  // namespace s2d::cli
