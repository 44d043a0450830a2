#include "s2d/methods/method_def.h"

#include <algorithm>

namespace s2d {

const std::vector<MethodDef>& method_defs() {
  // clang-format off: one entry per method, its name and summary on the first line
  static const std::vector<MethodDef> k = {
      {.name = "system1", .summary = "System 1: the answer directly, one call",
       .steps = {{"answer", {"input"}}}, .run = run_chain_method, .final = FinalAnswer::Verbatim},
      {.name = "cot", .summary = "Chain-of-Thought: reason step by step, then answer",
       .steps = {{"reason", {"input"}}}, .run = run_chain_method},
      {.name = "think", .summary = "the model's own <think>...</think> reasoning, then its answer",
       .steps = {{"answer", {"input"}}}, .run = run_chain_method, .final = FinalAnswer::AfterThinking},
      {.name = "rar1", .summary = "Rephrase and Respond in one call",
       .steps = {{"respond", {"input"}}}, .run = run_chain_method},
      {.name = "rar2", .summary = "Rephrase and Respond in two calls: rephrase, then answer the original with it",
       .steps = {{"rephrase", {"input"}, "rephrased"}, {"respond", {"input", "rephrased"}}}, .run = run_chain_method},
      {.name = "stepback", .summary = "Step-Back prompting: name the principle behind the question, then answer with it",
       .steps = {{"abstract", {"input"}, "principles"}, {"respond", {"input", "principles"}}}, .run = run_chain_method},
      {.name = "s2a", .summary = "System 2 Attention: rewrite the input without its irrelevant or biasing parts, then answer",
       .steps = {{"extract", {"input"}}, {"answer", {"context", "question"}}}, .run = run_s2a_method},
      {.name = "bsm", .summary = "Branch-Solve-Merge for pairwise judging: criteria, a score per criterion, a verdict",
       .steps = {{"branch", {"question"}},
                 {"solve", {"question", "response_a", "response_b", "criterion"}},
                 {"merge", {"question", "response_a", "response_b", "judgements"}}},
       .run = run_bsm_method, .judges_pairs = true, .task_fields = {"question", "response_a", "response_b"}},
      {.name = "usc", .summary = "universal self-consistency's selection prompt (s2d filter --by usc)",
       .steps = {{"select", {"question", "responses"}}}},
  };
  // clang-format on
  return k;
}

const MethodDef* find_method(std::string_view name) {
  const auto& defs = method_defs();
  auto it = std::find_if(defs.begin(), defs.end(), [&](const MethodDef& d) { return d.name == name; });
  return it == defs.end() ? nullptr : &*it;
}

std::string generation_method_names() {
  std::string out;
  for (const auto& d : method_defs())
    if (d.run) out += (out.empty() ? "" : "|") + d.name;
  return out;
}

const std::vector<std::string>& known_placeholders() {
  static const std::vector<std::string> k = [] {
    // The per-unit variables the runner sets for every method, then what the steps add.
    std::vector<std::string> out = {"input", "format_hint", "question", "response_a", "response_b"};
    auto add = [&](const std::string& p) {
      if (!p.empty() && std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
    };
    for (const auto& d : method_defs())
      for (const auto& s : d.steps) {
        for (const auto& p : s.needs) add(p);
        add(s.output);
      }
    return out;
  }();
  return k;
}

}  // namespace s2d
