// The method runner lets each unit move on by itself: a unit's next step is asked as soon as its
// previous step answered (Backend::complete_open), a finished task makes room for the next, and
// that changes no record, seed or grouping.
// Checked with the toy teacher behind two backends: one that answers round by round (every unit's
// step k before any step k+1), and one that answers one request at a time, newest first, as an
// engine whose batch newcomers join could.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "s2d/data/task_generators.h"
#include "s2d/methods/method_spec.h"
#include "s2d/methods/runner.h"
#include "s2d/pipeline/generate.h"
#include "s2d/toy/teacher.h"
#include "s2d/toy/world.h"
#include "s2d/util/error.h"
#include "s2d/util/jsonl.h"
#include "test_util.h"

namespace s2d {

namespace {

// Forwards each request to the teacher, one at a time, and records what it was asked. The branch
// step of task `garbled` gets a reply without criteria (so that unit fails there).
class Recording : public Backend {
 public:
  Recording(Backend& teacher, std::string garbled) : teacher_(teacher), garbled_(std::move(garbled)) {}
  std::multiset<std::string> asked;   // tag, prompt, seed and samples of every request
  std::vector<std::string> answered;  // tags, in the order answered
  std::set<std::string> finished;     // tasks whose records are out (the test's run() fills it)
  size_t most_open = 0;               // the most tasks with a request out and no record yet

  void complete(const std::vector<CompletionRequest>& reqs,
                const std::function<void(CompletionResult&&)>& cb) override {
    for (const auto& r : reqs) arrive(r);
    for (const auto& r : reqs) answer(r, cb);
  }
  std::string describe() const override { return "recording"; }
  int64_t generated_tokens() const override { return 0; }

 protected:
  void arrive(const CompletionRequest& r) {
    started_.insert(r.tag.substr(0, r.tag.find('|')));
    size_t open = 0;
    for (const auto& t : started_) open += !finished.count(t);
    most_open = std::max(most_open, open);
  }
  void answer(const CompletionRequest& r, const std::function<void(CompletionResult&&)>& cb) {
    std::string samples;
    for (int s : r.samples) samples += std::to_string(s) + ",";
    asked.insert(r.tag + "\n" + r.messages.at(0).content + "\n" + std::to_string(r.sampling.seed) + "\n" + samples);
    answered.push_back(r.tag);
    teacher_.complete({r}, [&](CompletionResult&& res) {
      if (r.tag == garbled_ + "|branch")
        for (auto& c : res.choices) c.text = "...";
      cb(std::move(res));
    });
  }

 private:
  Backend& teacher_;
  std::string garbled_;
  std::set<std::string> started_;
};

// Answers the newest request first and asks for newcomers after every answer.
class NewestFirst : public Recording {
 public:
  using Recording::Recording;
  void complete_open(const std::vector<CompletionRequest>& reqs, const std::function<void(CompletionResult&&)>& cb,
                     const Intake& more) override {
    std::vector<CompletionRequest> stack(reqs);
    for (const auto& r : reqs) arrive(r);
    while (!stack.empty()) {
      CompletionRequest r = std::move(stack.back());
      stack.pop_back();
      answer(r, cb);
      if (more)
        for (auto& n : more()) {
          arrive(n);
          stack.push_back(std::move(n));
        }
    }
  }
};

// id#sample -> record, from running `method` over two samples of every task.
// A task's records come out together, once: checked here.
std::map<std::string, nlohmann::json> run(const std::vector<Task>& tasks, const std::string& method, Recording& backend,
                                          const MethodRunOptions& opts = {}) {
  std::vector<MethodUnit> units;
  for (const auto& t : tasks)
    for (int sample : {0, 1}) units.push_back({&t, sample, sample == 1 && method == "bsm"});
  std::map<std::string, nlohmann::json> out;
  std::string last;
  run_method(load_method_spec(method), units, backend, opts, [&](nlohmann::json&& r) {
    const std::string id = r["id"];
    if (id != last) {
      EXPECT_FALSE(backend.finished.count(id)) << "the records of " << id << " are not together";
    }
    last = id;
    backend.finished.insert(id);
    const std::string key = id + "#" + std::to_string(r["sample"].get<int>());  // before r is moved
    out[key] = std::move(r);
  });
  return out;
}

// Whether some request of a step other than the first was answered before one of the first step.
bool later_step_before_a_first(const std::vector<std::string>& tags) {
  auto step_of = [](const std::string& tag) {
    const size_t from = tag.find('|') + 1;
    return tag.substr(from, tag.find('|', from) - from);
  };
  const std::string first = step_of(tags.front());
  bool later_seen = false;
  for (const auto& t : tags) {
    if (step_of(t) != first)
      later_seen = true;
    else if (later_seen)
      return true;
  }
  return false;
}

std::vector<Task> tasks_for(const std::string& method) {
  SyntheticTaskOptions g;
  g.n = 5;
  g.k = 3;
  g.seed = 7;
  g.names = load_names(default_names_path());
  if (method == "bsm") return toy::generate_judge(g);
  if (method == "s2a") return toy::generate_qa(g);
  if (method == "cot") return generate_coin_flip(g);
  return generate_last_letter(g);
}

// A backend with `slots` decode slots that counts the tasks it is given at once.
class Slots : public Recording {
 public:
  Slots(Backend& teacher, int64_t slots) : Recording(teacher, ""), slots_(slots) {}
  int64_t decode_slots() const override { return slots_; }

