#include "s2d/eval/report.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "s2d/util/atomic_file.h"
#include "s2d/util/error.h"
#include "s2d/util/strings.h"
#include "s2d/util/log.h"
#include "s2d/util/json.h"

namespace s2d {

namespace {

// A short name: the chart and table code formats many numbers.
std::string fmt(const char* f, double v) { return format_number(f, v); }

std::string xml_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else if (c == '"') o += "&quot;";
    else o += c;
  }
  return o;
}

// One mark per role, so the three kinds of run read apart without colour too.
std::string mark(const std::string& role, double x, double y) {
  if (role == "system2") return "<rect x=\"" + fmt("%.1f", x - 7) + "\" y=\"" + fmt("%.1f", y - 7) + "\" width=\"14\" height=\"14\" fill=\"#1f77b4\"/>";
  if (role == "distilled")
    return "<polygon points=\"" + fmt("%.1f", x) + "," + fmt("%.1f", y - 9) + " " + fmt("%.1f", x + 9) + "," + fmt("%.1f", y) + " " +
           fmt("%.1f", x) + "," + fmt("%.1f", y + 9) + " " + fmt("%.1f", x - 9) + "," + fmt("%.1f", y) + "\" fill=\"#ff7f0e\"/>";
  return "<circle cx=\"" + fmt("%.1f", x) + "\" cy=\"" + fmt("%.1f", y) + "\" r=\"7\" fill=\"#7f7f7f\"/>";
}

}  // namespace

std::string accuracy_cost_svg(const std::vector<nlohmann::json>& runs) {
  const double W = 760, H = 480, L = 80, R = 200, T = 50, B = 70;
  double tmin = 1e30, tmax = 0;
  for (const auto& r : runs) {
    const double t = std::max(0.5, r.value("generated_tokens_per_answer", 1.0));
    tmin = std::min(tmin, t);
    tmax = std::max(tmax, t);
  }
  // Log-scale x over whole decades around the data.
  const double lo = std::pow(10, std::floor(std::log10(tmin))), hi = std::pow(10, std::ceil(std::log10(tmax * 1.01)));
  auto X = [&](double t) { return L + (std::log10(std::max(0.5, t)) - std::log10(lo)) / (std::log10(hi) - std::log10(lo)) * (W - L - R); };
  auto Y = [&](double a) { return T + (1.0 - a) * (H - T - B); };
  std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + fmt("%.0f", W) + "\" height=\"" + fmt("%.0f", H) +
                  "\" font-family=\"sans-serif\" font-size=\"13\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  s += "<text x=\"" + fmt("%.0f", L) + "\" y=\"28\" font-size=\"16\" font-weight=\"bold\">Accuracy against inference cost</text>\n";
  for (int k = 0; k <= 10; k += 2) {  // y grid
    const double y = Y(k / 10.0);
    s += "<line x1=\"" + fmt("%.0f", L) + "\" x2=\"" + fmt("%.0f", W - R) + "\" y1=\"" + fmt("%.1f", y) + "\" y2=\"" + fmt("%.1f", y) +
         "\" stroke=\"#e0e0e0\"/>\n<text x=\"" + fmt("%.0f", L - 8) + "\" y=\"" + fmt("%.1f", y + 4) + "\" text-anchor=\"end\">" +
         std::to_string(k * 10) + "%</text>\n";
  }
  for (double d = lo; d <= hi * 1.0001; d *= 10) {  // x decades
    const double x = X(d);
    s += "<line x1=\"" + fmt("%.1f", x) + "\" x2=\"" + fmt("%.1f", x) + "\" y1=\"" + fmt("%.0f", T) + "\" y2=\"" + fmt("%.0f", H - B) +
         "\" stroke=\"#e0e0e0\"/>\n<text x=\"" + fmt("%.1f", x) + "\" y=\"" + fmt("%.0f", H - B + 20) + "\" text-anchor=\"middle\">" +
         fmt("%g", d) + "</text>\n";
  }
  s += "<line x1=\"" + fmt("%.0f", L) + "\" x2=\"" + fmt("%.0f", W - R) + "\" y1=\"" + fmt("%.0f", H - B) + "\" y2=\"" + fmt("%.0f", H - B) + "\" stroke=\"black\"/>\n";
  s += "<line x1=\"" + fmt("%.0f", L) + "\" x2=\"" + fmt("%.0f", L) + "\" y1=\"" + fmt("%.0f", T) + "\" y2=\"" + fmt("%.0f", H - B) + "\" stroke=\"black\"/>\n";
  s += "<text x=\"" + fmt("%.0f", (L + W - R) / 2) + "\" y=\"" + fmt("%.0f", H - 20) + "\" text-anchor=\"middle\">generated tokens per answer (log scale)</text>\n";
  s += "<text transform=\"translate(22," + fmt("%.0f", (T + H - B) / 2) + ") rotate(-90)\" text-anchor=\"middle\">accuracy</text>\n";
  for (const auto& r : runs) {
    const double x = X(r.value("generated_tokens_per_answer", 1.0)), y = Y(r.value("accuracy", 0.0));
    s += mark(r.value("role", std::string("system1")), x, y) + "\n";
    s += "<text x=\"" + fmt("%.1f", x + 12) + "\" y=\"" + fmt("%.1f", y - 8) + "\">" + xml_escape(r.value("label", std::string("?"))) + "</text>\n";
  }
  const double lx = W - R + 20;
  int row = 0;
  for (auto [role, name] : {std::pair<const char*, const char*>{"system1", "System 1"}, {"system2", "System 2"}, {"distilled", "distilled System 1"}}) {
    const double y = T + 20 + 26 * row++;
    s += mark(role, lx, y) + "\n<text x=\"" + fmt("%.0f", lx + 16) + "\" y=\"" + fmt("%.1f", y + 4) + "\">" + name + "</text>\n";
  }
  return s + "</svg>\n";
}

