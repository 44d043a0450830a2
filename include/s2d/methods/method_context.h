// What a method's runner (methods/method_def.h) works with: the units of one run, each unit's
// state, and one way to run a step for all of them at once. run_method (methods/runner.h) builds
// it, calls the method's runner, then writes one record per unit from the states.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "s2d/methods/answers.h"
#include "s2d/methods/runner.h"

namespace s2d {

// Per-unit progress through the method.
struct UnitState {
  std::map<std::string, std::string> vars;         // placeholder -> text, for the templates
  nlohmann::json steps = nlohmann::json::array();  // the recorded steps, in order
  int64_t prompt_tokens = 0, generated_tokens = 0;
  double seconds = 0;
  bool failed = false;     // a step could not be parsed: the unit ends without an answer
  std::string final_text;  // the distilled target
  std::optional<std::string> answer;
  std::vector<std::string> criteria;  // bsm's branches
};

struct CallOutput {
  std::string text;
  nlohmann::json step;  // the recorded step
};

class MethodContext {
 public:
  MethodContext(const MethodSpec& spec, const std::vector<MethodUnit>& units, Backend& backend,
                const MethodRunOptions& opts);

  // Runs step `name` for every unit still going, as one backend round; prompts(i) gives unit i's
  // prompts. Returns each unit's outputs in prompt order (none for a failed unit).
  std::vector<std::vector<CallOutput>> step(const std::string& name,
                                            const std::function<std::vector<std::string>(size_t)>& prompts);
  // step() with one prompt per unit: the step's template rendered with the unit's vars.
  std::vector<std::vector<CallOutput>> single(const std::string& name);
  AnswerKind kind_of(size_t unit) const { return answer_kind_for_task(units[unit].task->task); }

  const MethodSpec& spec;
  const std::vector<MethodUnit>& units;
  const MethodRunOptions& opts;
  std::vector<UnitState> st;  // one per unit

 private:
  Backend& backend_;
};

}  // namespace s2d
