// `s2d eval`: run a method on a labelled task file and measure it, as the paper does:
// accuracy after task-aware normalisation (for judge tasks: agreement with the human label, and
// position consistency with the two responses swapped), and the inference cost, generated tokens
// per answer summed over every step of the method, plus prompt tokens and wall time.
//
// OUT/examples.jsonl: one line per task {id, input, prediction, label, correct, tokens, ...}
// OUT/summary.json:   the aggregate (schema "s2d.eval/1"), which `s2d eval --compare` reads.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "s2d/engine/backend.h"
#include "s2d/methods/method_def.h"
#include "s2d/methods/method_spec.h"

namespace s2d {

struct EvalOptions {
  std::string tasks_path, out_dir;
  std::string method = "system1";
  std::string template_path, answer_regex;
  std::string bsm_merge = "symbolic";  // BSM's merge step: symbolic | llm
  int samples = 1;                     // k > 1: majority vote over k samples
  bool swap = true;                    // judge tasks: also run the swapped order for position consistency
  SamplingParams sampling;             // greedy by default
  std::string label;                   // name in reports (default: method)
  std::string role;                    // system1 | system2 | distilled (default: from the method and model)
  nlohmann::json provenance = nlohmann::json::object();
};

// `s2d eval`'s flags for one run (util/option_set.h); the keys are what decides its scores.
template <OptionsOf<EvalOptions> O, class F>
void visit_options(O& o, F&& f) {
  f("--tasks", "", o.tasks_path, "Labelled task JSONL");
  f("--out", "", o.out_dir, "Output directory (examples.jsonl, summary.json; or the report)");
  f("--method", "method", o.method, generation_method_names() + " (see Methods below)");
  f("--template", "template", o.template_path,
    "Method template JSON, your own wording (default: configs/methods/METHOD.json)");
  f("--samples", "samples", o.samples, "k samples per task, majority vote (a tie is no prediction)");
  visit_options(o.sampling, f);
  f("--answer-regex", "answer_regex", o.answer_regex, "Override answer extraction");
  f("--merge", "merge", o.bsm_merge, "bsm: symbolic|llm");
  f("--label", "", o.label, "Name of this run in reports (default: the method)");
  f("--role", "", o.role, "system1|system2|distilled (default: system2 for System 2 methods, else system1)");
}

// InputError naming the first bad flag or file: --out, --method and --template, --samples,
// sampling, --merge, --role, a --tasks that is not a file. run_eval checks them too; the CLI does
// before it loads the model, which may take minutes. Returns the method's spec, as loaded for the check.
MethodSpec check_eval_options(const EvalOptions& opts);
nlohmann::json run_eval(const EvalOptions& opts, Backend& backend);

}  // namespace s2d
