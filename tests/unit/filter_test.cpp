// Curation logic on hand-built sample files: majority votes, ties, thresholds, perturbation,
// USC (with a scripted backend), the oracle's marking, and bad inputs.
#include "s2d/pipeline/filter.h"

#include <gtest/gtest.h>

#include "s2d/methods/vote.h"

#include "s2d/util/error.h"
#include "s2d/util/jsonl.h"
#include "scripted_backend.h"
#include "test_util.h"

namespace s2d {
using namespace s2d::testing;

namespace {

nlohmann::json rec(const std::string& id, int sample, const nlohmann::json& answer, const std::string& method = "rar2",
                   bool perturbed = false) {
  nlohmann::json r = {
      {"id", id},
      {"task", "coin-flip"},
      {"method", method},
      {"sample", sample},
      {"input", "Q " + id},
      {"answer", answer},
      {"final", answer.is_string() ? (answer.get<std::string>() == "yes" ? "Yes" : answer.get<std::string>()) : ""}};
  if (perturbed) r["perturbed"] = true;
  return r;
}

std::string write_samples(const std::string& dir, const std::vector<nlohmann::json>& recs) {
  std::string text;
  for (const auto& r : recs) text += r.dump() + "\n";
  write_text(dir + "/samples.jsonl", text);
  return dir + "/samples.jsonl";
}

std::map<std::string, nlohmann::json> kept(const std::string& out) {
  std::map<std::string, nlohmann::json> m;
  for (auto& j : read_jsonl_all(out, false)) m[j["id"]] = j;
  return m;
}

}  // namespace

TEST(Filter, SelfConsistencyMajorityTiesAndThresholds) {
  const auto dir = fresh_dir("d");
  FilterOptions o;
  o.in_path = write_samples(
      dir, {
               rec("a", 0, "yes"), rec("a", 1, "yes"), rec("a", 2, "no"), rec("a", 3, nullptr),  // 2 of 4 agree
               rec("b", 0, "yes"), rec("b", 1, "no"),                                            // tie
               rec("c", 0, "no"), rec("c", 1, "yes"), rec("c", 2, "maybe"), rec("c", 3, "x"),  // all differ: tie of 1s
               rec("d", 0, nullptr), rec("d", 1, nullptr),                                     // nothing parsed
               rec("e", 0, "no"), rec("e", 1, "no"), rec("e", 2, "no"),                        // unanimous
           });
  o.out_path = dir + "/sft.jsonl";
  o.min_agreement = 0.5;
  auto s = run_filter(o, nullptr);
  auto k = kept(o.out_path);
  EXPECT_EQ(s.inputs, 5);
  EXPECT_EQ(s.kept, 2);
  ASSERT_TRUE(k.count("a") && k.count("e"));
  // The user turn is the System 1 prompt eval sends: the input plus coin-flip's format hint.
  EXPECT_EQ(k["a"]["messages"][0]["content"], "Q a Answer Yes or No.");
  EXPECT_EQ(k["a"]["messages"][1]["content"], "Yes");
  EXPECT_EQ(k["a"]["meta"]["votes"], 2);
  EXPECT_DOUBLE_EQ(k["a"]["meta"]["agreement"].get<double>(), 0.5);
  EXPECT_EQ(s.dropped["tie"], 2);
  EXPECT_EQ(s.dropped["no_parsed_answer"], 1);
  EXPECT_EQ(s.agreement["1.0-1.1"] + s.agreement["0.9-1.0"], 1);  // e

  o.min_agreement = 0.75;  // a no longer passes
  s = run_filter(o, nullptr);
  EXPECT_EQ(s.kept, 1);
  EXPECT_EQ(s.dropped["low_agreement"], 1);
  o.min_agreement = 0.0;
  o.min_votes = 3;  // only e has 3 votes
  s = run_filter(o, nullptr);
  EXPECT_EQ(s.kept, 1);
  EXPECT_EQ(s.dropped["too_few_votes"], 1);
  auto summary = nlohmann::json::parse(read_text(o.out_path + ".summary.json"));
  EXPECT_EQ(summary["kept"], 1);
}

TEST(Filter, NoneKeepsTheFirstParsedSampleAndRawKeepsTheInput) {
  const auto dir = fresh_dir("d");
  FilterOptions o;
  o.by = "none";
  o.user_template = "raw";
  o.in_path = write_samples(
      dir, {rec("a", 0, nullptr), rec("a", 1, "no"), rec("a", 2, "yes"), rec("a", 3, "yes"), rec("d", 0, nullptr)});
  o.out_path = dir + "/sft.jsonl";
  auto s = run_filter(o, nullptr);
  auto k = kept(o.out_path);
  ASSERT_EQ(s.kept, 1);
  EXPECT_EQ(k["a"]["messages"][1]["content"], "no");  // the first answer, though the majority says yes
  EXPECT_EQ(k["a"]["messages"][0]["content"], "Q a");
  EXPECT_EQ(s.dropped["no_parsed_answer"], 1);
}

TEST(Filter, TheOutputDoesNotDependOnTheOrderOfTheSamples) {
  // generate writes tasks as they finish; a resumed run or merged shards order them otherwise.
  // The SFT file comes out by task id, and "the first sample" is the lowest index.
  const std::vector<nlohmann::json> in_order = {rec("a", 0, "no"),  rec("a", 1, "yes"), rec("b", 0, "yes"),
                                                rec("b", 1, "yes"), rec("c", 0, "yes"), rec("c", 1, "no")};
  std::string out[2], shuffled_out;
  for (int shuffled : {0, 1}) {
    FilterOptions o;
    o.by = "none";
    auto recs = in_order;
    if (shuffled) recs = {in_order[5], in_order[3], in_order[1], in_order[4], in_order[0], in_order[2]};
    const auto dir = fresh_dir(shuffled ? "shuffled" : "in-order");
    o.in_path = write_samples(dir, recs);
    o.out_path = dir + "/sft.jsonl";
    run_filter(o, nullptr);
    out[shuffled] = read_text(o.out_path);
    shuffled_out = o.out_path;
  }
  EXPECT_EQ(out[1], out[0]);
  const auto lines = read_jsonl_all(shuffled_out, false);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["id"], "a");
  EXPECT_EQ(lines[0]["messages"][1]["content"], "no");  // sample 0's, though sample 1 came first in the file
  EXPECT_EQ(lines[2]["id"], "c");
}

