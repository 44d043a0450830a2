#include "s2d/methods/runner.h"

#include <map>
#include <regex>

#include "s2d/methods/answers.h"
#include "s2d/util/error.h"
#include "s2d/util/strings.h"

namespace s2d {

namespace {

std::string extra_string(const Task& t, const char* field) {
  auto it = t.extra.find(field);
  return (it != t.extra.end() && it->is_string()) ? it->get<std::string>() : "";
}

// Per-unit progress through the method.
struct UnitState {
  std::map<std::string, std::string> vars;
  nlohmann::json steps = nlohmann::json::array();
  int64_t prompt_tokens = 0, generated_tokens = 0;
  double seconds = 0;
  bool failed = false;  // a step could not be parsed: the unit ends without an answer
  std::string final_text;
  std::optional<std::string> answer;
  std::vector<std::string> criteria;
};

struct Call {
  size_t unit;
  std::string prompt;
};

struct CallOutput {
  std::string text;
  nlohmann::json step;  // the recorded step
};

// One backend round: every call of this step, grouped so that identical prompts of one task
// become one request with several samples.
std::vector<CallOutput> run_step(const std::string& step_name, const std::vector<Call>& calls,
                                 const std::vector<MethodUnit>& units, std::vector<UnitState>& states,
                                 Backend& backend, const MethodRunOptions& opts) {
  std::vector<CompletionRequest> reqs;
  std::map<std::string, size_t> req_of;                  // group key -> request index
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
        out[c].step = {{"name", step_name},           {"prompt", calls[c].prompt},
                       {"output", ch.text},           {"prompt_tokens", res.prompt_tokens},
                       {"generated_tokens", ch.generated_tokens}, {"finish_reason", ch.finish_reason}};
        if (res.token_source == "local-tokenizer") out[c].step["token_source"] = res.token_source;  // approximate counts
      }
    }
  });
  return out;
}

// S2A step 1 output -> (context, question); nullopt when the labelled parts are missing.
std::optional<std::pair<std::string, std::string>> parse_s2a(const std::string& text) {
  static const std::regex re(R"(context\s*:\s*([\s\S]*?)\n\s*question\s*:\s*([\s\S]*))", std::regex::icase);
  std::smatch m;
  if (!std::regex_search(text, m, re)) return std::nullopt;
  const std::string q = trim(m[2].str());
  if (q.empty()) return std::nullopt;
  return std::make_pair(trim(m[1].str()), q);
}

}  // namespace

void check_task_for_method(const Task& task, const std::string& method) {
  if (method != "bsm") return;
  for (const char* f : {"question", "response_a", "response_b"}) {
    auto it = task.extra.find(f);
    if (it == task.extra.end() || !it->is_string()) {
      throw_input("task lacks a field the method needs", {.field = f, .expected = "a string (method bsm)",
                                                         .found = it == task.extra.end() ? "nothing" : std::string(it->type_name()),
                                                         .hint = "task " + task.id});
    }
  }
}

std::string render_usc_prompt(const MethodSpec& usc, const std::string& question, const std::vector<std::string>& finals) {
  std::string responses;
  for (size_t i = 0; i < finals.size(); ++i) responses += "Response " + std::to_string(i + 1) + ": " + finals[i] + "\n";
  return render_template(usc.step("select"), {{"question", question}, {"responses", responses}});
}

std::string unit_key(const std::string& id, int sample, bool swapped) {
  return id + "#" + std::to_string(sample) + (swapped ? "#swap" : "");
}

