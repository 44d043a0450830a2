#include "s2d/methods/runner.h"

#include <map>

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
  std::string prompt;
};

// One backend round: every call of this step, grouped so that identical prompts of one task
// become one request with several samples.
std::vector<CallOutput> run_step(const std::string& step_name, const std::vector<Call>& calls,
                                 const std::vector<MethodUnit>& units, std::vector<UnitState>& states, Backend& backend,
                                 const MethodRunOptions& opts) {
  std::vector<CompletionRequest> reqs;
  std::map<std::string, size_t> req_of;                   // group key -> request index
  std::vector<std::map<int, std::vector<size_t>>> users;  // request -> sample -> call indices
  for (size_t c = 0; c < calls.size(); ++c) {
    const MethodUnit& u = units[calls[c].unit];
    const std::string seed_key = u.task->id + "|" + step_name + (u.swapped ? "|swap" : "");
    const std::string key = seed_key + "\n" + calls[c].prompt;
    auto [it, fresh] = req_of.emplace(key, reqs.size());
    if (fresh) {
      CompletionRequest r;
      r.id = std::to_string(reqs.size());
      r.messages = {{"user", calls[c].prompt}};
      r.sampling = opts.sampling;
      r.sampling.seed = task_seed(opts.sampling.seed, seed_key);
      r.tag = seed_key;
      r.source_file = u.task->file;
      r.source_line = u.task->line;
      r.samples.clear();
      reqs.push_back(std::move(r));
      users.emplace_back();
    }
    auto& by_sample = users[it->second];
    if (!by_sample.count(u.sample)) reqs[it->second].samples.push_back(u.sample);
    by_sample[u.sample].push_back(c);
  }
  std::vector<CallOutput> out(calls.size());
  backend.complete(reqs, [&](CompletionResult&& res) {
    const size_t ri = std::stoul(res.id);
    for (const auto& ch : res.choices) {
      for (size_t c : users[ri].at(ch.sample)) {
        UnitState& st = states[calls[c].unit];
        st.prompt_tokens += res.prompt_tokens;
        st.generated_tokens += ch.generated_tokens;
        st.seconds += res.seconds;
        out[c].text = ch.text;
        out[c].step = {{"name", step_name},
                       {"prompt", calls[c].prompt},
                       {"output", ch.text},
                       {"prompt_tokens", res.prompt_tokens},
                       {"generated_tokens", ch.generated_tokens},
                       {"finish_reason", ch.finish_reason}};
        if (res.token_source == "local-tokenizer")
          out[c].step["token_source"] = res.token_source;  // approximate counts
      }
    }
  });
  return out;
}

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

MethodContext::MethodContext(const MethodSpec& spec_, const std::vector<MethodUnit>& units_, Backend& backend,
                             const MethodRunOptions& opts_)
    : spec(spec_), units(units_), opts(opts_), st(units_.size()), backend_(backend) {}

std::vector<std::vector<CallOutput>> MethodContext::step(
    const std::string& name, const std::function<std::vector<std::string>(size_t)>& prompts) {
  std::vector<Call> calls;
  for (size_t i = 0; i < units.size(); ++i) {
    if (st[i].failed) continue;
    for (auto& p : prompts(i)) calls.push_back({i, std::move(p)});
  }
  auto outs = run_step(name, calls, units, st, backend_, opts);
  std::vector<std::vector<CallOutput>> per_unit(units.size());
  for (size_t c = 0; c < calls.size(); ++c) per_unit[calls[c].unit].push_back(std::move(outs[c]));
  return per_unit;
}

std::vector<std::vector<CallOutput>> MethodContext::single(const std::string& name) {
  return step(name, [&](size_t i) { return std::vector<std::string>{render_template(spec.step(name), st[i].vars)}; });
}

void run_method(const MethodSpec& spec, const std::vector<MethodUnit>& units, Backend& backend,
                const MethodRunOptions& opts, const std::function<void(nlohmann::json&&)>& on_record) {
  const MethodDef* found = find_method(spec.name);
  if (!found || !found->run) throw_input("method cannot be run by generate", {.field = "--method", .found = spec.name});
  const MethodDef& def = *found;
  MethodContext m(spec, units, backend, opts);
  for (size_t i = 0; i < units.size(); ++i) {
    const Task& t = *units[i].task;
    auto& v = m.st[i].vars;
    v["input"] = t.input;
    v["format_hint"] = spec.format_hint(t.task);
    v["question"] = def.judges_pairs ? extra_string(t, "question") : t.input;
    v["response_a"] = extra_string(t, units[i].swapped ? "response_b" : "response_a");
    v["response_b"] = extra_string(t, units[i].swapped ? "response_a" : "response_b");
    if (answer_kind_for_task(t.task) == AnswerKind::Choice && t.extra.contains("response_a") &&
        t.extra.contains("response_b")) {
      // A judge task: every method sees the pair as rendered by the template (in the order run).
      std::map<std::string, std::string> jv = {
          {"question", extra_string(t, "question")}, {"response_a", v["response_a"]}, {"response_b", v["response_b"]}};
      v["input"] = render_template(spec.judge_input, jv);
      if (!def.judges_pairs) v["question"] = v["input"];
    }
  }
  def.run(m);

  for (size_t i = 0; i < units.size(); ++i) {  // swapped judge verdicts back in the original labels
    auto& s = m.st[i];
    if (!units[i].swapped || !s.answer || answer_kind_for_task(units[i].task->task) != AnswerKind::Choice) continue;
    if (!s.steps.empty()) s.steps.back()["verdict_in_shown_order"] = *s.answer;
    if (*s.answer != "tie") s.answer = *s.answer == "A" ? "B" : "A";
    if (def.judges_pairs) s.final_text = canonical_final(*s.answer, AnswerKind::Choice);
  }
  for (size_t i = 0; i < units.size(); ++i) {
    const auto& s = m.st[i];
    const MethodUnit& u = units[i];
    nlohmann::json rec = {{"id", u.task->id},
                          {"task", u.task->task},
                          {"input", s.vars.at("input")},  // the user turn a distilled model is trained on
                          {"method", spec.name},
                          {"sample", u.sample},
                          {"steps", s.steps},
                          {"final", s.final_text},
                          {"answer", s.answer ? nlohmann::json(*s.answer) : nlohmann::json(nullptr)},
                          {"tokens", {{"prompt", s.prompt_tokens}, {"generated", s.generated_tokens}}},
                          {"seconds", s.seconds}};
    if (u.swapped || def.judges_pairs) rec["perturbed"] = u.swapped;
    on_record(std::move(rec));
  }
}

}  // namespace s2d
