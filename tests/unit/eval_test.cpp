// s2d eval's metrics and reports, with a scripted backend standing in for a model.
#include "s2d/pipeline/eval.h"

#include <gtest/gtest.h>

#include "s2d/report/report.h"
#include "s2d/util/error.h"
#include "s2d/util/jsonl.h"
#include "scripted_backend.h"
#include "test_util.h"

namespace s2d {
using namespace s2d::testing;

namespace {
EvalOptions opts(const std::string& tasks, const std::string& out, const std::string& method = "system1") {
  EvalOptions o;
  o.tasks_path = tasks;
  o.out_dir = out;
  o.method = method;
  return o;
}
}  // namespace

TEST(Eval, AccuracyAndTokensPerAnswer) {
  const auto dir = fresh_dir("d");
  write_text(dir + "/t.jsonl", R"({"id":"a","input":"Q1","task":"coin-flip","answer":"yes"}
{"id":"b","input":"Q2","task":"coin-flip","answer":"no"}
{"id":"c","input":"Q3","task":"coin-flip","answer":"Yes"}
)");
  ScriptedBackend b;
  b.reply = "Let me think. The answer is Yes.";
  auto s = run_eval(opts(dir + "/t.jsonl", dir + "/run", "cot"), b);
  EXPECT_NEAR(s["accuracy"].get<double>(), 2.0 / 3.0, 1e-9);
  EXPECT_EQ(s["role"], "system2");
  EXPECT_DOUBLE_EQ(s["generated_tokens_per_answer"].get<double>(), 5.0);
  auto ex = read_jsonl_all(dir + "/run/examples.jsonl");
  ASSERT_EQ(ex.size(), 3u);
  EXPECT_EQ(ex[1]["prediction"], "yes");
  EXPECT_EQ(ex[1]["correct"], false);
  EXPECT_EQ(ex[2]["label"], "yes") << "labels are normalised like predictions";
}

TEST(Eval, ThinkReadsTheAnswerAfterTheThinkingAndFailsAnUnclosedThink) {
  const auto dir = fresh_dir("d");
  write_text(dir + "/t.jsonl", R"({"id":"a","input":"Q1","task":"coin-flip","answer":"yes"}
{"id":"b","input":"Q2","task":"coin-flip","answer":"no"}
)");
  ScriptedBackend b;
  b.reply = "<think>\nNo flips, so no... wait, it is Yes.\n</think>\n\nThe answer is Yes.";
  auto s = run_eval(opts(dir + "/t.jsonl", dir + "/run", "think"), b);
  EXPECT_NEAR(s["accuracy"].get<double>(), 0.5, 1e-9) << "the 'no' inside the thinking is not the answer";
  EXPECT_EQ(s["role"], "system2");
  b.reply = "<think>\nNo flips, so the answer is No";  // ran out of tokens while thinking
  s = run_eval(opts(dir + "/t.jsonl", dir + "/run2", "think"), b);
  EXPECT_NEAR(s["accuracy"].get<double>(), 0.0, 1e-9) << "an unclosed think is a parse failure, not 'No'";
}

TEST(Eval, JudgeAgreementAndPositionConsistency) {
  const auto dir = fresh_dir("d");
  ScriptedBackend b;
  b.reply = "[[A]]";  // always prefers whichever answer is shown first: fully position-biased
  auto s = run_eval(opts(std::string(S2D_SOURCE_DIR) + "/tests/data/judge.jsonl", dir + "/run"), b);
  EXPECT_NEAR(s["agreement"].get<double>(), 1.0 / 3.0, 1e-9);               // labels A, B, tie
  EXPECT_NEAR(s["agreement_without_human_ties"].get<double>(), 0.5, 1e-9);  // A right, B wrong
  EXPECT_DOUBLE_EQ(s["position_consistency"].get<double>(), 0.0);
  EXPECT_NE(b.prompts[0].find("[The start of Assistant A's answer]\n2+2 equals 4."), std::string::npos) << b.prompts[0];
  b.reply = "It's a tie.";
  s = run_eval(opts(std::string(S2D_SOURCE_DIR) + "/tests/data/judge.jsonl", dir + "/run2"), b);
  EXPECT_DOUBLE_EQ(s["position_consistency"].get<double>(), 1.0);
}

TEST(Eval, BadLabels) {
  const auto dir = fresh_dir("d");
  ScriptedBackend b;
  write_text(dir + "/nolabel.jsonl", R"({"id":"a","input":"Q","task":"coin-flip"})"
                                     "\n");
  EXPECT_S2D_ERROR(run_eval(opts(dir + "/nolabel.jsonl", dir + "/r1"), b), ErrorKind::Input, "nolabel.jsonl:1",
                   "'answer'", "no label");
  write_text(dir + "/badjudge.jsonl",
             R"({"id":"j","input":"Q","task":"judge","question":"q","response_a":"a","response_b":"b","label":"C"})"
             "\n");
  EXPECT_S2D_ERROR(run_eval(opts(dir + "/badjudge.jsonl", dir + "/r2"), b), ErrorKind::Input, "badjudge.jsonl:1",
                   "'label'", "A, B or tie");
}

TEST(Report, ComparesRunsAndWarnsAboutDifferentTaskFiles) {
  const auto dir = fresh_dir("d");
  write_text(dir + "/t1.jsonl", R"({"id":"a","input":"Q1","task":"coin-flip","answer":"yes"})"
                                "\n");
  write_text(dir + "/t2.jsonl", R"({"id":"a","input":"Q9","task":"coin-flip","answer":"no"})"
                                "\n");
  ScriptedBackend b;
  b.reply = "Yes";
  run_eval(opts(dir + "/t1.jsonl", dir + "/s1"), b);
  auto o = opts(dir + "/t1.jsonl", dir + "/d");
  o.role = "distilled";
  o.label = "distilled <rar2>";
  run_eval(o, b);
  auto r = compare_runs({dir + "/s1", dir + "/d"});
  EXPECT_TRUE(r.same_tasks);
  EXPECT_NE(r.markdown.find("| distilled <rar2> | distilled | system1 | 100.0% |"), std::string::npos) << r.markdown;
  EXPECT_NE(r.svg.find("distilled &lt;rar2&gt;"), std::string::npos) << "labels are escaped";
  EXPECT_NE(r.svg.find("<polygon"), std::string::npos);  // the distilled mark
  run_eval(opts(dir + "/t2.jsonl", dir + "/other"), b);
  r = compare_runs({dir + "/s1", dir + "/other"});
  EXPECT_FALSE(r.same_tasks);
  EXPECT_NE(r.markdown.find("different task files"), std::string::npos);
  write_report(r, dir + "/report");
  for (const char* f : {"report.md", "report.svg", "report.json"})
    EXPECT_TRUE(std::filesystem::exists(dir + "/report/" + f));
  EXPECT_S2D_ERROR(compare_runs({dir + "/nowhere"}), ErrorKind::Input, "summary.json");
}

}  // namespace s2d

namespace s2d {
using namespace s2d::testing;

TEST(Eval, TriviaAnswersMatchAnyAlias) {
  const auto dir = fresh_dir("d");
  write_text(
      dir + "/t.jsonl",
      R"({"id":"q","input":"Who wrote Hamlet?","task":"trivia","answer":"William Shakespeare","aliases":["William Shakespeare","The Bard"]})"
      "\n");
  ScriptedBackend b;
  b.reply = "That would be the Bard!";
  EvalOptions o;
  o.tasks_path = dir + "/t.jsonl";
  o.out_dir = dir + "/run";
  EXPECT_DOUBLE_EQ(run_eval(o, b)["accuracy"].get<double>(), 1.0);
  b.reply = "Marlowe.";
  o.out_dir = dir + "/run2";
  EXPECT_DOUBLE_EQ(run_eval(o, b)["accuracy"].get<double>(), 0.0);
}

}  // namespace s2d