void run_method(const MethodSpec& spec, const std::vector<MethodUnit>& units, Backend& backend,
                const MethodRunOptions& opts, const std::function<void(nlohmann::json&&)>& on_record) {
  std::vector<UnitState> st(units.size());
  for (size_t i = 0; i < units.size(); ++i) {
    const Task& t = *units[i].task;
    auto& v = st[i].vars;
    v["input"] = t.input;
    v["format_hint"] = spec.format_hint(t.task);
    v["question"] = spec.name == "bsm" ? extra_string(t, "question") : t.input;
    v["response_a"] = extra_string(t, units[i].swapped ? "response_b" : "response_a");
    v["response_b"] = extra_string(t, units[i].swapped ? "response_a" : "response_b");
    if (answer_kind_for_task(t.task) == AnswerKind::Choice && t.extra.contains("response_a") && t.extra.contains("response_b")) {
      // A judge task: every method sees the pair as rendered by the template (in the order run).
      std::map<std::string, std::string> jv = {{"question", extra_string(t, "question")},
                                               {"response_a", v["response_a"]}, {"response_b", v["response_b"]}};
      v["input"] = render_template(spec.judge_input, jv);
      if (spec.name != "bsm") v["question"] = v["input"];
    }
  }
  // Runs `step` for every unit still going; `prompts(i)` gives unit i's calls for it.
  auto step = [&](const std::string& name, const std::function<std::vector<std::string>(size_t)>& prompts) {
    std::vector<Call> calls;
    for (size_t i = 0; i < units.size(); ++i) {
      if (st[i].failed) continue;
      for (auto& p : prompts(i)) calls.push_back({i, std::move(p)});
    }
    auto outs = run_step(name, calls, units, st, backend, opts);
    std::vector<std::vector<CallOutput*>> per_unit(units.size());
    for (size_t c = 0; c < calls.size(); ++c) per_unit[calls[c].unit].push_back(&outs[c]);
    return std::make_pair(std::move(outs), per_unit);
  };
  auto single = [&](const std::string& name) {
    return [&, name](size_t i) { return std::vector<std::string>{render_template(spec.step(name), st[i].vars)}; };
  };
  auto kind_of = [&](size_t i) { return answer_kind_for_task(units[i].task->task); };

  if (spec.name == "system1" || spec.name == "cot" || spec.name == "think" || spec.name == "rar1" || spec.name == "rar2") {
    if (spec.name == "rar2") {
      auto [outs, per] = step("rephrase", single("rephrase"));
      for (size_t i = 0; i < units.size(); ++i) {
        st[i].steps.push_back(per[i][0]->step);
        st[i].vars["rephrased"] = trim(per[i][0]->text);
      }
    }
    const std::string last = spec.steps.back().first;
    auto [outs, per] = step(last, single(last));
    for (size_t i = 0; i < units.size(); ++i) {
      auto& s = st[i];
      s.steps.push_back(per[i][0]->step);
      if (spec.name == "think") {  // the answer is what follows the model's own thinking
        const auto reply = after_thinking(per[i][0]->text);
        s.answer = reply ? extract_answer(*reply, kind_of(i), opts.answer_regex) : std::nullopt;
      } else {
        s.answer = extract_answer(per[i][0]->text, kind_of(i), opts.answer_regex);
      }
      if (spec.name == "system1") {
        s.final_text = trim(per[i][0]->text);  // System 1 says what it says
      } else if (s.answer) {
        s.final_text = canonical_final(*s.answer, kind_of(i));  // distil the answer, not the reasoning
      }
      s.steps.back()["parsed"] = s.answer.has_value();
    }
  } else if (spec.name == "s2a") {
    auto [outs, per] = step("extract", single("extract"));
    for (size_t i = 0; i < units.size(); ++i) {
      auto& s = st[i];
      s.steps.push_back(per[i][0]->step);
      auto parsed = parse_s2a(per[i][0]->text);
      s.steps.back()["parsed"] = parsed.has_value();
      // Unparsed: answer from the original text rather than drop the sample; the record says so.
      s.vars["context"] = parsed ? parsed->first : "none";
      s.vars["question"] = parsed ? parsed->second : units[i].task->input;
    }
    auto [outs2, per2] = step("answer", single("answer"));
    for (size_t i = 0; i < units.size(); ++i) {
      auto& s = st[i];
      s.steps.push_back(per2[i][0]->step);
      s.final_text = trim(per2[i][0]->text);
      s.answer = extract_answer(per2[i][0]->text, kind_of(i), opts.answer_regex);
    }
  } else if (spec.name == "bsm") {
    auto [b_outs, b_per] = step("branch", single("branch"));
    for (size_t i = 0; i < units.size(); ++i) {
      auto& s = st[i];
      s.steps.push_back(b_per[i][0]->step);
      s.criteria = parse_criteria(b_per[i][0]->text);
      s.steps.back()["parsed"] = !s.criteria.empty();
      s.steps.back()["criteria"] = s.criteria;
      s.failed = s.criteria.empty();
    }
    auto [s_outs, s_per] = step("solve", [&](size_t i) {
      std::vector<std::string> p;
      for (const auto& c : st[i].criteria) {
        auto vars = st[i].vars;
        vars["criterion"] = c;
        p.push_back(render_template(spec.step("solve"), vars));
      }
      return p;
    });
    for (size_t i = 0; i < units.size(); ++i) {
      auto& s = st[i];
      if (s.failed) continue;
      int sum_a = 0, sum_b = 0, parsed = 0;
      std::string judgements;
      for (size_t k = 0; k < s_per[i].size(); ++k) {
        nlohmann::json rec = s_per[i][k]->step;
        rec["criterion"] = s.criteria[k];
        if (auto sc = parse_pair_scores(s_per[i][k]->text)) {
          sum_a += sc->first;
          sum_b += sc->second;
          ++parsed;
          rec["scores"] = {sc->first, sc->second};
          judgements += "- " + s.criteria[k] + ": Assistant A " + std::to_string(sc->first) + "/5, Assistant B " +
                        std::to_string(sc->second) + "/5\n";
        }
        rec["parsed"] = rec.contains("scores");
        s.steps.push_back(rec);
      }
      s.vars["judgements"] = judgements;
      s.failed = parsed == 0;
      if (!s.failed && opts.merge == "symbolic") {
        const std::string v = sum_a > sum_b ? "A" : sum_b > sum_a ? "B" : "tie";
        s.steps.push_back({{"name", "merge"}, {"mode", "symbolic"}, {"scores", {sum_a, sum_b}}, {"output", v},
                           {"prompt_tokens", 0}, {"generated_tokens", 0}, {"parsed", true}});
        s.answer = v;
      }
    }
    if (opts.merge == "llm") {
      auto [m_outs, m_per] = step("merge", single("merge"));
      for (size_t i = 0; i < units.size(); ++i) {
        auto& s = st[i];
        if (s.failed) continue;
        s.steps.push_back(m_per[i][0]->step);
        s.answer = extract_answer(m_per[i][0]->text, AnswerKind::Choice, opts.answer_regex);
        s.steps.back()["parsed"] = s.answer.has_value();
      }
    }
    for (auto& s : st)
      if (s.answer) s.final_text = canonical_final(*s.answer, AnswerKind::Choice);
  } else {
    throw_input("method cannot be run by generate", {.field = "--method", .found = spec.name});
  }

  for (size_t i = 0; i < units.size(); ++i) {  // swapped judge verdicts back in the original labels
    auto& s = st[i];
    if (!units[i].swapped || !s.answer || answer_kind_for_task(units[i].task->task) != AnswerKind::Choice) continue;
    if (!s.steps.empty()) s.steps.back()["verdict_in_shown_order"] = *s.answer;
    if (*s.answer != "tie") s.answer = *s.answer == "A" ? "B" : "A";
    if (spec.name == "bsm") s.final_text = canonical_final(*s.answer, AnswerKind::Choice);
  }
  for (size_t i = 0; i < units.size(); ++i) {
    const auto& s = st[i];
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
    if (u.swapped || spec.name == "bsm") rec["perturbed"] = u.swapped;
    on_record(std::move(rec));
  }
}

}  // namespace s2d
