// Methods that are a chain of single prompts (system1, cot, think, rar1, rar2, stepback): each
// step but the last fills a placeholder for the next with its trimmed reply; the last step's
// reply gives the answer, read as the method's MethodDef::final says.
#include "s2d/methods/method_context.h"
#include "s2d/methods/method_def.h"
#include "s2d/util/strings.h"

namespace s2d {

void run_chain_method(MethodContext& m) {
  const MethodDef& def = *find_method(m.spec.name);
  std::vector<MethodStep> steps;
  for (size_t k = 0; k + 1 < def.steps.size(); ++k) {
    steps.push_back({def.steps[k].name, {}, [&m, &out = def.steps[k].output](size_t i, std::vector<CallOutput>&& r) {
                       m.st[i].steps.push_back(std::move(r[0].step));
                       m.st[i].vars[out] = trim(r[0].text);
                     }});
  }
  steps.push_back({def.steps.back().name, {}, [&m, &def](size_t i, std::vector<CallOutput>&& r) {
                     auto& s = m.st[i];
                     const std::string& reply = r[0].text;
                     s.steps.push_back(std::move(r[0].step));
                     if (def.final ==
                         FinalAnswer::AfterThinking) {  // the answer is what follows the model's own thinking
                       const auto rest = after_thinking(reply);
                       s.answer = rest ? extract_answer(*rest, m.kind_of(i), m.opts.answer_regex) : std::nullopt;
                     } else {
                       s.answer = extract_answer(reply, m.kind_of(i), m.opts.answer_regex);
                     }
                     if (def.final == FinalAnswer::Verbatim) {
                       s.final_text = trim(reply);  // System 1 says what it says
                     } else if (s.answer) {
                       s.final_text = canonical_final(*s.answer, m.kind_of(i));  // distil the answer, not the reasoning
                     }
                     s.steps.back()["parsed"] = s.answer.has_value();
                   }});
  m.run(steps);
}

}  // namespace s2d
