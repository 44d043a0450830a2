#include "s2d/pipeline/eval.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>

#include "s2d/data/task.h"
#include "s2d/methods/answers.h"
#include "s2d/methods/runner.h"
#include "s2d/methods/vote.h"
#include "s2d/util/atomic_file.h"
#include "s2d/util/error.h"
#include "s2d/util/log.h"
#include "s2d/util/progress.h"
#include "s2d/util/strings.h"

namespace s2d {

namespace {
// The task file's bytes as FNV-1a, stable across builds and runs (std::hash is neither), so that
// reports can tell whether two runs scored the same questions.
std::string tasks_fingerprint(const std::string& path) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "fnv1a:%016llx", static_cast<unsigned long long>(fnv1a(read_file(path))));
  return buf;
}
}  // namespace

namespace {

// The label of a task, normalised like predictions; judge tasks use "label" (A | B | tie).
std::optional<std::string> label_of(const Task& t, AnswerKind kind, const std::string& file) {
  if (kind == AnswerKind::Choice) {
    auto it = t.extra.find("label");
    if (it == t.extra.end() || !it->is_string()) return std::nullopt;
    const std::string v = it->get<std::string>();
    if (v != "A" && v != "B" && v != "tie") {
      throw_input("judge label out of range", {.file = file, .line = t.line, .field = "label", .expected = "A, B or tie",
                                               .found = v});
    }
    return v;
  }
  if (!t.answer) return std::nullopt;
  return extract_answer(*t.answer, kind).value_or(*t.answer);
}

}  // namespace

