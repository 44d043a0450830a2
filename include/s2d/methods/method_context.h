// What a method's runner (methods/method_def.h) works with: the units of one run, each unit's
// state, and one way to run a method's steps for all of them. run_method (methods/runner.h) builds
// it, calls the method's runner, then writes one record per unit from the states.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>
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

// One step of a method, as every unit goes through it.
struct MethodStep {
  std::string name;  // the key of the step's template
  // Unit i's prompts; unset: one prompt, the step's template rendered with the unit's vars.
  std::function<std::vector<std::string>(size_t unit)> prompts;
  // Takes unit i's outputs, in prompt order. Setting the unit's `failed` ends it here.
  std::function<void(size_t unit, std::vector<CallOutput>&& outputs)> take;
};

class MethodContext {
 public:
  // `on_record` gets each unit's record once its task is done (see run_method).
  MethodContext(const MethodSpec& spec, const std::vector<MethodUnit>& units, Backend& backend,
                const MethodRunOptions& opts, std::function<void(nlohmann::json&&)> on_record);

  // Runs `steps` in order for every unit that has not failed. Each unit moves on by itself: its
  // next step's requests join the backend's running batch (Backend::complete_open) as soon as its
  // previous step has answered, rather than after every unit's, and a task done makes room for the
  // next (MethodRunOptions::tasks_in_flight), so the batch stays full. Identical prompts of one
  // task's units (its samples at the first step) form one request with several samples and share
  // a prefill. A request's samples keep their seeds whatever the order, so the outputs are those of
  // running the steps one after the other (up to float reassociation in a batch of another
  // make-up). The steps leave each unit's answer and final text in its state.
  void run(const std::vector<MethodStep>& steps);
  AnswerKind kind_of(size_t unit) const { return answer_kind_for_task(units[unit].task->task); }

  const MethodSpec& spec;
  const std::vector<MethodUnit>& units;
  const MethodRunOptions& opts;
  // Per unit in flight: made when its task starts, dropped once its record is out.
  std::unordered_map<size_t, UnitState> st;

 private:
  void start(size_t unit);             // fills the unit's vars for the templates
  nlohmann::json record(size_t unit);  // the unit's record, from its state

  const bool judges_pairs_;  // the method reads a judge task's parts itself (MethodDef::judges_pairs)
  Backend& backend_;
  std::function<void(nlohmann::json&&)> on_record_;
};

}  // namespace s2d
