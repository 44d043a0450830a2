#include "s2d/report/paper_report.h"

#include <filesystem>
#include <map>

#include "s2d/methods/run_role.h"
#include "s2d/report/report.h"
#include "s2d/util/atomic_file.h"
#include "s2d/util/error.h"
#include "s2d/util/json.h"
#include "s2d/util/strings.h"

namespace s2d {

namespace {

// A short name: the chart and table code formats many numbers.
std::string fmt(const char* f, double v) { return format_number(f, v); }

class Runs {
 public:
  Runs(std::string root, std::string plan) : root_(std::move(root)), plan_(std::move(plan)) {}

  const nlohmann::json& get(const std::string& dir) {
    auto it = cache_.find(dir);
    if (it != cache_.end()) return it->second;
    const std::string path = (std::filesystem::path(root_) / dir / "summary.json").string();
    auto j = read_json_file(path);
    if (!j.is_object() || !j.contains("schema") || j["schema"] != "s2d.eval/1")
      throw_input("not an s2d eval summary", {.file = path, .field = "schema", .expected = "s2d.eval/1"});
    return cache_[dir] = std::move(j);
  }
  // "DIR:metric" -> the number.
  double metric(const std::string& ref, const char* field) {
    const size_t colon = ref.rfind(':');
    if (colon == std::string::npos)
      throw_input("bad run reference", {.file = plan_, .field = field, .expected = "DIR:metric", .found = ref});
    const auto& j = get(ref.substr(0, colon));
    const std::string m = ref.substr(colon + 1);
    if (!j.contains(m) || !j[m].is_number())
      throw_input("metric not in the run's summary",
                  {.file = plan_, .field = field, .expected = "a numeric field of summary.json", .found = ref});
    return j[m].get<double>();
  }

 private:
  std::string root_, plan_;
  std::map<std::string, nlohmann::json> cache_;
};

std::string cell(const nlohmann::json& s) {
  std::string c = fmt("%.1f%%", 100 * s.value("accuracy", 0.0)) + " (" +
                  fmt("%.1f", s.value("generated_tokens_per_answer", 0.0)) + " tok)";
  if (s.contains("position_consistency"))
    c += ", consistent " + fmt("%.0f%%", 100 * s["position_consistency"].get<double>());
  return c;
}

}  // namespace

PaperReport build_paper_report(const std::string& plan_path, const std::string& runs_root) {
  const auto plan = read_json_file(plan_path);
  if (!plan.is_object() || !plan.contains("schema") || plan["schema"] != "s2d.paper-report/1")
    throw_input("not a report plan", {.file = plan_path, .field = "schema", .expected = "s2d.paper-report/1"});
  if (!plan.contains("rows") || !plan["rows"].is_array())
    throw_input("missing rows", {.file = plan_path, .field = "rows", .expected = "an array"});
  Runs runs(runs_root, plan_path);
  PaperReport r;
  nlohmann::json rows = nlohmann::json::array(), chart = nlohmann::json::array();
  std::string md =
      "# " + plan.value("title", std::string("System 2 distillation")) + "\n\n" +
      "| task | System 2 method | filter | System 1 | System 2 | distilled System 1 |\n|---|---|---|---|---|---|\n";
  for (const auto& row : plan["rows"]) {
    nlohmann::json out = {
        {"task", row.value("task", "")}, {"method", row.value("method", "")}, {"filter", row.value("filter", "")}};
    md += "| " + row.value("task", std::string()) + " | " + row.value("method", std::string()) + " | " +
          row.value("filter", std::string());
    for (const RunRole& run_role : kRunRoles) {
      const char* role = run_role.id;
      const auto& rr = row.value("runs", nlohmann::json::object());
      if (!rr.contains(role)) {
        md += " | -";
        continue;
      }
      nlohmann::json s = runs.get(rr[role].get<std::string>());
      md += " | " + cell(s);
      out[role] = s;
      s["label"] = row.value("task", std::string()) + ": " + role;
      s["role"] = role;
      chart.push_back(std::move(s));
    }
    md += " |\n";
    rows.push_back(std::move(out));
  }
  md +=
      "\nEach cell: accuracy (agreement with the label for the judge) and generated tokens per answer, summed over "
      "every step of the method.\n";

  nlohmann::json targets = nlohmann::json::array();
  if (plan.contains("targets")) {
    md += "\n## Targets\n\n| target | measured | bound | met |\n|---|---|---|---|\n";
    for (const auto& t : plan["targets"]) {
      const double left = runs.metric(t.value("left", ""), "targets[].left");
      const double right = t.contains("right") ? runs.metric(t["right"].get<std::string>(), "targets[].right") : 0.0;
      const double bound = right * t.value("factor", 1.0) + t.value("offset", 0.0);
      const std::string op = t.value("op", ">=");
      if (op != ">=" && op != "<=")
        throw_input("unknown comparison",
                    {.file = plan_path, .field = "targets[].op", .expected = ">= or <=", .found = op});
      const bool met = op == ">=" ? left >= bound - 1e-12 : left <= bound + 1e-12;
      r.targets_met += met;
      ++r.targets_total;
      const bool pct = t.value("left", std::string()).find("tokens") == std::string::npos;
      const auto show = [&](double v) { return pct ? fmt("%.1f%%", 100 * v) : fmt("%.1f", v); };
      md += "| " + t.value("name", std::string()) + " | " + show(left) + " | " + op + " " + show(bound) + " | " +
            (met ? "yes" : "**no**") + " |\n";
      targets.push_back(
          {{"name", t.value("name", "")}, {"measured", left}, {"op", op}, {"bound", bound}, {"met", met}});
    }
    md += "\n" + std::to_string(r.targets_met) + " of " + std::to_string(r.targets_total) + " targets met.\n";
  }
  if (plan.contains("notes")) md += "\n" + plan["notes"].get<std::string>() + "\n";
  r.markdown = md;
  r.svg = accuracy_cost_svg(chart);
  r.json = {{"schema", "s2d.paper-report/1"}, {"title", plan.value("title", "")}, {"rows", rows}, {"targets", targets},
            {"targets_met", r.targets_met},   {"targets_total", r.targets_total}};
  return r;
}

void write_paper_report(const PaperReport& r, const std::string& out_dir) {
  std::filesystem::create_directories(out_dir);
  write_file_atomic(out_dir + "/report.md", r.markdown);
  write_file_atomic(out_dir + "/report.svg", r.svg);
  write_file_atomic(out_dir + "/report.json", r.json.dump(2) + "\n");
}

}  // namespace s2d
