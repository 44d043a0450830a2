#include "s2d/pipeline/eval.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>

#include "s2d/data/task.h"
#include "s2d/methods/answers.h"
#include "s2d/methods/run_role.h"
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

// The label of a task, normalised like predictions; judge tasks use "label" (A | B | tie).
std::optional<std::string> label_of(const Task& t, AnswerKind kind, const std::string& file) {
  if (kind == AnswerKind::Choice) {
    auto it = t.extra.find("label");
    if (it == t.extra.end() || !it->is_string()) return std::nullopt;
    const std::string v = it->get<std::string>();
    if (v != "A" && v != "B" && v != "tie") {
      throw_input("judge label out of range",
                  {.file = file, .line = t.line, .field = "label", .expected = "A, B or tie", .found = v});
    }
    return v;
  }
  if (!t.answer) return std::nullopt;
  return extract_answer(*t.answer, kind).value_or(*t.answer);
}

// The labelled tasks of --tasks, each with its normalised label; InputError for an unlabelled one.
struct ScoredTasks {
  std::vector<Task> tasks;
  std::vector<std::string> labels;  // labels[i] is tasks[i]'s
  bool any_judge = false;
};

ScoredTasks read_scored_tasks(const EvalOptions& o) {
  ScoredTasks st;
  st.tasks = read_tasks(o.tasks_path);
  for (const auto& t : st.tasks) {
    check_task_for_method(t, o.method);
    const auto kind = answer_kind_for_task(t.task);
    st.any_judge |= kind == AnswerKind::Choice;
    const auto label = label_of(t, kind, o.tasks_path);
    if (!label) {
      throw_input("task has no label to score against", {.file = o.tasks_path,
                                                         .line = t.line,
                                                         .field = kind == AnswerKind::Choice ? "label" : "answer",
                                                         .expected = "a label",
                                                         .found = "none"});
    }
    st.labels.push_back(*label);
  }
  return st;
}

using RecordsByTask = std::map<std::pair<std::string, bool>, std::vector<nlohmann::json>>;  // (id, swapped) -> records

// Every (task, sample[, swapped]) unit through the method, in one run with a bounded number of
// tasks in flight.
RecordsByTask run_units(const EvalOptions& o, const MethodSpec& spec, const std::vector<Task>& tasks, bool swap,
                        Backend& backend) {
  std::vector<MethodUnit> units;
  for (const auto& t : tasks)
    for (bool swapped : {false, true}) {
      if (swapped && (!swap || answer_kind_for_task(t.task) != AnswerKind::Choice)) continue;
      for (int i = 0; i < o.samples; ++i) units.push_back({&t, i, swapped});
    }
  RecordsByTask by_task;
  Progress progress("eval " + o.method, static_cast<int64_t>(units.size()), "samples");
  const int64_t in_flight = tasks_to_fill(backend.decode_slots(), o.samples, swap, 256);
  int64_t done = 0;
  run_method(spec, units, backend, {o.sampling, o.answer_regex, o.bsm_merge, in_flight}, [&](nlohmann::json&& r) {
    by_task[{r["id"].get<std::string>(), r.value("perturbed", false)}].push_back(std::move(r));
    progress.update(++done);
  });
  progress.finish();
  return by_task;
}

// The filter's vote over a task's samples: a tie between the top answers is no prediction
// (scored wrong, and counted in `ties`).
std::optional<std::string> vote_of(const std::vector<nlohmann::json>& recs, int64_t& ties) {
  std::vector<std::optional<std::string>> answers;
  for (const auto& r : recs)
    answers.push_back(r["answer"].is_string() ? std::optional<std::string>(r["answer"].get<std::string>())
                                              : std::nullopt);
  const Vote v = majority_vote(answers);
  ties += v.tie;
  return v.answer;
}

// Whether a prediction is right: equal to the label, or (TriviaQA-style tasks) containing one of
// the task's aliases as whole words.
bool is_correct(const Task& t, const std::optional<std::string>& pred, const std::string& label) {
  if (!pred) return false;
  if (*pred == label) return true;
  const auto al = t.extra.find("aliases");
  if (al == t.extra.end() || !al->is_array()) return false;
  for (const auto& a : *al) {
    if (!a.is_string()) continue;
    const auto norm = extract_answer(a.get<std::string>(), AnswerKind::Text);
    if (norm && (" " + *pred + " ").find(" " + *norm + " ") != std::string::npos) return true;
  }
  return false;
}

// The run's counts, summed over tasks as they are scored.
struct Tally {
  int64_t correct = 0, gen_tokens = 0, prompt_tokens = 0, answers = 0, ties = 0;
  int64_t consistent = 0, swapped_pairs = 0;  // judge tasks with --swap
  int64_t non_tie = 0, non_tie_correct = 0;   // judge tasks whose human label is not a tie
  bool counted_locally = false;               // an HTTP teacher sent no usage: token counts are s2d's estimate
};

