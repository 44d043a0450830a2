#include "s2d/data/task_generators.h"

#include <gtest/gtest.h>

#include <set>

#include "s2d/util/error.h"
#include "test_util.h"

namespace s2d {
using namespace s2d::testing;

namespace {
SyntheticTaskOptions opts(int64_t n, int k, uint64_t seed) {
  SyntheticTaskOptions o;
  o.n = n;
  o.k = k;
  o.seed = seed;
  o.names = load_names(std::string(S2D_SOURCE_DIR) + "/data/names.txt");
  return o;
}
}  // namespace

TEST(Generators, LastLetterQuestionAndLabel) {
  SyntheticTaskOptions o = opts(1, 3, 0);
  o.names = {"Elon", "Musk", "Ada", "Bob"};
  auto t = generate_last_letter(o).at(0);
  // Parse the words back out of the question and recompute the label independently.
  const auto q0 = t.input.find('"'), q1 = t.input.find('"', q0 + 1);
  ASSERT_NE(q1, std::string::npos);
  EXPECT_EQ(t.input.substr(0, q0), "Take the last letters of the words in ");
  EXPECT_EQ(t.input.substr(q1), "\" and concatenate them.");
  std::string words = t.input.substr(q0 + 1, q1 - q0 - 1), expected;
  std::set<std::string> distinct;
  for (size_t s = 0, e; s <= words.size(); s = e + 1) {
    e = words.find(' ', s);
    if (e == std::string::npos) e = words.size();
    std::string w = words.substr(s, e - s);
    distinct.insert(w);
    expected += static_cast<char>(std::tolower(w.back()));
  }
  EXPECT_EQ(distinct.size(), 3u);
  EXPECT_EQ(t.answer, expected);
  EXPECT_EQ(t.task, "last-letter");
}

TEST(Generators, CoinFlipLabelIsParityOfFlips) {
  auto tasks = generate_coin_flip(opts(200, 4, 1));
  ASSERT_EQ(tasks.size(), 200u);
  for (const auto& t : tasks) {
    int flips = 0;
    for (size_t p = t.input.find(" flips the coin."); p != std::string::npos;
         p = t.input.find(" flips the coin.", p + 1))
      ++flips;
    size_t people = 0;
    for (size_t p = t.input.find("the coin."); p != std::string::npos; p = t.input.find("the coin.", p + 1)) ++people;
    EXPECT_EQ(people, 4u) << t.input;
    EXPECT_EQ(*t.answer, flips % 2 == 0 ? "yes" : "no") << t.input;
    EXPECT_EQ(t.input.rfind("A coin is heads up.", 0), 0u);
  }
}

TEST(Generators, SameSeedSameTasksOtherSeedOtherTasks) {
  auto a = generate_last_letter(opts(50, 2, 7)), b = generate_last_letter(opts(50, 2, 7));
  auto c = generate_last_letter(opts(50, 2, 8));
  ASSERT_EQ(a.size(), b.size());
  int same_as_c = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].input, b[i].input);
    EXPECT_EQ(a[i].id, b[i].id);
    same_as_c += a[i].input == c[i].input;
  }
  EXPECT_LT(same_as_c, 5);
}

TEST(Generators, QuestionsAreDistinctAndExclusionsHonoured) {
  auto first = generate_coin_flip(opts(300, 3, 2));
  std::set<std::string> inputs;
  for (const auto& t : first) inputs.insert(t.input);
  EXPECT_EQ(inputs.size(), 300u);
  SyntheticTaskOptions o = opts(300, 3, 3);
  o.exclude = inputs;
  for (const auto& t : generate_coin_flip(o)) EXPECT_FALSE(inputs.count(t.input)) << t.input;
}

TEST(Generators, SplitIsDisjointAndComplete) {
  auto tasks = generate_last_letter(opts(100, 2, 4));
  Split s = split_tasks(tasks, 0.2, 4);
  EXPECT_EQ(s.test.size(), 20u);
  EXPECT_EQ(s.train.size(), 80u);
  std::set<std::string> train_inputs;
  for (const auto& t : s.train) train_inputs.insert(t.input);
  for (const auto& t : s.test) EXPECT_FALSE(train_inputs.count(t.input));
}

TEST(Generators, BadOptionsAreInputErrors) {
  EXPECT_S2D_ERROR(generate_last_letter(opts(5, 0, 0)), ErrorKind::Input, "--words", "found 0");
  EXPECT_S2D_ERROR(generate_coin_flip(opts(0, 2, 0)), ErrorKind::Input, "--n");
  EXPECT_S2D_ERROR(split_tasks(generate_last_letter(opts(10, 2, 0)), 1.5, 0), ErrorKind::Input, "--split");
  SyntheticTaskOptions tiny = opts(10, 1, 0);
  tiny.names = {"Ann", "Bob"};  // only 2 one-word questions exist
  EXPECT_S2D_ERROR(generate_last_letter(tiny), ErrorKind::Input, "distinct questions");
}

TEST(Tasks, RoundTripKeepsExtraFields) {
  const auto dir = fresh_dir("d");
  write_text(dir + "/t.jsonl",
             "{\"id\":\"j1\",\"input\":\"Q\",\"task\":\"judge\",\"question\":\"q\",\"response_a\":\"a\","
             "\"response_b\":\"b\",\"label\":\"A\"}\n");
  auto tasks = read_tasks(dir + "/t.jsonl");
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_FALSE(tasks[0].answer.has_value());
  write_tasks(dir + "/u.jsonl", tasks);
  auto again = read_tasks(dir + "/u.jsonl");
  EXPECT_EQ(task_to_json(again[0]), task_to_json(tasks[0]));
  EXPECT_EQ(again[0].extra["response_b"], "b");
}

TEST(Tasks, BadRecordsNameFileLineAndField) {
  const auto dir = fresh_dir("d");
  write_text(dir + "/m.jsonl", "{\"id\":\"a\",\"input\":\"x\",\"task\":\"t\"}\n{\"id\":\"b\",\"task\":\"t\"}\n");
  EXPECT_S2D_ERROR(read_tasks(dir + "/m.jsonl"), ErrorKind::Input, "m.jsonl:2", "'input'", "missing field");
  write_text(dir + "/w.jsonl", "{\"id\":5,\"input\":\"x\",\"task\":\"t\"}\n");
  EXPECT_S2D_ERROR(read_tasks(dir + "/w.jsonl"), ErrorKind::Input, "w.jsonl:1", "'id'", "found number");
  write_text(dir + "/d.jsonl",
             "{\"id\":\"a\",\"input\":\"x\",\"task\":\"t\"}\n{\"id\":\"a\",\"input\":\"y\",\"task\":\"t\"}\n");
  EXPECT_S2D_ERROR(read_tasks(dir + "/d.jsonl"), ErrorKind::Input, "d.jsonl:2", "duplicate id");
  write_text(dir + "/e.jsonl", "\n");
  EXPECT_S2D_ERROR(read_tasks(dir + "/e.jsonl"), ErrorKind::Input, "e.jsonl", "empty file");
}

}  // namespace s2d
