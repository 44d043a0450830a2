// A Jinja interpreter for the subset that Hugging Face chat templates use, rendering exactly as
// transformers' apply_chat_template does (jinja2's ImmutableSandboxedEnvironment with
// trim_blocks, lstrip_blocks and loop controls; its tojson, raise_exception and strftime_now).
//
// Statements: for (with else, loop.index/index0/first/last/length/revindex/revindex0, tuple
// targets, break/continue), if/elif/else, set (including block set and namespace attributes),
// macro, filter blocks, with, raw, generation (rendered as its body), comments, and the whitespace
// controls {%- -%} {{- -}}.
// Expressions: literals, lists, dicts, tuples, attribute and item access, slices, calls, filters,
// tests, "a if b else c", and/or/not, comparisons, in, is, + - * / // % ** ~, and str.format.
// Filters and tests: jinja2's that templates use (jinja_eval.cpp, jinja_filters.cpp); comparisons
// and sort order values as Python does (lists lexicographically, a string beside a number refused).
// Dict keys are str, int, float, bool or None, looked up as Python's dict does (1, 1.0 and True are
// one key); tuples print as tuples.
// Anything else is an InputError naming the construct and the template line.
#pragma once

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

namespace s2d::jinja {

class Template {
 public:
  // Parses `source`; `where` names it in errors (e.g. "tokenizer_config.json:chat_template").
  Template(const std::string& source, const std::string& where);
  // Renders with `context`'s keys as variables (messages, add_generation_prompt, bos_token, ...).
  // raise_exception() in the template is an InputError carrying its message, and so is a render
  // that runs past `time_limit`: real templates take well under a millisecond, while a loop or a
  // macro that calls itself twice can run for years within the interpreter's other limits.
  static constexpr std::chrono::milliseconds kTimeLimit{10'000};
  std::string render(const nlohmann::ordered_json& context, std::chrono::milliseconds time_limit = kTimeLimit) const;

  struct Node;

 private:
  std::shared_ptr<const Node> root_;
  std::string where_;
};

}  // namespace s2d::jinja
