#include "s2d/toy/corpus.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>

#include "s2d/data/convert.h"
#include "s2d/data/task.h"
#include "s2d/data/task_generators.h"
#include "s2d/methods/method_spec.h"
#include "s2d/methods/runner.h"
#include "s2d/toy/teacher.h"
#include "s2d/toy/world.h"
#include "s2d/util/atomic_file.h"
#include "s2d/util/error.h"
#include "s2d/util/strings.h"

namespace s2d::toy {

namespace {

using Generate = std::vector<Task> (*)(const SyntheticTaskOptions&);

Generate generator_for(const std::string& task) {
  if (task == "last-letter") return generate_last_letter;
  if (task == "coin-flip") return generate_coin_flip;
  if (task == "arithmetic") return generate_arithmetic;
  if (task == "toy-qa") return generate_qa;
  return generate_judge;
}

// Draws tasks that no earlier draw produced: every input goes into `seen`, so the corpus, the
// distill split and the test split never share a question.
class Drawer {
 public:
  Drawer(uint64_t seed, std::vector<std::string> names) : seed_(seed), names_(std::move(names)) {}

  std::vector<Task> draw(const std::string& task, int k, int64_t n, const std::string& salt) {
    SyntheticTaskOptions g;
    g.n = n;
    g.k = k;
    g.seed = seed_ ^ fnv1a(task + "/" + salt + "/" + std::to_string(k));
    g.names = names_;
    g.exclude = seen_;
    auto tasks = generator_for(task)(g);
    for (auto& t : tasks) {
      seen_.insert(t.input);
      t.id = salt + "-" + t.id;  // unique across parts
    }
    return tasks;
  }
  // n tasks spread evenly over k in [k_min, k_max]; a small question space (one name, one digit)
  // gives at most 3/4 of its questions and passes the rest of its share on to the next k.
  std::vector<Task> draw_range(const std::string& task, int k_min, int k_max, int64_t n, const std::string& salt) {
    std::vector<Task> all;
    int64_t carry = 0;
    for (int k = k_min; k <= k_max; ++k) {
      const int ks = k_max - k_min + 1;
      int64_t share = n / ks + (k - k_min < n % ks ? 1 : 0) + carry;
      carry = 0;
      if (const int64_t cap = capacity(task, k); k < k_max && share > cap * 3 / 4) {
        carry = share - cap * 3 / 4;
        share = cap * 3 / 4;
      }
      if (share == 0) continue;
      auto part = draw(task, k, share, salt);
      all.insert(all.end(), std::make_move_iterator(part.begin()), std::make_move_iterator(part.end()));
    }
    return all;
  }

 private:
  int64_t capacity(const std::string& task, int k) const {
    if (k != 1) return INT64_MAX / 8;
    if (task == "last-letter") return static_cast<int64_t>(names_.size());
    if (task == "coin-flip") return 2 * static_cast<int64_t>(names_.size());
    if (task == "arithmetic") return 10 * 10;
    return INT64_MAX / 8;
  }

