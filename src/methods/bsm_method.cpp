// Branch-Solve-Merge (Saha et al. 2023) for pairwise judging: step "branch" lists criteria, step
// "solve" scores both responses on each criterion (one call per criterion), and the verdict is
// the higher total ("symbolic" merge) or step "merge"'s reply (--merge llm).
#include "s2d/methods/method_context.h"
#include "s2d/methods/method_def.h"

namespace s2d {

namespace {
// Scores the solve step's replies of unit `s`; fills "judgements" for the merge step, and the
// verdict itself when the merge is symbolic. A unit none of whose replies parses fails.
void score_criteria(UnitState& s, const std::vector<CallOutput>& replies, bool symbolic) {
  int sum_a = 0, sum_b = 0, parsed = 0;
  std::string judgements;
  for (size_t k = 0; k < replies.size(); ++k) {
    nlohmann::json rec = replies[k].step;
    rec["criterion"] = s.criteria[k];
    if (auto sc = parse_pair_scores(replies[k].text)) {
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
  if (!s.failed && symbolic) {
    const std::string v = sum_a > sum_b ? "A" : sum_b > sum_a ? "B" : "tie";
    s.steps.push_back({{"name", "merge"},
                       {"mode", "symbolic"},
                       {"scores", {sum_a, sum_b}},
                       {"output", v},
                       {"prompt_tokens", 0},
                       {"generated_tokens", 0},
                       {"parsed", true}});
    s.answer = v;
    s.final_text = canonical_final(v, AnswerKind::Choice);
  }
}
}  // namespace

void run_bsm_method(MethodContext& m) {
  const bool symbolic = m.opts.bsm_merge == "symbolic";
  auto branch = [&m](size_t i, std::vector<CallOutput>&& r) {
    auto& s = m.st[i];
    s.criteria = parse_criteria(r[0].text);
    s.steps.push_back(std::move(r[0].step));
    s.steps.back()["parsed"] = !s.criteria.empty();
    s.steps.back()["criteria"] = s.criteria;
    s.failed = s.criteria.empty();
  };
  auto solve_prompts = [&m](size_t i) {  // one prompt per criterion
    std::vector<std::string> p;
    for (const auto& c : m.st[i].criteria) {
      auto vars = m.st[i].vars;
      vars["criterion"] = c;
      p.push_back(render_template(m.spec.step("solve"), vars));
    }
    return p;
  };
  auto solve = [&m, symbolic](size_t i, std::vector<CallOutput>&& r) { score_criteria(m.st[i], r, symbolic); };
  auto merge = [&m](size_t i, std::vector<CallOutput>&& r) {
    auto& s = m.st[i];
    s.answer = extract_answer(r[0].text, AnswerKind::Choice, m.opts.answer_regex);
    if (s.answer) s.final_text = canonical_final(*s.answer, AnswerKind::Choice);
    s.steps.push_back(std::move(r[0].step));
    s.steps.back()["parsed"] = s.answer.has_value();
  };
  std::vector<MethodStep> steps = {{"branch", {}, branch}, {"solve", solve_prompts, solve}};
  if (!symbolic) steps.push_back({"merge", {}, merge});
  m.run(steps);
}

}  // namespace s2d
