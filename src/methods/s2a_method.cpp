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
  auto extract = [&m](size_t i, std::vector<CallOutput>&& r) {
    auto& s = m.st[i];
    auto parsed = parse_s2a(r[0].text);
    s.steps.push_back(std::move(r[0].step));
    s.steps.back()["parsed"] = parsed.has_value();
    // Unparsed: answer from the original text rather than drop the sample; the record says so.
    s.vars["context"] = parsed ? parsed->first : "none";
    s.vars["question"] = parsed ? parsed->second : m.units[i].task->input;
  };
  auto answer = [&m](size_t i, std::vector<CallOutput>&& r) {
    auto& s = m.st[i];
    s.final_text = trim(r[0].text);
    s.answer = extract_answer(r[0].text, m.kind_of(i), m.opts.answer_regex);
    s.steps.push_back(std::move(r[0].step));
  };
  m.run({{"extract", {}, extract}, {"answer", {}, answer}});
}

}  // namespace s2d
