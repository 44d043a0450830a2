// `s2d eval --compare`: several eval summaries side by side, in the paper's form
// (method | accuracy | tokens per answer | time), as Markdown and as an SVG chart of accuracy
// against tokens per answer with System 1, System 2 and distilled runs drawn differently.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace s2d {

struct CompareReport {
  std::vector<nlohmann::json> runs;  // the summaries, in the order given
  bool same_tasks = true;            // false: the runs scored different task files (a warning)
  std::string markdown, svg;
};

// Reads RUN_DIR/summary.json of each run; InputError naming a missing or foreign file.
CompareReport compare_runs(const std::vector<std::string>& run_dirs);
// The chart: accuracy against generated tokens per answer (log scale), one mark per run.
std::string accuracy_cost_svg(const std::vector<nlohmann::json>& runs);

// Writes OUT/report.md, OUT/report.svg and OUT/report.json.
void write_report(const CompareReport& r, const std::string& out_dir);

}  // namespace s2d
