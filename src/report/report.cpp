#include "s2d/report/report.h"

#include <algorithm>
#include <filesystem>

#include "s2d/util/atomic_file.h"
#include "s2d/util/error.h"
#include "s2d/util/json.h"
#include "s2d/util/log.h"
#include "s2d/util/strings.h"

namespace s2d {

namespace {

// A short name: the table code formats many numbers.
std::string fmt(const char* f, double v) { return format_number(f, v); }

}  // namespace

CompareReport compare_runs(const std::vector<std::string>& dirs) {
  if (dirs.empty())
    throw_input("nothing to compare", {.field = "--compare", .expected = "one or more eval output directories"});
  CompareReport r;
  for (const auto& d : dirs) {
    const std::string path = d + "/summary.json";
    auto j = read_json_file(path);
    if (!j.is_object() || !j.contains("schema") || j["schema"] != "s2d.eval/1")
      throw_input("not an s2d eval summary", {.file = path, .field = "schema", .expected = "s2d.eval/1"});
    r.runs.push_back(j);
  }
  for (const auto& j : r.runs)
    if (j.value("tasks_fingerprint", std::string()) != r.runs[0].value("tasks_fingerprint", std::string()))
      r.same_tasks = false;
  if (!r.same_tasks) log::warn("the compared runs scored different task files; their numbers are not comparable");

  const bool judge = std::any_of(r.runs.begin(), r.runs.end(), [](const auto& j) { return j.contains("agreement"); });
  std::string md = "| run | kind | method | " + std::string(judge ? "agreement | position consistency" : "accuracy") +
                   " | tokens per answer | prompt tokens per answer | seconds per example |\n|---|---|---|---|" +
                   (judge ? "---|" : "") + "---|---|---|\n";
  for (const auto& j : r.runs) {
    md += "| " + j.value("label", std::string()) + " | " + j.value("role", std::string()) + " | " +
          j.value("method", std::string()) + " | " + fmt("%.1f%%", 100 * j.value("accuracy", 0.0)) + " | ";
    if (judge)
      md += (j.contains("position_consistency") ? fmt("%.1f%%", 100 * j["position_consistency"].get<double>()) : "-") +
            " | ";
    md += fmt("%.1f", j.value("generated_tokens_per_answer", 0.0)) + " | " +
          fmt("%.1f", j.value("prompt_tokens_per_answer", 0.0)) + " | " +
          fmt("%.3f", j.value("seconds_per_example", 0.0)) + " |\n";
  }
  md += "\n" + std::to_string(r.runs.front().value("examples", 0)) + " examples from " +
        r.runs.front().value("tasks", std::string()) + ".\n";
  if (!r.same_tasks) md += "\n**Warning:** these runs scored different task files; compare them with care.\n";
  r.markdown = md;
  r.svg = accuracy_cost_svg(r.runs);
  return r;
}

void write_report(const CompareReport& r, const std::string& out_dir) {
  std::filesystem::create_directories(out_dir);
  write_file_atomic(out_dir + "/report.md", r.markdown);
  write_file_atomic(out_dir + "/report.svg", r.svg);
  write_file_atomic(out_dir + "/report.json",
                    nlohmann::json{{"runs", r.runs}, {"same_tasks", r.same_tasks}}.dump(2) + "\n");
}

}  // namespace s2d
