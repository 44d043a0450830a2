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
  }
}
}  // namespace

void run_bsm_method(MethodContext& m) {
  const size_t n = m.units.size();
  auto branches = m.single("branch");
  for (size_t i = 0; i < n; ++i) {
    auto& s = m.st[i];
    s.steps.push_back(branches[i][0].step);
    s.criteria = parse_criteria(branches[i][0].text);
    s.steps.back()["parsed"] = !s.criteria.empty();
    s.steps.back()["criteria"] = s.criteria;
    s.failed = s.criteria.empty();
  }
  auto solves = m.step("solve", [&](size_t i) {  // one prompt per criterion
    std::vector<std::string> p;
    for (const auto& c : m.st[i].criteria) {
      auto vars = m.st[i].vars;
      vars["criterion"] = c;
      p.push_back(render_template(m.spec.step("solve"), vars));
    }
    return p;
  });
  for (size_t i = 0; i < n; ++i)
    if (!m.st[i].failed) score_criteria(m.st[i], solves[i], m.opts.bsm_merge == "symbolic");
  if (m.opts.bsm_merge == "llm") {
    auto merges = m.single("merge");
    for (size_t i = 0; i < n; ++i) {
      auto& s = m.st[i];
      if (s.failed) continue;
      s.steps.push_back(merges[i][0].step);
      s.answer = extract_answer(merges[i][0].text, AnswerKind::Choice, m.opts.answer_regex);
      s.steps.back()["parsed"] = s.answer.has_value();
    }
  }
  for (auto& s : m.st)
    if (s.answer) s.final_text = canonical_final(*s.answer, AnswerKind::Choice);
}

}  // namespace s2d