TEST(Filter, PerturbationNeedsBothOrdersToAgree) {
  const auto dir = fresh_dir("d");
  FilterOptions o;
  o.by = "perturbation";
  o.in_path = write_samples(dir, {rec("p", 0, "A", "bsm"), rec("p", 0, "A", "bsm", true),  // consistent
                                  rec("q", 0, "A", "bsm"), rec("q", 0, "B", "bsm", true),  // flips with order
                                  rec("r", 0, "B", "bsm"),                                 // swap missing
                                  rec("t", 0, "tie", "bsm"), rec("t", 0, "tie", "bsm", true)});
  o.out_path = dir + "/sft.jsonl";
  auto s = run_filter(o, nullptr);
  auto k = kept(o.out_path);
  EXPECT_EQ(s.kept, 2);
  EXPECT_TRUE(k.count("p") && k.count("t"));
  EXPECT_EQ(s.dropped["inconsistent_under_swap"], 1);
  EXPECT_EQ(s.dropped["missing_perturbation"], 1);
}

TEST(Filter, PerturbationBothOrdersTeachesTheSwappedPairToo) {
  const auto dir = fresh_dir("d");
  auto judged = [](const std::string& id, const std::string& a, const std::string& b, const std::string& verdict,
                   bool perturbed) {
    nlohmann::json r = rec(id, 0, verdict, "bsm", perturbed);
    r["task"] = "judge";
    r["input"] = "A: " + a + " B: " + b;
    r["final"] = verdict == "tie" ? "[[C]]" : "[[" + verdict + "]]";  // the shown order's verdict, in both records
    return r;
  };
  FilterOptions o;
  o.by = "perturbation";
  o.both_orders = true;
  o.in_path = write_samples(dir, {judged("p", "x", "y", "B", false), judged("p", "y", "x", "B", true),
                                  judged("q", "x", "y", "A", false), judged("q", "y", "x", "B", true),  // inconsistent
                                  judged("t", "x", "y", "tie", false), judged("t", "y", "x", "tie", true)});
  o.out_path = dir + "/sft.jsonl";
  auto s = run_filter(o, nullptr);
  auto k = kept(o.out_path);
  EXPECT_EQ(s.kept, 2);
  EXPECT_EQ(s.examples, 4);
  ASSERT_EQ(k.size(), 4u);
  EXPECT_EQ(k["p"]["messages"][0]["content"], "A: x B: y");
  EXPECT_EQ(k["p"]["messages"][1]["content"], "[[B]]");
  EXPECT_EQ(k["p#swapped"]["messages"][0]["content"], "A: y B: x");
  EXPECT_EQ(k["p#swapped"]["messages"][1]["content"], "[[A]]");  // the same answer, now in first place
  EXPECT_EQ(k["p#swapped"]["meta"]["order"], "swapped");
  EXPECT_EQ(k["t#swapped"]["messages"][1]["content"], "[[C]]");
  EXPECT_FALSE(k.count("q") || k.count("q#swapped"));

  o.by = "self-consistency";
  EXPECT_S2D_ERROR(run_filter(o, nullptr), ErrorKind::Input, "--both-orders", "--by perturbation");
}

