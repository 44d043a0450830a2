// Method templates: data in configs/methods/<method>.json (schema "s2d.method/1"), so that users
// can load their own wording (--template FILE) without rebuilding. Each method has fixed step
// names (methods/method_def.h), and each step's template must use the placeholders that step
// needs; a template that lacks one, or uses one that does not exist, is an InputError naming
// the file and step.
//
//   {"method": "rar2", "source": "...", "steps": {"rephrase": "...{input}...", "respond": "..."},
//    "format_hints": {"coin-flip": " Answer Yes or No.", "default": ""}}
#pragma once

#include <map>
#include <string>
#include <vector>

namespace s2d {

struct MethodSpec {
  std::string name;                                        // a method_defs() name
  std::string source;                                      // citation of the published method
  std::string path;                                        // file it came from
  std::vector<std::pair<std::string, std::string>> steps;  // (step name, template), in order
  std::map<std::string, std::string> format_hints;         // task -> hint; "default" for others
  // How a pairwise-judge task (question, response_a, response_b) becomes the method's {input}.
  std::string judge_input;

  const std::string& step(const std::string& name) const;
  std::string format_hint(const std::string& task) const;
};

// Loads configs/methods/<method>.json, or `template_file` when given (its "method" must match).
MethodSpec load_method_spec(const std::string& method, const std::string& template_file = "");
std::string default_methods_dir();

// Replaces {name} by vars[name]; "{{" and "}}" are literal braces.
std::string render_template(const std::string& tmpl, const std::map<std::string, std::string>& vars);

}  // namespace s2d
