#include "s2d/methods/runner.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <unordered_map>
#include <utility>

#include "s2d/methods/answers.h"
#include "s2d/methods/method_context.h"
#include "s2d/methods/method_def.h"
#include "s2d/util/error.h"
#include "s2d/util/strings.h"

namespace s2d {

namespace {

std::string extra_string(const Task& t, const char* field) {
  auto it = t.extra.find(field);
  return (it != t.extra.end() && it->is_string()) ? it->get<std::string>() : "";
}

struct Call {
  size_t unit;
  const std::string* step;  // the step's name
  std::string prompt;
};

// The calls of one run in flight, the requests they became and their outputs. Identical prompts
// of one task's units at one step become one request with several samples. A call is numbered
// once and forgotten once its output is taken, a request once it is answered: what the book holds
// is bounded by the work in flight, not by the run.
class CallBook {
 public:
  CallBook(const std::vector<MethodUnit>& units, std::unordered_map<size_t, UnitState>& states,
           const MethodRunOptions& opts)
      : units_(units), states_(states), opts_(opts) {}

  size_t size() const { return numbered_; }  // calls booked so far; the next one's number
  size_t unit_of(size_t call) const { return calls_.at(call).call.unit; }
  // The call's output, once answered; the call is forgotten.
  CallOutput take(size_t call) {
    auto it = calls_.find(call);
    CallOutput out = std::move(it->second.output);
    calls_.erase(it);
    return out;
  }

  // Books `calls` (numbered from size()) and returns the requests they need.
  std::vector<CompletionRequest> add(std::vector<Call>&& calls) {
    std::vector<CompletionRequest> reqs;
    std::map<std::string, size_t> req_of;  // group key -> index in reqs
    const size_t first_request = requested_;
    for (auto& call : calls) {
      const MethodUnit& u = units_[call.unit];
      const std::string seed_key = u.task->id + "|" + *call.step + (u.swapped ? "|swap" : "");
      auto [it, fresh] = req_of.emplace(seed_key + "\n" + call.prompt, reqs.size());
      if (fresh) {
        CompletionRequest r;
        r.id = std::to_string(requested_++);
        r.messages = {{"user", call.prompt}};
        r.sampling = opts_.sampling;
        r.sampling.seed = task_seed(opts_.sampling.seed, seed_key);
        r.tag = seed_key;
        r.source_file = u.task->file;
        r.source_line = u.task->line;
        r.samples.clear();
        reqs.push_back(std::move(r));
      }
      auto& by_sample = users_[first_request + it->second];
      if (!by_sample.count(u.sample)) reqs[it->second].samples.push_back(u.sample);
      by_sample[u.sample].push_back(numbered_);
      calls_.emplace(numbered_++, Entry{std::move(call), {}});
    }
    return reqs;
  }

  // Records a result's outputs and its token counts in the units; returns the calls it answered.
  std::vector<size_t> answer(CompletionResult&& res) {
    auto req = users_.find(std::stoul(res.id));
    if (req == users_.end())
      throw_runtime("the backend answered a request twice or one nobody sent", {.field = "request " + res.id});
    std::vector<size_t> answered;
    for (auto& ch : res.choices) {
      auto users = req->second.find(ch.sample);
      if (users == req->second.end())
        throw_runtime("the backend answered a sample nobody asked for",
                      {.field = "request " + res.id, .found = "sample " + std::to_string(ch.sample)});
      for (size_t c : users->second) {
        Entry& e = calls_.at(c);
        UnitState& st = states_[e.call.unit];
        st.prompt_tokens += res.prompt_tokens;
        st.generated_tokens += ch.generated_tokens;
        st.seconds += res.seconds;
        e.output.text = ch.text;
        e.output.step = {{"name", *e.call.step},
                         {"prompt", std::move(e.call.prompt)},
                         {"output", ch.text},
                         {"prompt_tokens", res.prompt_tokens},
                         {"generated_tokens", ch.generated_tokens},
                         {"finish_reason", ch.finish_reason}};
        if (res.token_source == "local-tokenizer")
          e.output.step["token_source"] = res.token_source;  // approximate counts
        answered.push_back(c);
      }
    }
    users_.erase(req);
    return answered;
  }

