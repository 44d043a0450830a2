// The toy world: its task generators, the symbolic teacher (whose System 2 answers must be right
// and whose planted System 1 habits must be what the README says), and the corpus builder's
// promises: deterministic, disjoint splits, no labels in distill files.
#include <gtest/gtest.h>

#include <set>

#include "s2d/data/convert.h"
#include "s2d/data/task_generators.h"
#include "s2d/methods/answers.h"
#include "s2d/methods/method_spec.h"
#include "s2d/methods/runner.h"
#include "s2d/toy/corpus.h"
#include "s2d/toy/teacher.h"
#include "s2d/toy/world.h"
#include "s2d/util/error.h"
#include "s2d/util/jsonl.h"
#include "test_util.h"

namespace s2d {
using namespace s2d::testing;
using namespace s2d::toy;

namespace {

SyntheticTaskOptions opts(int64_t n, int k, uint64_t seed = 1) {
  SyntheticTaskOptions g;
  g.n = n;
  g.k = k;
  g.seed = seed;
  g.names = load_names(default_names_path());
  return g;
}

// Runs `method` with the teacher; returns id -> record.
std::map<std::string, nlohmann::json> teach(const std::vector<Task>& tasks, const std::string& method,
                                            bool swapped = false) {
  Teacher teacher(tasks, method);
  std::vector<MethodUnit> units;
  for (const auto& t : tasks) units.push_back({&t, 0, swapped});
  std::map<std::string, nlohmann::json> out;
  run_method(load_method_spec(method), units, teacher, {}, [&](nlohmann::json&& r) {
    const std::string id = r["id"];  // before the move: the right side of = is evaluated first
    out[id] = std::move(r);
  });
  return out;
}

// A corpus at 1% scale with 30 distill and 20 test questions per task: seconds to build.
CorpusOptions small_corpus(const std::string& out_dir) {
  CorpusOptions o;
  o.scale = 0.01;
  o.distill_n = 30;
  o.test_n = 20;
  o.dev_n = 20;
  o.out_dir = out_dir;
  return o;
}

}  // namespace

TEST(ToyWorld, ArithmeticAnswersAreSums) {
  for (const auto& t : generate_arithmetic(opts(50, 3))) {
    long a = 0, b = 0;
    ASSERT_EQ(std::sscanf(t.input.c_str(), "What is %ld + %ld?", &a, &b), 2) << t.input;
    EXPECT_GE(a, 100);
    EXPECT_LT(b, 1000);
    EXPECT_EQ(*t.answer, std::to_string(a + b));
  }
  EXPECT_S2D_ERROR(generate_arithmetic(opts(5, 0)), ErrorKind::Input, "--digits");
}

TEST(ToyWorld, QaAnswerIsStatedInTheFactsAndTheWrongOneToo) {
  for (const auto& t : generate_qa(opts(50, 3))) {
    const std::string ctx = t.extra["context"];
    const std::string entity = t.meta["entity"], relation = t.meta["relation"];
    EXPECT_NE(ctx.find(entity + " has the " + relation + " " + *t.answer + "."), std::string::npos) << t.input;
    const std::string wrong = t.extra["incorrect_answer"];
    EXPECT_NE(wrong, *t.answer);
    EXPECT_NE(ctx.find(" " + wrong + "."), std::string::npos);
    EXPECT_EQ(t.input, "Facts: " + ctx + " Question: " + t.extra["question"].get<std::string>());
    EXPECT_EQ(t.extra["aliases"], nlohmann::json::array({*t.answer}));  // eval finds the value in a sentence
  }
}

TEST(ToyWorld, FactsReadBackFromTheirContext) {
  for (const auto& t : generate_qa(opts(20, 4))) {
    const auto facts = facts_of(t.extra["context"]);
    ASSERT_EQ(facts.size(), 4u) << t.input;
    std::string rebuilt;
    for (const auto& f : facts) rebuilt += (rebuilt.empty() ? "" : " ") + fact_sentence(f.entity, f.relation, f.value);
    EXPECT_EQ(rebuilt, t.extra["context"]);
  }
  EXPECT_TRUE(facts_of("Not a fact. Deia has the river.").empty());
}

TEST(ToyWorld, JudgeLabelPointsAtTheTrueAnswer) {
  int a = 0;
  for (const auto& t : generate_judge(opts(100, 3))) {
    const std::string label = t.extra["label"];
    const std::string right = t.extra[label == "A" ? "response_a" : "response_b"];
    const std::string off_topic = t.extra[label == "A" ? "response_b" : "response_a"];
    const std::string context = t.extra["context"];
    EXPECT_NE(context.find(right), std::string::npos) << right;
    // The other answer is another fact of the question, about another relation than the asked one.
    EXPECT_NE(context.find(off_topic), std::string::npos) << off_topic;
    const auto facts = facts_of(right + " " + off_topic);
    ASSERT_EQ(facts.size(), 2u);
    EXPECT_NE(t.input.find("Which " + facts[0].relation + " "), std::string::npos) << t.input;
    EXPECT_NE(facts[0].relation, facts[1].relation);
    a += label == "A";
  }
  EXPECT_GT(a, 30);  // both orders occur
  EXPECT_LT(a, 70);
}

TEST(Teacher, SystemTwoAnswersAreRight) {
  const std::vector<std::pair<std::vector<Task>, std::string>> cases = {{generate_last_letter(opts(30, 4)), "rar2"},
                                                                        {generate_coin_flip(opts(30, 5)), "cot"},
                                                                        {generate_arithmetic(opts(30, 4)), "cot"},
                                                                        {generate_qa(opts(30, 3)), "s2a"}};
  for (const auto& [tasks, method] : cases) {
    for (const auto& [id, r] : teach(tasks, method)) {
      const auto& t = *std::find_if(tasks.begin(), tasks.end(), [&](const Task& x) { return x.id == id; });
      const auto want = extract_answer(*t.answer, answer_kind_for_task(t.task));
      if (t.task == "toy-qa") {  // a sentence that restates the fact; eval's alias rule finds the value in it
        EXPECT_EQ(r["final"], qa_sentence(t, *t.answer)) << t.input;
        EXPECT_NE((" " + r["answer"].get<std::string>() + " ").find(" " + *want + " "), std::string::npos)
            << r["answer"];
        continue;
      }
      EXPECT_EQ(r["answer"], *want) << method << " " << t.input << "\n" << r["steps"].back()["output"];
    }
  }
  // BSM: both orders give the labelled verdict once mapped back.
  const auto judge = generate_judge(opts(30, 3));
  for (bool swapped : {false, true}) {
    for (const auto& [id, r] : teach(judge, "bsm", swapped)) {
      const auto& t = *std::find_if(judge.begin(), judge.end(), [&](const Task& x) { return x.id == id; });
      EXPECT_EQ(r["answer"], t.extra["label"]) << (swapped ? "swapped " : "") << id;
      EXPECT_EQ(r["final"], "[[" + t.extra["label"].get<std::string>() + "]]");
    }
  }
}

TEST(Teacher, SystemOneHabitsAreThePlantedOnes) {
  // Sycophancy: the direct answer is the one the opinion points at, in every biased prompt.
  const auto biased = make_biased(generate_qa(opts(40, 3)), 3);
  int agreed = 0, n = 0;
  for (const auto& [id, r] : teach(biased, "system1")) {
    const auto& t = *std::find_if(biased.begin(), biased.end(), [&](const Task& x) { return x.id == id; });
    const std::string bias = t.meta["bias"];
    const std::string pointed = bias == "suggest_correct"      ? *t.answer
                                : bias == "discourage_correct" ? t.extra["incorrect_answer"].get<std::string>()
                                                               : t.meta["suggested"].get<std::string>();
    agreed += r["final"] == qa_sentence(t, pointed);
    ++n;
  }
  EXPECT_EQ(n, 120);
  EXPECT_EQ(agreed, n);
  // Position bias: most direct verdicts are A, whichever answer is right.
  const auto judge = generate_judge(opts(200, 3));
  int says_a = 0;
  for (const auto& [id, r] : teach(judge, "system1")) says_a += r["answer"] == "A";
  EXPECT_GT(says_a, 140);
  EXPECT_LT(says_a, 200);
}

TEST(Teacher, UscChoiceIsTheFirstMajorityResponse) {
  EXPECT_EQ(usc_choice({"x", "y", "y", "x", "y"}), 2);
  EXPECT_EQ(usc_choice({"a"}), 1);
}

TEST(ToyCorpus, DeterministicDisjointAndUnlabelledWhereItMustBe) {
  const auto dir = fresh_dir("c");
  CorpusOptions o = small_corpus(dir + "/a");
  const auto sum = build_corpus(o);
  EXPECT_GT(sum.examples, 400);
  for (const char* part : {"last-letter/rar2", "coin-flip/cot", "arithmetic/cot", "toy-qa/s2a", "toy-qa/usc",
                           "judge/bsm", "judge/system1"})
    EXPECT_GT(sum.parts.at(part), 0) << part;
  o.out_dir = dir + "/b";
  build_corpus(o);
  EXPECT_EQ(read_text(dir + "/a/corpus.jsonl"), read_text(dir + "/b/corpus.jsonl"));
  EXPECT_EQ(read_text(dir + "/a/tasks/judge.test.jsonl"), read_text(dir + "/b/tasks/judge.test.jsonl"));
  EXPECT_EQ(read_text(dir + "/a/primer.jsonl"), read_text(dir + "/b/primer.jsonl"));

  // The primer: lookup lessons (every fact of a question asked and restated), nothing else.
  std::set<std::string> trained_questions;
  std::map<std::string, int> primer_kinds;
  for (const auto& j : read_jsonl_all(dir + "/a/primer.jsonl")) {
    ++primer_kinds[j["meta"]["task"].get<std::string>() + "/" + j["meta"]["step"].get<std::string>()];
    trained_questions.insert(j["meta"]["question"].get<std::string>());
  }
  EXPECT_EQ(primer_kinds, (std::map<std::string, int>{{"toy-qa/all-facts", 400}}));
  for (const auto& j : read_jsonl_all(dir + "/a/corpus.jsonl"))
    trained_questions.insert(j["meta"]["question"].get<std::string>());
  std::map<std::string, int> seen;  // "tasks/TASK|question" -> files of that task holding it
  for (const auto& [path, n] : sum.task_files) {
    std::set<std::string> in_file;
    for (const auto& j : read_jsonl_all(dir + "/a/" + path)) {
      const std::string q = j.value("unbiased_input", j["input"].get<std::string>());
      EXPECT_FALSE(trained_questions.count(q)) << path << ": " << q;
      if (path.find(".distill.") != std::string::npos) {
        EXPECT_FALSE(j.contains("answer")) << path;
        EXPECT_FALSE(j.contains("label")) << path;
        EXPECT_FALSE(j.contains("incorrect_answer")) << path;
        EXPECT_FALSE(j.contains("aliases")) << path;
      }
      if (path.find(".dev.") != std::string::npos) {
        EXPECT_TRUE(j.contains("answer") || j.contains("label")) << path;
      }
      in_file.insert(q);
    }
    // qa.test and qa.dev hold biased-qa's questions without opinions, on purpose
    if (path == "tasks/qa.test.jsonl" || path == "tasks/qa.dev.jsonl") continue;
    for (const auto& q : in_file) ++seen[path.substr(0, path.find('.')) + "|" + q];
  }
  EXPECT_EQ(sum.task_files.at("tasks/last-letter.dev.jsonl"), 20);
  // distill, test and dev of one task never share a question
  for (const auto& [q, c] : seen) EXPECT_EQ(c, 1) << q;

  o.out_dir = dir + "/a";
  EXPECT_S2D_ERROR(build_corpus(o), ErrorKind::Input, "already exists", "--overwrite");
}

// The shipped model was trained on the corpus drawn with 400 distill questions per task; the 600
// added later must leave that corpus byte for byte the same and only append to the distill files.
TEST(ToyCorpus, ExtraDistillQuestionsLeaveTheCorpusAlone) {
  const auto dir = fresh_dir("x");
  CorpusOptions o = small_corpus(dir + "/plain");
  o.distill_extra_n = 0;
  build_corpus(o);
  o.distill_extra_n = 25;
  o.out_dir = dir + "/extra";
  const auto sum = build_corpus(o);
  EXPECT_EQ(read_text(dir + "/plain/corpus.jsonl"), read_text(dir + "/extra/corpus.jsonl"));
  for (const auto& [path, n] : sum.task_files) {
    const std::string plain = read_text(dir + "/plain/" + path), extra = read_text(dir + "/extra/" + path);
    if (path.find(".test.") != std::string::npos) {
      EXPECT_EQ(plain, extra) << path;
      continue;
    }
    if (path.find(".dev.") != std::string::npos) continue;    // drawn after the extra questions
    EXPECT_EQ(extra.substr(0, plain.size()), plain) << path;  // the first 30 are the same questions
    EXPECT_EQ(n, path == "tasks/biased-qa.distill.jsonl" ? 30 + 27 : 30 + 25) << path;
  }
  o.distill_extra_n = -1;
  o.out_dir = dir + "/bad";
  EXPECT_S2D_ERROR(build_corpus(o), ErrorKind::Input, "--distill-extra-n");
  o.distill_extra_n = 0;
  o.dev_n = -1;
  EXPECT_S2D_ERROR(build_corpus(o), ErrorKind::Input, "--dev-n");
}

}  // namespace s2d