nlohmann::json run_eval(const EvalOptions& o, Backend& backend) {
  // Refused before any work: an output that is not a directory, or whose files are the inputs.
  check_output_dir(o.out_dir, {});
  for (const char* name : {"/examples.jsonl", "/summary.json"})
    check_output_file(o.out_dir + name, {o.tasks_path, o.template_path});
  const MethodSpec spec = load_method_spec(o.method, o.template_path);
  if (o.samples < 1) throw_input("need at least one sample", {.field = "--samples", .expected = ">= 1"});
  const std::vector<Task> tasks = read_tasks(o.tasks_path);
  std::vector<std::optional<std::string>> labels;
  bool any_judge = false;
  for (const auto& t : tasks) {
    check_task_for_method(t, o.method);
    const auto kind = answer_kind_for_task(t.task);
    any_judge |= kind == AnswerKind::Choice;
    labels.push_back(label_of(t, kind, o.tasks_path));
    if (!labels.back()) {
      throw_input("task has no label to score against", {.file = o.tasks_path, .line = t.line,
                                                         .field = kind == AnswerKind::Choice ? "label" : "answer",
                                                         .expected = "a label", .found = "none"});
    }
  }
  const bool swap = o.swap && any_judge;  // judge tasks: both orders, for position consistency

  // Every (task, sample[, swapped]) unit, run through the method in one batched pass per chunk.
  std::vector<MethodUnit> units;
  for (const auto& t : tasks)
    for (bool swapped : {false, true}) {
      if (swapped && (!swap || answer_kind_for_task(t.task) != AnswerKind::Choice)) continue;
      for (int i = 0; i < o.samples; ++i) units.push_back({&t, i, swapped});
    }
  std::map<std::pair<std::string, bool>, std::vector<nlohmann::json>> by_task;
  Progress progress("eval " + o.method, static_cast<int64_t>(units.size()), "samples");
  const auto t0 = std::chrono::steady_clock::now();
  constexpr size_t kChunk = 256;
  for (size_t c = 0; c < units.size(); c += kChunk) {
    std::vector<MethodUnit> chunk(units.begin() + static_cast<std::ptrdiff_t>(c),
                                  units.begin() + static_cast<std::ptrdiff_t>(std::min(units.size(), c + kChunk)));
    run_method(spec, chunk, backend, {o.sampling, o.answer_regex, o.merge}, [&](nlohmann::json&& r) {
      by_task[{r["id"].get<std::string>(), r.value("perturbed", false)}].push_back(std::move(r));
    });
    progress.update(static_cast<int64_t>(std::min(units.size(), c + kChunk)));
  }
  progress.finish();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // The filter's vote: a tie between the top answers is no prediction (counted wrong, and as a tie).
  int64_t ties = 0;
  auto majority = [&ties](const std::vector<nlohmann::json>& recs) -> std::optional<std::string> {
    std::vector<std::optional<std::string>> answers;
    for (const auto& r : recs)
      answers.push_back(r["answer"].is_string() ? std::optional<std::string>(r["answer"].get<std::string>()) : std::nullopt);
    const Vote v = majority_vote(answers);
    ties += v.tie;
    return v.answer;
  };

  std::string lines;
  int64_t correct = 0, gen_tokens = 0, prompt_tokens = 0, answers = 0, consistent = 0, swapped_pairs = 0;
  int64_t non_tie = 0, non_tie_correct = 0;
  bool counted_locally = false;  // an HTTP teacher sent no usage: token counts are s2d's estimate
  for (size_t i = 0; i < tasks.size(); ++i) {
    const Task& t = tasks[i];
    const auto& recs = by_task[{t.id, false}];
    const auto pred = majority(recs);
    bool ok = pred && *pred == *labels[i];
    if (pred && !ok) {  // TriviaQA-style tasks: right when any alias appears, as whole words, in the answer
      if (auto al = t.extra.find("aliases"); al != t.extra.end() && al->is_array())
        for (const auto& a : *al) {
          if (!a.is_string()) continue;
          const auto norm = extract_answer(a.get<std::string>(), AnswerKind::Text);
          if (norm && (" " + *pred + " ").find(" " + *norm + " ") != std::string::npos) ok = true;
        }
    }
    correct += ok;
    int64_t task_gen = 0, task_prompt = 0;
    for (const auto& r : recs) {
      task_gen += r["tokens"]["generated"].get<int64_t>();
      task_prompt += r["tokens"]["prompt"].get<int64_t>();
      if (r.contains("steps"))
        for (const auto& st : r["steps"]) counted_locally = counted_locally || st.contains("token_source");
    }
    gen_tokens += task_gen;
    prompt_tokens += task_prompt;
    answers += static_cast<int64_t>(recs.size());
    nlohmann::json ex = {{"id", t.id}, {"task", t.task}, {"input", t.input}, {"label", *labels[i]},
                         {"prediction", pred ? nlohmann::json(*pred) : nlohmann::json(nullptr)}, {"correct", ok},
                         {"outputs", nlohmann::json::array()},
                         {"tokens", {{"generated", task_gen}, {"prompt", task_prompt}}}};
    for (const auto& r : recs) ex["outputs"].push_back(r["final"]);
    if (*labels[i] != "tie" && answer_kind_for_task(t.task) == AnswerKind::Choice) {
      ++non_tie;
      non_tie_correct += ok;
    }
    if (swap && answer_kind_for_task(t.task) == AnswerKind::Choice) {
      const auto& srecs = by_task[{t.id, true}];
      const auto spred = majority(srecs);
      for (const auto& r : srecs) gen_tokens += r["tokens"]["generated"].get<int64_t>();
      answers += static_cast<int64_t>(srecs.size());
      const bool cons = pred && spred && *pred == *spred;
      ex["swapped_prediction"] = spred ? nlohmann::json(*spred) : nlohmann::json(nullptr);
      ex["position_consistent"] = cons;
      consistent += cons;
      ++swapped_pairs;
    }
    lines += ex.dump() + "\n";
  }
  const auto n = static_cast<double>(tasks.size());
  std::string role = o.role;
  if (role.empty()) role = o.method == "system1" ? (o.provenance.value("distilled", false) ? "distilled" : "system1") : "system2";
  nlohmann::json summary = {
      {"schema", "s2d.eval/1"},
      {"label", o.label.empty() ? o.method : o.label},
      {"role", role},
      {"method", o.method},
      {"tasks", o.tasks_path},
      {"tasks_fingerprint", tasks_fingerprint(o.tasks_path)},
      {"examples", tasks.size()},
      {"samples", o.samples},
      {"vote_ties", ties},  // --samples k: tasks whose top answers tied, scored as no prediction
      {"accuracy", correct / n},
      {"correct", correct},
      {"generated_tokens_per_answer", answers > 0 ? static_cast<double>(gen_tokens) / static_cast<double>(answers) : 0.0},
      {"prompt_tokens_per_answer", answers > 0 ? static_cast<double>(prompt_tokens) / static_cast<double>(answers) : 0.0},
      {"seconds", seconds},
      {"seconds_per_example", seconds / n},
      {"provenance", o.provenance}};
  if (counted_locally) summary["token_source"] = "local-tokenizer";
  if (any_judge) {
    // Agreement with humans counted two ways: over every example (tie is a label like A and B), and
    // over the examples humans did not call a tie, as the MT-bench analyses report both.
    summary["agreement"] = correct / n;
    summary["agreement_without_human_ties"] = non_tie > 0 ? non_tie_correct / static_cast<double>(non_tie) : 0.0;
    if (swap) summary["position_consistency"] = swapped_pairs > 0 ? consistent / static_cast<double>(swapped_pairs) : 0.0;
  }
  std::filesystem::create_directories(o.out_dir);
  write_file_atomic(o.out_dir + "/examples.jsonl", lines);
  write_file_atomic(o.out_dir + "/summary.json", summary.dump(2) + "\n");
  return summary;
}

}  // namespace s2d