TEST(Filter, UscAsksTheModelAndRecordsItsChoice) {
  const auto dir = fresh_dir("d");
  FilterOptions o;
  o.by = "usc";
  o.in_path = write_samples(
      dir, {rec("u", 0, "no", "s2a"), rec("u", 1, "yes", "s2a"), rec("u", 2, "yes", "s2a"), rec("v", 0, "no", "s2a")});
  o.out_path = dir + "/sft.jsonl";
  ScriptedBackend b;
  b.reply = "The most consistent response is Response 2.";
  auto s = run_filter(o, &b);
  auto k = kept(o.out_path);
  ASSERT_EQ(s.kept, 1);
  EXPECT_EQ(k["u"]["messages"][1]["content"], "Yes");
  EXPECT_EQ(k["u"]["meta"]["usc"]["choice"], 2);
  ASSERT_EQ(b.prompts.size(), 1u);
  EXPECT_NE(b.prompts[0].find("Response 3: Yes"), std::string::npos) << b.prompts[0];
  EXPECT_EQ(s.dropped["fewer_than_two_samples"], 1);
  b.reply = "They are all fine.";
  s = run_filter(o, &b);
  EXPECT_EQ(s.dropped["unparsed_choice"], 1);
  EXPECT_S2D_ERROR(run_filter(o, nullptr), ErrorKind::Input, "--model");
}

TEST(Filter, OracleUsesLabelsAndSaysSo) {
  const auto dir = fresh_dir("d");
  write_text(dir + "/tasks.jsonl", R"({"id":"a","input":"Q a","task":"coin-flip","answer":"no"}
{"id":"b","input":"Q b","task":"coin-flip","answer":"yes"}
)");
  FilterOptions o;
  o.by = "oracle";
  o.in_path = write_samples(dir, {rec("a", 0, "yes"), rec("a", 1, "no"), rec("b", 0, "no")});
  o.out_path = dir + "/sft.jsonl";
  EXPECT_S2D_ERROR(run_filter(o, nullptr), ErrorKind::Input, "--tasks");
  o.tasks_path = dir + "/tasks.jsonl";
  auto s = run_filter(o, nullptr);
  auto k = kept(o.out_path);
  ASSERT_EQ(s.kept, 1);
  EXPECT_EQ(k["a"]["messages"][1]["content"], "no");
  EXPECT_NE(k["a"]["meta"]["oracle"].get<std::string>().find("ablations only"), std::string::npos);
}

TEST(Filter, BadInputsAreNamed) {
  const auto dir = fresh_dir("d");
  FilterOptions o;
  o.out_path = dir + "/sft.jsonl";
  o.in_path = write_samples(dir, {rec("a", 0, "yes", "rar2"), rec("b", 0, "yes", "cot")});
  EXPECT_S2D_ERROR(run_filter(o, nullptr), ErrorKind::Input, "samples.jsonl:2", "different methods", "cot");
  o.allow_mixed_methods = true;
  EXPECT_EQ(run_filter(o, nullptr).kept, 2);
  write_text(dir + "/nofinal.jsonl", R"({"id":"a","method":"cot","input":"q"})"
                                     "\n");
  o.in_path = dir + "/nofinal.jsonl";
  EXPECT_S2D_ERROR(run_filter(o, nullptr), ErrorKind::Input, "nofinal.jsonl:1", "'final'");
  o.by = "majority";
  EXPECT_S2D_ERROR(run_filter(o, nullptr), ErrorKind::Input, "--by", "majority");
}

TEST(MajorityVote, TieIsNoAnswerWhicheverLabelSortsFirst) {
  using A = std::optional<std::string>;
  Vote v = majority_vote({A("B"), A("A"), A("B"), std::nullopt});
  EXPECT_EQ(v.answer, A("B"));
  EXPECT_EQ(v.votes, 2);
  EXPECT_EQ(v.total, 4);
  EXPECT_FALSE(v.tie);
  v = majority_vote({A("B"), A("A")});  // "A" sorts first, and must not win for it
  EXPECT_TRUE(v.tie);
  EXPECT_FALSE(v.answer);
  EXPECT_FALSE(majority_vote({std::nullopt, std::nullopt}).answer);
}

}  // namespace s2d