 private:
  struct Entry {
    Call call;
    CallOutput output;
  };
  const std::vector<MethodUnit>& units_;
  std::unordered_map<size_t, UnitState>& states_;
  const MethodRunOptions& opts_;
  size_t numbered_ = 0, requested_ = 0;                                   // calls and requests so far
  std::unordered_map<size_t, Entry> calls_;                               // unanswered or untaken
  std::unordered_map<size_t, std::map<int, std::vector<size_t>>> users_;  // request -> sample -> calls
};

}  // namespace

void check_task_for_method(const Task& task, const std::string& method) {
  const MethodDef* def = find_method(method);
  if (!def) return;
  for (const auto& f : def->task_fields) {
    auto it = task.extra.find(f);
    if (it == task.extra.end() || !it->is_string()) {
      throw_input("task lacks a field the method needs",
                  {.field = f,
                   .expected = "a string (method " + method + ")",
                   .found = it == task.extra.end() ? "nothing" : std::string(it->type_name()),
                   .hint = "task " + task.id});
    }
  }
}

std::string render_usc_prompt(const MethodSpec& usc, const std::string& question,
                              const std::vector<std::string>& finals) {
  std::string responses;
  for (size_t i = 0; i < finals.size(); ++i) responses += "Response " + std::to_string(i + 1) + ": " + finals[i] + "\n";
  return render_template(usc.step("select"), {{"question", question}, {"responses", responses}});
}

std::string unit_key(const std::string& id, int sample, bool swapped) {
  return id + "#" + std::to_string(sample) + (swapped ? "#swap" : "");
}

void check_samples(int samples) {
  if (samples < 1 || samples > kMaxSamplesPerTask)
    throw_input("bad number of samples per task", {.field = "--samples",
                                                   .expected = "1.." + std::to_string(kMaxSamplesPerTask),
                                                   .found = std::to_string(samples)});
}

void check_bsm_merge(const std::string& merge) {
  if (merge != "symbolic" && merge != "llm")
    throw_input("unknown merge", {.field = "--merge", .expected = "symbolic|llm", .found = merge});
}

int64_t tasks_to_fill(int64_t decode_slots, int samples, bool swapped, int64_t at_least) {
  const int64_t units = std::max<int64_t>(1, int64_t{samples} * (swapped ? 2 : 1));
  const int64_t slots = std::clamp<int64_t>(decode_slots, 0, INT64_MAX / 4);  // --batch-size is not bounded above
  return std::max(at_least, (2 * slots + units - 1) / units);
}

MethodContext::MethodContext(const MethodSpec& spec_, const std::vector<MethodUnit>& units_, Backend& backend,
                             const MethodRunOptions& opts_, std::function<void(nlohmann::json&&)> on_record)
    : spec(spec_),
      units(units_),
      opts(opts_),
      judges_pairs_(find_method(spec_.name)->judges_pairs),
      backend_(backend),
      on_record_(std::move(on_record)) {}

void MethodContext::start(size_t i) {
  const Task& t = *units[i].task;
  auto& v = st[i].vars;
  v["input"] = t.input;
  v["format_hint"] = spec.format_hint(t.task);
  v["question"] = judges_pairs_ ? extra_string(t, "question") : t.input;
  v["response_a"] = extra_string(t, units[i].swapped ? "response_b" : "response_a");
  v["response_b"] = extra_string(t, units[i].swapped ? "response_a" : "response_b");
  if (answer_kind_for_task(t.task) == AnswerKind::Choice && t.extra.contains("response_a") &&
      t.extra.contains("response_b")) {
    // A judge task: every method sees the pair as rendered by the template (in the order run).
    std::map<std::string, std::string> jv = {
        {"question", extra_string(t, "question")}, {"response_a", v["response_a"]}, {"response_b", v["response_b"]}};
    v["input"] = render_template(spec.judge_input, jv);
    if (!judges_pairs_) v["question"] = v["input"];
  }
}

nlohmann::json MethodContext::record(size_t i) {
  auto& s = st[i];
  const MethodUnit& u = units[i];
  // A swapped judge verdict goes back into the original labels.
  if (u.swapped && s.answer && answer_kind_for_task(u.task->task) == AnswerKind::Choice) {
    if (!s.steps.empty()) s.steps.back()["verdict_in_shown_order"] = *s.answer;
    if (*s.answer != "tie") s.answer = *s.answer == "A" ? "B" : "A";
    if (judges_pairs_) s.final_text = canonical_final(*s.answer, AnswerKind::Choice);
  }
  nlohmann::json rec = {{"id", u.task->id},
                        {"task", u.task->task},
                        {"input", s.vars.at("input")},  // the user turn a distilled model is trained on
                        {"method", spec.name},
                        {"sample", u.sample},
                        {"steps", std::move(s.steps)},
                        {"final", s.final_text},
                        {"answer", s.answer ? nlohmann::json(*s.answer) : nlohmann::json(nullptr)},
                        {"tokens", {{"prompt", s.prompt_tokens}, {"generated", s.generated_tokens}}},
                        {"seconds", s.seconds}};
  if (u.swapped || judges_pairs_) rec["perturbed"] = u.swapped;
  return rec;
}

void MethodContext::run(const std::vector<MethodStep>& steps) {
  // The tasks: runs of units with the same task, [begin, end).
  std::vector<std::pair<size_t, size_t>> tasks;
  std::vector<size_t> task_of(units.size());
  for (size_t i = 0; i < units.size(); ++i) {
    if (i == 0 || units[i].task != units[i - 1].task) tasks.push_back({i, i});
    tasks.back().second = i + 1;
    task_of[i] = tasks.size() - 1;
  }
  const size_t window = opts.tasks_in_flight > 0 ? static_cast<size_t>(opts.tasks_in_flight) : tasks.size();
  size_t next_task = 0, tasks_open = 0;
  std::vector<size_t> units_left(tasks.size());  // of each task, units not yet through every step
  std::vector<size_t> done_tasks;                // whose records are to go out

  CallBook book(units, st, opts);
  std::vector<size_t> at(units.size(), 0);              // the step each unit is at
  std::vector<std::vector<size_t>> open(units.size());  // its calls there, in prompt order
  std::vector<size_t> left(units.size(), 0);            // how many of them are unanswered
  // Moves unit i into its step at[i], past steps that give it no prompts; its calls go to `calls`.
  auto enter = [&](size_t i, std::vector<Call>& calls) {
    for (; at[i] < steps.size() && !st[i].failed; ++at[i]) {
      const MethodStep& s = steps[at[i]];
      auto prompts =
          s.prompts ? s.prompts(i) : std::vector<std::string>{render_template(spec.step(s.name), st[i].vars)};
      if (!prompts.empty()) {
        left[i] = prompts.size();
        for (auto& p : prompts) calls.push_back({i, &s.name, std::move(p)});
        return;
      }
      s.take(i, {});
    }
    if (--units_left[task_of[i]] == 0) done_tasks.push_back(task_of[i]);
  };
  // Sends out the records of done tasks and starts tasks while there is room.
  auto pump = [&](std::vector<Call>& calls) {
    while (true) {
      for (size_t k : done_tasks) {
        --tasks_open;
        for (size_t i = tasks[k].first; i < tasks[k].second; ++i) {
          on_record_(record(i));
          st.erase(i);
        }
      }
      done_tasks.clear();
      if (next_task == tasks.size() || tasks_open == window) return;
      const auto [begin, end] = tasks[next_task++];
      ++tasks_open;
      units_left[task_of[begin]] = end - begin;
      for (size_t i = begin; i < end; ++i) {
        start(i);
        enter(i, calls);
      }
    }
  };
  auto book_calls = [&](std::vector<Call>&& calls) {
    const size_t first = book.size();
    auto reqs = book.add(std::move(calls));
    for (size_t c = first; c < book.size(); ++c) open[book.unit_of(c)].push_back(c);
    return reqs;
  };
  std::vector<CompletionRequest> arrived;  // requests for the backend's next intake
  auto on_result = [&](CompletionResult&& res) {
    std::vector<Call> next;
    for (size_t c : book.answer(std::move(res))) {
      const size_t i = book.unit_of(c);
      if (--left[i] > 0) continue;
      std::vector<CallOutput> outputs;
      for (size_t oc : open[i]) outputs.push_back(book.take(oc));
      open[i].clear();
      steps[at[i]].take(i, std::move(outputs));
      ++at[i];
      enter(i, next);
    }
    pump(next);
    for (auto& r : book_calls(std::move(next))) arrived.push_back(std::move(r));
  };
  std::vector<Call> calls;
  pump(calls);
  auto first = book_calls(std::move(calls));
  if (!first.empty()) backend_.complete_open(first, on_result, [&] { return std::exchange(arrived, {}); });
  for (size_t i = 0; i < units.size(); ++i)
    if (left[i] > 0)
      throw_runtime("the backend left a request unanswered",
                    {.field = "task " + units[i].task->id,
                     .expected = "every sample answered",
                     .found = std::to_string(left[i]) + " prompt(s) of step " + steps[at[i]].name + " unanswered"});
}

void run_method(const MethodSpec& spec, const std::vector<MethodUnit>& units, Backend& backend,
                const MethodRunOptions& opts, const std::function<void(nlohmann::json&&)>& on_record) {
  const MethodDef* def = find_method(spec.name);
  if (!def || !def->run) throw_input("method cannot be run by generate", {.field = "--method", .found = spec.name});
  MethodContext m(spec, units, backend, opts, on_record);
  def->run(m);
}

}  // namespace s2d