  uint64_t seed_;
  std::vector<std::string> names_;
  std::set<std::string> seen_;
};

nlohmann::json sft(const std::string& id, const std::string& user, const std::string& assistant, nlohmann::json meta) {
  return {{"id", id},
          {"messages", {{{"role", "user"}, {"content", user}}, {{"role", "assistant"}, {"content", assistant}}}},
          {"meta", std::move(meta)}};
}

// Runs `method` over `tasks` with the teacher and turns every model call into one SFT example.
void add_method(std::vector<nlohmann::json>& out, CorpusSummary& sum, const std::vector<Task>& tasks,
                const std::string& method,
                const std::function<bool(const std::string& id, const std::string& step)>& keep = {}) {
  if (tasks.empty()) return;
  Teacher teacher(tasks, method);
  const MethodSpec spec = load_method_spec(method);
  std::vector<MethodUnit> units;
  for (const auto& t : tasks) units.push_back({&t, 0, false});
  const std::string part = tasks.front().task + "/" + method;
  std::map<std::string, std::string> source;  // id -> the question (unbiased form), for disjointness checks
  for (const auto& t : tasks) source[t.id] = t.extra.value("unbiased_input", t.input);
  run_method(spec, units, teacher, MethodRunOptions{}, [&](nlohmann::json&& rec) {
    const std::string id = rec["id"];
    for (const auto& st : rec["steps"]) {
      if (!st.contains("prompt")) continue;  // symbolic merge: no model call
      const std::string step = st["name"];
      if (keep && !keep(id, step)) continue;
      out.push_back(sft(id + "/" + step, st["prompt"], st["output"],
                        {{"task", rec["task"]}, {"method", method}, {"step", step}, {"question", source[id]}}));
      ++sum.parts[part];
    }
  });
}

// USC lessons: a biased question, 3-6 S2A answers with one answer in the majority, and the
// first majority response named. Mostly the right answer is the majority, sometimes not: USC
// picks the consistent answer, not the right one.
void add_usc(std::vector<nlohmann::json>& out, CorpusSummary& sum, const std::vector<Task>& biased, uint64_t seed) {
  const MethodSpec spec = load_method_spec("usc");
  std::mt19937_64 rng(seed);
  for (const auto& t : biased) {
    const std::string right = t.answer.value_or(""), wrong = t.extra.value("incorrect_answer", "");
    const int n = 3 + static_cast<int>(rng() % 4);
    const bool right_majority = rng() % 10 != 0;
    const int minority = static_cast<int>(rng() % ((n + 1) / 2));  // < n/2
    std::vector<std::string> finals(n, right_majority ? right : wrong);
    for (int i = 0; i < minority; ++i) finals[i] = right_majority ? wrong : right;
    std::shuffle(finals.begin(), finals.end(), rng);
    const int choice = usc_choice(finals);
    std::vector<std::string> shown;  // as `s2d filter --by usc` shows them: each sample's final text
    for (const auto& f : finals) shown.push_back(qa_sentence(t, f));
    out.push_back(sft(t.id + "/usc", render_usc_prompt(spec, t.input, shown),
                      "The most consistent response is Response " + std::to_string(choice) + ".",
                      {{"task", t.task},
                       {"method", "usc"},
                       {"step", "select"},
                       {"question", t.extra.value("unbiased_input", t.input)}}));
    ++sum.parts[t.task + "/usc"];
  }
}

// Direct-answer lessons that ask about every fact of a toy-qa question at once, in random order,
// each answered by restating its fact. One question per lesson gave the model too few lookups to
// learn from: the toy model learns looking up from many of them (scripts/probe_qa_lookup.sh).
void add_qa_all_facts(std::vector<nlohmann::json>& out, CorpusSummary& sum, const std::vector<Task>& tasks,
                      uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (const auto& t : tasks) {
    const std::string context = t.extra.value("context", "");
    std::vector<ParsedFact> facts = facts_of(context);
    std::shuffle(facts.begin(), facts.end(), rng);
    std::string questions, answers;
    for (const auto& f : facts) {
      questions += " " + question_about(f.entity, f.relation);
      answers += (answers.empty() ? "" : " ") + fact_sentence(f.entity, f.relation, f.value);
    }
    out.push_back(sft(t.id + "/all-facts", "Facts: " + context + " Question:" + questions, answers,
                      {{"task", t.task}, {"method", "system1"}, {"step", "all-facts"}, {"question", t.input}}));
    ++sum.parts[t.task + "/system1-all-facts"];
  }
}

Task without_label(Task t) {
  t.answer.reset();
  t.extra.erase("label");
  t.extra.erase("incorrect_answer");
  t.extra.erase("aliases");
  t.meta.erase("suggested");
  return t;
}

std::string jsonl_of(const std::vector<nlohmann::json>& lines) {
  std::string s;
  for (const auto& j : lines) s += j.dump() + "\n";
  return s;
}

}  // namespace

CorpusSummary build_corpus(const CorpusOptions& o) {
  if (!(o.scale > 0))
    throw_input("must be positive", {.field = "--scale", .expected = "> 0", .found = std::to_string(o.scale)});
  for (const auto& [flag, v] : {std::pair{"--distill-extra-n", o.distill_extra_n}, std::pair{"--primer-n", o.primer_n},
                                std::pair{"--dev-n", o.dev_n}})
    if (v < 0) throw_input("must not be negative", {.field = flag, .expected = ">= 0", .found = std::to_string(v)});
  for (const auto& [flag, v] :
       {std::pair{"--distill-n", o.distill_n}, std::pair{"--distill-extra-n", o.distill_extra_n},
        std::pair{"--test-n", o.test_n}, std::pair{"--dev-n", o.dev_n}})
    if (v > kMaxTasksPerDraw)
      throw_input("too many questions per task",
                  {.field = flag, .expected = "<= " + std::to_string(kMaxTasksPerDraw), .found = std::to_string(v)});
  // The largest scaled part (the primer, or a 5,000-example part) must stay one bounded draw.
  const double largest = static_cast<double>(std::max<int64_t>(5000, o.primer_n)) * o.scale;
  if (!(largest <= static_cast<double>(kMaxTasksPerDraw))) {
    char found[48];
    std::snprintf(found, sizeof found, "%.0f", largest);
    throw_input("corpus too large: one part would hold more questions than a draw makes",
                {.field = "--scale/--primer-n",
                 .expected = "<= " + std::to_string(kMaxTasksPerDraw) + " questions per part",
                 .found = found});
  }
  if (o.distill_n < 3 || o.test_n < 3)
    throw_input("too few questions", {.field = "--distill-n/--test-n",
                                      .expected = ">= 3 each",
                                      .found = std::to_string(o.distill_n) + "/" + std::to_string(o.test_n)});
  if (std::filesystem::exists(o.out_dir) && !o.overwrite)
    throw_input("output directory already exists", {.file = o.out_dir, .hint = "pass --overwrite to replace it"});

  Drawer d(o.seed, load_names(o.names_path.empty() ? default_names_path() : o.names_path));
  CorpusSummary sum;
  std::map<std::string, std::vector<Task>> files;  // "tasks/NAME.SPLIT.jsonl" -> tasks

  // Held-out splits first, so the corpus is drawn around them. Test and dev are labelled (dev is
  // for choosing settings without looking at test); distill files carry no labels.
  auto draw_split = [&](const std::string& split, int64_t n) {
    const bool labelled = split == "test" || split == "dev";
    std::map<std::string, std::vector<Task>> part;
    part["last-letter"] = d.draw("last-letter", 4, n, split);
    part["coin-flip"] = d.draw("coin-flip", 4, n, split);
    part["arithmetic"] = d.draw("arithmetic", 3, n, split);
    part["judge"] = d.draw("judge", 3, n, split);
    // Distil on n biased prompts; test (and dev) on n questions, each unbiased and with all three
    // opinions.
    auto qa = d.draw("toy-qa", 3, labelled ? n : (n + 2) / 3, split);
    part["biased-qa"] = make_biased(qa, o.seed);
    if (labelled) part["qa"] = qa;  // unbiased accuracy
    for (auto& [name, tasks] : part) {
      if (!labelled)
        for (auto& t : tasks) t = without_label(std::move(t));
      auto& file = files["tasks/" + name + "." + (labelled ? split : "distill") + ".jsonl"];
      file.insert(file.end(), std::make_move_iterator(tasks.begin()), std::make_move_iterator(tasks.end()));
    }
  };
  draw_split("test", o.test_n);
  draw_split("distill", o.distill_n);

  auto n = [&](int64_t base) { return std::max<int64_t>(1, std::llround(static_cast<double>(base) * o.scale)); };
  std::vector<nlohmann::json> corpus;
  add_method(corpus, sum, d.draw_range("last-letter", 1, 2, n(2500), "c1"), "system1");
  add_method(corpus, sum, d.draw_range("last-letter", 2, 5, n(5000), "c2"), "rar2");
  add_method(corpus, sum, d.draw_range("coin-flip", 1, 2, n(1500), "c1"), "system1");
  add_method(corpus, sum, d.draw_range("coin-flip", 2, 5, n(5000), "c2"), "cot");
  add_method(corpus, sum, d.draw_range("arithmetic", 1, 2, n(2000), "c1"), "system1");
  add_method(corpus, sum, d.draw_range("arithmetic", 2, 4, n(5000), "c2"), "cot");
  add_method(corpus, sum, d.draw_range("toy-qa", 2, 4, n(2000), "c1"), "system1");
  add_method(corpus, sum, make_biased(d.draw_range("toy-qa", 2, 4, n(1000), "c2"), o.seed), "system1");
  add_method(corpus, sum, make_biased(d.draw_range("toy-qa", 2, 4, n(1000), "c3"), o.seed + 1), "s2a");
  add_usc(corpus, sum, make_biased(d.draw_range("toy-qa", 2, 4, n(700), "c4"), o.seed + 2), o.seed);
  add_qa_all_facts(corpus, sum, d.draw_range("toy-qa", 2, 4, n(3000), "c5"), o.seed + 3);
  add_method(corpus, sum, d.draw_range("judge", 2, 4, n(2000), "c1"), "system1");
  // The plan is the same for every question: a quarter of the branch calls teach it enough.
  add_method(corpus, sum, d.draw_range("judge", 2, 4, n(2000), "c2"), "bsm",
             [](const std::string& id, const std::string& step) { return step != "branch" || fnv1a(id) % 4 == 0; });

  // The lookup primer: all-facts lessons on fresh questions, trained on before the corpus
  // (scripts/build_toy_model.sh), so that the model can look a fact up before it meets the
  // methods that need it. Mixed into the corpus instead, the skill formed only as the learning
  // rate decayed (docs/toy-world.md "How the rows got here").
  std::vector<nlohmann::json> primer;
  CorpusSummary primer_sum;
  if (o.primer_n > 0) {
    add_qa_all_facts(primer, primer_sum, d.draw_range("toy-qa", 2, 5, n(o.primer_n), "p1"), o.seed + 4);
    std::mt19937_64 primer_rng(o.seed ^ 0x9E1DULL);  // drawn k by k: interleave them
    std::shuffle(primer.begin(), primer.end(), primer_rng);
  }

  // The extra distill questions and the dev split come last: every draw above is the same with or
  // without them.
  if (o.distill_extra_n > 0) draw_split("distill2", o.distill_extra_n);
  if (o.dev_n > 0) draw_split("dev", o.dev_n);

  // Interleave the parts so that any prefix of the file is a fair sample of the whole.
  std::mt19937_64 rng(o.seed ^ 0xC0FFEEULL);
  std::shuffle(corpus.begin(), corpus.end(), rng);
  sum.examples = static_cast<int64_t>(corpus.size());

  nlohmann::json manifest = {{"schema", "s2d.toy-corpus/1"},
                             {"seed", o.seed},
                             {"scale", o.scale},
                             {"examples", sum.examples},
                             {"parts", sum.parts},
                             {"primer_examples", static_cast<int64_t>(primer.size())},
                             {"task_files", nlohmann::json::object()}};
  for (const auto& [path, tasks] : files) {
    manifest["task_files"][path] = tasks.size();
    sum.task_files[path] = static_cast<int64_t>(tasks.size());
  }
  write_dir_atomic(o.out_dir, [&](const std::string& tmp) {
    std::filesystem::create_directories(tmp + "/tasks");
    write_file_atomic(tmp + "/corpus.jsonl", jsonl_of(corpus));
    if (!primer.empty()) write_file_atomic(tmp + "/primer.jsonl", jsonl_of(primer));
    for (const auto& [path, tasks] : files) write_tasks(tmp + "/" + path, tasks);
    write_file_atomic(tmp + "/manifest.json", manifest.dump(2) + "\n");
  });
  return sum;
}

}  // namespace s2d::toy