// One task's line of examples.jsonl, counted into `tally`.
nlohmann::json score_task(const Task& t, const std::string& label, RecordsByTask& by_task, bool swap, Tally& tally) {
  const auto& recs = by_task[{t.id, false}];
  const auto pred = vote_of(recs, tally.ties);
  const bool ok = is_correct(t, pred, label);
  tally.correct += ok;
  int64_t task_gen = 0, task_prompt = 0;
  for (const auto& r : recs) {
    task_gen += r["tokens"]["generated"].get<int64_t>();
    task_prompt += r["tokens"]["prompt"].get<int64_t>();
    if (r.contains("steps"))
      for (const auto& st : r["steps"]) tally.counted_locally = tally.counted_locally || st.contains("token_source");
  }
  tally.gen_tokens += task_gen;
  tally.prompt_tokens += task_prompt;
  tally.answers += static_cast<int64_t>(recs.size());
  nlohmann::json ex = {{"id", t.id},
                       {"task", t.task},
                       {"input", t.input},
                       {"label", label},
                       {"prediction", pred ? nlohmann::json(*pred) : nlohmann::json(nullptr)},
                       {"correct", ok},
                       {"outputs", nlohmann::json::array()},
                       {"tokens", {{"generated", task_gen}, {"prompt", task_prompt}}}};
  for (const auto& r : recs) ex["outputs"].push_back(r["final"]);
  if (answer_kind_for_task(t.task) != AnswerKind::Choice) return ex;
  if (label != "tie") {
    ++tally.non_tie;
    tally.non_tie_correct += ok;
  }
  if (swap) {
    const auto& srecs = by_task[{t.id, true}];
    const auto spred = vote_of(srecs, tally.ties);
    for (const auto& r : srecs) tally.gen_tokens += r["tokens"]["generated"].get<int64_t>();
    tally.answers += static_cast<int64_t>(srecs.size());
    const bool cons = pred && spred && *pred == *spred;
    ex["swapped_prediction"] = spred ? nlohmann::json(*spred) : nlohmann::json(nullptr);
    ex["position_consistent"] = cons;
    tally.consistent += cons;
    ++tally.swapped_pairs;
  }
  return ex;
}

// summary.json (schema "s2d.eval/1").
nlohmann::json eval_summary(const EvalOptions& o, size_t examples, const Tally& t, bool any_judge, bool swap,
                            double seconds) {
  const auto n = static_cast<double>(examples);
  const auto per_answer = [&](int64_t x) {
    return t.answers > 0 ? static_cast<double>(x) / static_cast<double>(t.answers) : 0.0;
  };
  std::string role = o.role;
  if (role.empty())
    role = o.method == "system1" ? (o.provenance.value("distilled", false) ? "distilled" : "system1") : "system2";
  nlohmann::json summary = {
      {"schema", "s2d.eval/1"},
      {"label", o.label.empty() ? o.method : o.label},
      {"role", role},
      {"method", o.method},
      {"tasks", o.tasks_path},
      {"tasks_fingerprint", tasks_fingerprint(o.tasks_path)},
      {"examples", examples},
      {"samples", o.samples},
      {"vote_ties", t.ties},  // --samples k: tasks whose top answers tied, scored as no prediction
      {"accuracy", t.correct / n},
      {"correct", t.correct},
      {"generated_tokens_per_answer", per_answer(t.gen_tokens)},
      {"prompt_tokens_per_answer", per_answer(t.prompt_tokens)},
      {"seconds", seconds},
      {"seconds_per_example", seconds / n},
      {"provenance", o.provenance}};
  if (t.counted_locally) summary["token_source"] = "local-tokenizer";
  if (any_judge) {
    // Agreement with humans counted two ways: over every example (tie is a label like A and B), and
    // over the examples humans did not call a tie, as the MT-bench analyses report both.
    summary["agreement"] = t.correct / n;
    summary["agreement_without_human_ties"] = t.non_tie > 0 ? t.non_tie_correct / static_cast<double>(t.non_tie) : 0.0;
    if (swap)
      summary["position_consistency"] = t.swapped_pairs > 0 ? t.consistent / static_cast<double>(t.swapped_pairs) : 0.0;
  }
  return summary;
}

}  // namespace

MethodSpec check_eval_options(const EvalOptions& o) {
  // An output that is not a directory, or whose files are the inputs.
  check_output_dir(o.out_dir, {});
  for (const char* name : {"/examples.jsonl", "/summary.json"})
    check_output_file(o.out_dir + name, {o.tasks_path, o.template_path});
  MethodSpec spec = load_method_spec(o.method, o.template_path);
  check_samples(o.samples);
  validate_sampling(o.sampling);
  check_bsm_merge(o.bsm_merge);
  if (!o.role.empty() && !is_run_role(o.role))
    throw_input(
        "unknown role",
        {.field = "--role", .expected = run_role_ids() + " (or none: from the method and model)", .found = o.role});
  require_regular_file(o.tasks_path);
  return spec;
}

nlohmann::json run_eval(const EvalOptions& o, Backend& backend) {
  const MethodSpec spec = check_eval_options(o);
  const ScoredTasks st = read_scored_tasks(o);
  const bool swap = o.swap && st.any_judge;  // judge tasks: both orders, for position consistency

  const auto t0 = std::chrono::steady_clock::now();
  RecordsByTask by_task = run_units(o, spec, st.tasks, swap, backend);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  Tally tally;
  std::string lines;
  for (size_t i = 0; i < st.tasks.size(); ++i)
    lines += score_task(st.tasks[i], st.labels[i], by_task, swap, tally).dump() + "\n";
  const nlohmann::json summary = eval_summary(o, st.tasks.size(), tally, st.any_judge, swap, seconds);
  std::filesystem::create_directories(o.out_dir);
  write_file_atomic(o.out_dir + "/examples.jsonl", lines);
  write_file_atomic(o.out_dir + "/summary.json", summary.dump(2) + "\n");
  return summary;
}

}  // namespace s2d
