// The methods s2d knows, in one table (src/methods/method_def.cpp). Adding a method is one entry
// there plus its wording in configs/methods/<name>.json; a method whose steps are a plain chain of
// prompts needs no code at all (docs/adding-a-method.md). The runner, the template checks, the
// --method help and the error for an unknown name all read this table.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace s2d {

class MethodContext;  // the runner's per-run state (methods/method_context.h)

// How a chain method's last step becomes the record's answer and "final" (the distilled target).
enum class FinalAnswer {
  Verbatim,       // System 1: the answer is extracted, "final" is the reply as it stands
  Extracted,      // the answer is extracted and "final" is its canonical form (the reasoning dropped)
  AfterThinking,  // as Extracted, from the text after the model's own </think>
};

struct StepDef {
  std::string name;                // the key in the template's "steps"
  std::vector<std::string> needs;  // placeholders the step's template must use ({format_hint} is always allowed)
  std::string output;              // chain methods: the placeholder this step's trimmed reply fills for later steps
};

struct MethodDef {
  std::string name;
  std::string summary;         // one line for --help and docs
  std::vector<StepDef> steps;  // in the order they run
  // Runs the method over every unit; null for methods only the filter uses (usc).
  void (*run)(MethodContext&) = nullptr;
  FinalAnswer final = FinalAnswer::Extracted;  // chain methods
  bool judges_pairs = false;  // reads a judge task's question and responses itself (bsm), not the rendered pair
  std::vector<std::string> task_fields;  // string fields every task must carry
};

// Every method, those `s2d generate` runs first, in a fixed order.
const std::vector<MethodDef>& method_defs();
// nullptr when there is no such method.
const MethodDef* find_method(std::string_view name);
// The names `s2d generate` and `s2d eval` take, as "system1|cot|...".
std::string generation_method_names();
// Every placeholder some step may use.
const std::vector<std::string>& known_placeholders();

// The runners of the table (src/methods/*_method.cpp).
void run_chain_method(MethodContext& m);
void run_s2a_method(MethodContext& m);
void run_bsm_method(MethodContext& m);

}  // namespace s2d