 private:
  int64_t slots_;
};

}  // namespace

TEST(MethodRun, GenerateKeepsEnoughTasksInFlightToFillTheBatchTwice) {
  SyntheticTaskOptions g;
  g.n = 300;
  g.k = 2;
  g.seed = 1;
  g.names = load_names(default_names_path());
  const auto tasks = generate_last_letter(g);
  const std::string dir = testing::fresh_dir("tasks_in_flight");
  {
    JsonlWriter w(dir + "/tasks.jsonl");
    for (const auto& t : tasks) w.write(task_to_json(t));
  }
  toy::Teacher teacher(tasks, "system1");
  auto most_open = [&](int64_t slots, int samples, int64_t chunk) {
    GenerateOptions o;
    o.tasks_path = dir + "/tasks.jsonl";
    o.out_path =
        dir + "/samples-" + std::to_string(slots) + "-" + std::to_string(samples) + "-" + std::to_string(chunk);
    o.samples = samples;
    o.chunk_tasks = chunk;
    o.sampling.temperature = samples > 1 ? 0.7 : 0.0;
    Slots backend(teacher, slots);
    run_generate(o, backend, [&](const nlohmann::json& r) { backend.finished.insert(r["id"].get<std::string>()); });
    return backend.most_open;
  };
  EXPECT_EQ(most_open(100, 1, 0), 200u);  // 256 decode slots on a GPU would no longer see 64 tasks at most
  EXPECT_EQ(most_open(100, 8, 0), 64u);   // 64 tasks are 512 units: already over twice the slots
  EXPECT_EQ(most_open(0, 1, 0), 64u);     // a backend that cannot tell (HTTP)
  EXPECT_EQ(most_open(100, 1, 10), 10u);  // --chunk as given
  EXPECT_EQ(tasks_to_fill(100, 3, false, 64), 67);
  EXPECT_EQ(tasks_to_fill(300, 3, true, 64), 100);        // a swapped copy doubles a task's units
  EXPECT_GT(tasks_to_fill(INT64_MAX, 1, false, 64), 64);  // no overflow
  GenerateOptions bad;
  bad.tasks_path = dir + "/tasks.jsonl";
  bad.out_path = dir + "/bad.jsonl";
  bad.chunk_tasks = -1;
  Slots backend(teacher, 1);
  EXPECT_S2D_ERROR(run_generate(bad, backend), ErrorKind::Input, "--chunk", ">= 0", "-1");
}

TEST(MethodRun, UnitsMoveOnAloneAndTasksStreamWithTheRecordsOfRoundByRound) {
  MethodRunOptions llm_merge;
  llm_merge.bsm_merge = "llm";
  llm_merge.sampling.seed = 3;
  const std::vector<std::pair<std::string, MethodRunOptions>> cases = {
      {"rar2", {}}, {"cot", {}}, {"s2a", {}}, {"bsm", {}}, {"bsm", llm_merge}};
  for (const auto& [method, opts] : cases) {
    SCOPED_TRACE(method + " " + opts.bsm_merge);
    const auto tasks = tasks_for(method);
    toy::Teacher teacher(tasks, method);
    Recording rounds(teacher, tasks[0].id);
    NewestFirst alone(teacher, tasks[0].id);
    const auto want = run(tasks, method, rounds, opts);
    const auto got = run(tasks, method, alone, opts);
    ASSERT_EQ(want.size(), tasks.size() * 2);
    for (const auto& [key, rec] : want) EXPECT_EQ(got.at(key), rec) << key;
    EXPECT_EQ(alone.asked, rounds.asked);  // the same requests: prompts, seeds, samples grouped alike
    if (method == "bsm") {                 // the garbled unit ends at its branch step, without an answer
      const auto& failed = got.at(tasks[0].id + "#0");
      EXPECT_TRUE(failed["answer"].is_null());
      EXPECT_EQ(failed["steps"].size(), 1u);
      EXPECT_FALSE(got.at(tasks[1].id + "#0")["answer"].is_null());
    }
    // Two tasks in flight at most: the same records and requests, the window full but never over.
    MethodRunOptions two = opts;
    two.tasks_in_flight = 2;
    NewestFirst windowed(teacher, tasks[0].id);
    EXPECT_EQ(run(tasks, method, windowed, two), want);
    EXPECT_EQ(windowed.asked, rounds.asked);
    EXPECT_EQ(windowed.most_open, 2u);
    EXPECT_EQ(alone.most_open, tasks.size());
    // Round by round, no first step is answered after a later step; one at a time, some are.
    if (method != "cot") {  // cot has one step
      EXPECT_FALSE(later_step_before_a_first(rounds.answered));
      EXPECT_TRUE(later_step_before_a_first(alone.answered));
    }
  }
}

}  // namespace s2d
