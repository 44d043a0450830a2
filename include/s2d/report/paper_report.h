// The paper-style report of a whole distillation study (scripts/demo.sh): one row per task with
// System 1, System 2 and distilled System 1 side by side (accuracy and generated tokens per
// answer, as in Yu et al. 2024, Tables 1-5), and a list of targets checked against the
// measured numbers. The plan is data (configs/toy/demo.json):
//
//   {"schema": "s2d.paper-report/1", "title": "...",
//    "rows": [{"task": "last-letter", "method": "2-step RaR", "filter": "...",
//              "runs": {"system1": "DIR", "system2": "DIR", "distilled": "DIR"}}, ...],
//    "targets": [{"name": "...", "left": "DIR:accuracy", "op": ">=", "right": "DIR:accuracy",
//                 "factor": 1, "offset": 0.20}, ...]}
//
// DIRs are eval output directories relative to the runs root; a target holds when
// left OP right * factor + offset ("right" may be omitted: then the bound is the offset).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace s2d {

struct PaperReport {
  nlohmann::json json;  // rows with their numbers, targets with "met"
  std::string markdown, svg;
  int targets_met = 0, targets_total = 0;
};

// InputError naming the plan file and field, or the missing summary.json.
PaperReport build_paper_report(const std::string& plan_path, const std::string& runs_root);
void write_paper_report(const PaperReport& r, const std::string& out_dir);

}  // namespace s2d
