// System 2 Attention (Weston & Sukhbaatar 2023): step "extract" rewrites the input as a context
// and a question, without the parts that should not sway the answer; step "answer" answers from
// that rewrite alone.
#include <regex>

#include "s2d/methods/method_context.h"
#include "s2d/methods/method_def.h"
#include "s2d/util/strings.h"

namespace s2d {

namespace {
// Step 1's output -> (context, question); nullopt when the labelled parts are missing.
std::optional<std::pair<std::string, std::string>> parse_s2a(const std::string& text) {
  static const std::regex re(R"(context\s*:\s*([\s\S]*?)\n\s*question\s*:\s*([\s\S]*))", std::regex::icase);
  std::smatch m;
  if (!std::regex_search(text, m, re)) return std::nullopt;
  const std::string q = trim(m[2].str());
  if (q.empty()) return std::nullopt;
  return std::make_pair(trim(m[1].str()), q);
}
}  // namespace

void run_s2a_method(MethodContext& m) {
  auto per = m.single("extract");
  for (size_t i = 0; i < m.units.size(); ++i) {
    auto& s = m.st[i];
    s.steps.push_back(per[i][0].step);
    auto parsed = parse_s2a(per[i][0].text);
    s.steps.back()["parsed"] = parsed.has_value();
    // Unparsed: answer from the original text rather than drop the sample; the record says so.
    s.vars["context"] = parsed ? parsed->first : "none";
    s.vars["question"] = parsed ? parsed->second : m.units[i].task->input;
  }
  auto answers = m.single("answer");
  for (size_t i = 0; i < m.units.size(); ++i) {
    auto& s = m.st[i];
    s.steps.push_back(answers[i][0].step);
    s.final_text = trim(answers[i][0].text);
    s.answer = extract_answer(answers[i][0].text, m.kind_of(i), m.opts.answer_regex);
  }
}

}  // namespace s2d