CompareReport compare_runs(const std::vector<std::string>& dirs) {
  if (dirs.empty()) throw_input("nothing to compare", {.field = "--compare", .expected = "one or more eval output directories"});
  CompareReport r;
  for (const auto& d : dirs) {
    const std::string path = d + "/summary.json";
    auto j = read_json_file(path);
    if (!j.is_object() || !j.contains("schema") || j["schema"] != "s2d.eval/1")
      throw_input("not an s2d eval summary", {.file = path, .field = "schema", .expected = "s2d.eval/1"});
    r.runs.push_back(j);
  }
  for (const auto& j : r.runs)
    if (j.value("tasks_fingerprint", std::string()) != r.runs[0].value("tasks_fingerprint", std::string())) r.same_tasks = false;
  if (!r.same_tasks) log::warn("the compared runs scored different task files; their numbers are not comparable");

  const bool judge = std::any_of(r.runs.begin(), r.runs.end(), [](const auto& j) { return j.contains("agreement"); });
  std::string md = "| run | kind | method | " + std::string(judge ? "agreement | position consistency" : "accuracy") +
                   " | tokens per answer | prompt tokens per answer | seconds per example |\n|---|---|---|---|" +
                   (judge ? "---|" : "") + "---|---|---|\n";
  for (const auto& j : r.runs) {
    md += "| " + j.value("label", std::string()) + " | " + j.value("role", std::string()) + " | " + j.value("method", std::string()) + " | " +
          fmt("%.1f%%", 100 * j.value("accuracy", 0.0)) + " | ";
    if (judge) md += (j.contains("position_consistency") ? fmt("%.1f%%", 100 * j["position_consistency"].get<double>()) : "-") + " | ";
    md += fmt("%.1f", j.value("generated_tokens_per_answer", 0.0)) + " | " + fmt("%.1f", j.value("prompt_tokens_per_answer", 0.0)) +
          " | " + fmt("%.3f", j.value("seconds_per_example", 0.0)) + " |\n";
  }
  md += "\n" + std::to_string(r.runs.front().value("examples", 0)) + " examples from " + r.runs.front().value("tasks", std::string()) + ".\n";
  if (!r.same_tasks) md += "\n**Warning:** these runs scored different task files; compare them with care.\n";
  r.markdown = md;
  r.svg = accuracy_cost_svg(r.runs);
  return r;
}

void write_report(const CompareReport& r, const std::string& out_dir) {
  std::filesystem::create_directories(out_dir);
  write_file_atomic(out_dir + "/report.md", r.markdown);
  write_file_atomic(out_dir + "/report.svg", r.svg);
  write_file_atomic(out_dir + "/report.json", nlohmann::json{{"runs", r.runs}, {"same_tasks", r.same_tasks}}.dump(2) + "\n");
}

}  // namespace s2d
