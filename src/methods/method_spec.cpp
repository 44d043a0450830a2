#include "s2d/methods/method_spec.h"

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <set>

#include "s2d/methods/method_def.h"
#include "s2d/util/atomic_file.h"
#include "s2d/util/error.h"
#include "s2d/util/json.h"

#ifndef S2D_SOURCE_CONFIG_DIR
#define S2D_SOURCE_CONFIG_DIR "configs"
#endif

namespace s2d {

namespace {

// Placeholders used by a template ("{{" escapes excluded).
std::set<std::string> placeholders_of(const std::string& t) {
  std::set<std::string> out;
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i] == '{' && i + 1 < t.size() && t[i + 1] == '{') {
      ++i;
      continue;
    }
    if (t[i] != '{') continue;
    const size_t end = t.find('}', i);
    if (end == std::string::npos) break;
    out.insert(t.substr(i + 1, end - i - 1));
    i = end;
  }
  return out;
}

}  // namespace

std::string default_methods_dir() {
  if (const char* d = std::getenv("S2D_CONFIG_DIR"); d && *d) return std::string(d) + "/methods";
  return std::string(S2D_SOURCE_CONFIG_DIR) + "/methods";
}

const std::string& MethodSpec::step(const std::string& n) const {
  for (const auto& [step_name, t] : steps)
    if (step_name == n) return t;
  throw_runtime("method has no such step", {.file = path, .field = "steps." + n});
}

std::string MethodSpec::format_hint(const std::string& task) const {
  if (auto it = format_hints.find(task); it != format_hints.end()) return it->second;
  if (auto it = format_hints.find("default"); it != format_hints.end()) return it->second;
  return "";
}

namespace {
MethodSpec read_method_spec(const std::string& method, const std::string& template_file) {
  const MethodDef* def = find_method(method);
  if (!def)
    throw_input("unknown method", {.field = "--method", .expected = generation_method_names(), .found = method});
  MethodSpec spec;
  spec.path = template_file.empty() ? default_methods_dir() + "/" + method + ".json" : template_file;
  const auto j = read_ordered_json_file(spec.path);
  if (!j.is_object()) throw_input("method template is not a JSON object", {.file = spec.path});
  spec.name = j.value("method", std::string());
  if (spec.name != method) {
    throw_input("template is for another method",
                {.file = spec.path, .field = "method", .expected = method, .found = spec.name});
  }
  spec.source = j.value("source", std::string());
  if (!j.contains("steps") || !j["steps"].is_object()) {
    throw_input("missing steps", {.file = spec.path, .field = "steps", .expected = "an object of step templates"});
  }
  const auto& known = known_placeholders();
  for (const auto& [step, needs, output] : def->steps) {
    auto it = j["steps"].find(step);
    if (it == j["steps"].end() || !it->is_string()) {
      throw_input("missing step template", {.file = spec.path, .field = "steps." + step, .expected = "a string"});
    }
    const std::string t = it->get<std::string>();
    const auto used = placeholders_of(t);
    for (const auto& p : needs)
      if (!used.count(p)) {
        throw_input(
            "template lacks a required placeholder",
            {.file = spec.path, .field = "steps." + step, .expected = "{" + p + "}", .found = "no {" + p + "}"});
      }
    for (const auto& p : used)
      if (std::find(known.begin(), known.end(), p) == known.end()) {
        throw_input("unknown placeholder", {.file = spec.path,
                                            .field = "steps." + step,
                                            .found = "{" + p + "}",
                                            .hint = "write {{ and }} for literal braces"});
      }
    spec.steps.emplace_back(step, t);
  }
  spec.judge_input = j.value(
      "judge_input",
      std::string("[User question]\n{question}\n\n[Assistant A]\n{response_a}\n\n[Assistant B]\n{response_b}\n\n"
                  "Which assistant's answer is better? Reply [[A]], [[B]] or [[C]] for a tie."));
  for (const char* p : {"question", "response_a", "response_b"})
    if (!placeholders_of(spec.judge_input).count(p))
      throw_input("template lacks a required placeholder",
                  {.file = spec.path, .field = "judge_input", .expected = std::string("{") + p + "}"});
  if (auto h = j.find("format_hints"); h != j.end() && h->is_object())
    for (auto it = h->begin(); it != h->end(); ++it)
      if (it->is_string()) spec.format_hints[it.key()] = it->get<std::string>();
  return spec;
}
}  // namespace

MethodSpec load_method_spec(const std::string& method, const std::string& template_file) {
  // A field of the wrong type anywhere in the file is an input error naming the file.
  return with_json_context(
      {.file = template_file.empty() ? default_methods_dir() + "/" + method + ".json" : template_file},
      [&] { return read_method_spec(method, template_file); });
}

std::string render_template(const std::string& t, const std::map<std::string, std::string>& vars) {
  std::string out;
  out.reserve(t.size() + 256);
  for (size_t i = 0; i < t.size(); ++i) {
    if ((t[i] == '{' || t[i] == '}') && i + 1 < t.size() && t[i + 1] == t[i]) {
      out.push_back(t[i++]);
      continue;
    }
    if (t[i] == '{') {
      const size_t end = t.find('}', i);
      if (end != std::string::npos) {
        auto it = vars.find(t.substr(i + 1, end - i - 1));
        if (it != vars.end()) {
          out += it->second;
          i = end;
          continue;
        }
      }
    }
    out.push_back(t[i]);
  }
  return out;
}

}  // namespace s2d
