// The paper-style report: rows from eval summaries, targets checked against the numbers, and
// clear errors for a bad plan or a missing run.
#include "s2d/report/paper_report.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "s2d/util/error.h"
#include "test_util.h"

namespace s2d {
using namespace s2d::testing;

namespace {
void summary(const std::string& root, const std::string& dir, double acc, double tokens, double consistency = -1) {
  std::filesystem::create_directories(root + "/" + dir);
  nlohmann::json j = {
      {"schema", "s2d.eval/1"}, {"accuracy", acc}, {"generated_tokens_per_answer", tokens}, {"label", dir}};
  if (consistency >= 0) j["position_consistency"] = consistency;
  write_text(root + "/" + dir + "/summary.json", j.dump());
}
}  // namespace

TEST(PaperReport, RowsAndTargets) {
  const auto dir = fresh_dir("r");
  summary(dir, "s1", 0.30, 3);
  summary(dir, "s2", 0.90, 60);
  summary(dir, "d", 0.86, 4, 0.85);
  const nlohmann::json plan = {
      {"schema", "s2d.paper-report/1"},
      {"title", "T"},
      {"rows",
       {{{"task", "last-letter"},
         {"method", "2-step RaR"},
         {"runs", {{"system1", "s1"}, {"system2", "s2"}, {"distilled", "d"}}}}}},
      {"targets",
       {{{"name", "s2 beats s1 by 20"},
         {"left", "s2:accuracy"},
         {"op", ">="},
         {"right", "s1:accuracy"},
         {"offset", 0.2}},
        {{"name", "distilled within 5 of s2"},
         {"left", "d:accuracy"},
         {"op", ">="},
         {"right", "s2:accuracy"},
         {"offset", -0.05}},
        {{"name", "cheap"},
         {"left", "d:generated_tokens_per_answer"},
         {"op", "<="},
         {"right", "s2:generated_tokens_per_answer"},
         {"factor", 0.05}},
        {{"name", "consistent"}, {"left", "d:position_consistency"}, {"op", ">="}, {"offset", 0.8}}}}};
  write_text(dir + "/plan.json", plan.dump());
  const PaperReport r = build_paper_report(dir + "/plan.json", dir);
  EXPECT_EQ(r.targets_total, 4);
  EXPECT_EQ(r.targets_met, 3);  // all but "cheap": 4 tokens > 60 * 0.05
  EXPECT_NE(
      r.markdown.find(
          "| last-letter | 2-step RaR |  | 30.0% (3.0 tok) | 90.0% (60.0 tok) | 86.0% (4.0 tok), consistent 85% |"),
      std::string::npos)
      << r.markdown;
  EXPECT_NE(r.markdown.find("| cheap | 4.0 | <= 3.0 | **no** |"), std::string::npos) << r.markdown;
  EXPECT_FALSE(r.json["targets"][2]["met"].get<bool>());
  EXPECT_TRUE(r.json["targets"][3]["met"].get<bool>());
  write_paper_report(r, dir + "/out");
  EXPECT_TRUE(std::filesystem::exists(dir + "/out/report.svg"));
}

TEST(PaperReport, BadPlanOrMissingRun) {
  const auto dir = fresh_dir("r");
  write_text(dir + "/plan.json", R"({"schema": "nope"})");
  EXPECT_S2D_ERROR(build_paper_report(dir + "/plan.json", dir), ErrorKind::Input, "plan.json", "schema");
  write_text(dir + "/plan.json",
             R"({"schema": "s2d.paper-report/1", "rows": [{"task": "x", "runs": {"system1": "gone"}}]})");
  EXPECT_S2D_ERROR(build_paper_report(dir + "/plan.json", dir), ErrorKind::Input, "gone/summary.json");
  summary(dir, "s1", 0.5, 1);
  write_text(dir + "/plan.json",
             R"({"schema": "s2d.paper-report/1", "rows": [], "targets": [{"left": "s1:nothing", "op": ">="}]})");
  EXPECT_S2D_ERROR(build_paper_report(dir + "/plan.json", dir), ErrorKind::Input, "s1:nothing", "targets[].left");
}

}  // namespace s2d
