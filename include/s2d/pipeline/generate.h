// `s2d generate`: tasks in, sample records out (schema in docs/formats.md).
// Resumable: records are keyed by (id, sample[, swap]); a rerun produces only the missing ones,
// and since sample i of a step always draws from sample_seed(seed(task, step), i), the result
// equals an uninterrupted run.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "s2d/data/task.h"
#include "s2d/engine/backend.h"
#include "s2d/methods/method_def.h"
#include "s2d/methods/method_spec.h"

namespace s2d {

struct GenerateOptions {
  std::string tasks_path;  // task JSONL, or
  std::string prompt;      // one raw prompt (id "prompt")
  std::string out_path;    // sample JSONL, appended; provenance goes to OUT.run.json
  std::string method = "system1";
  std::string template_path;  // a user's method template (default configs/methods/<method>.json)
  int samples = 1;
  SamplingParams sampling;  // sampling.seed is the run's seed; each task mixes in its id
  std::string answer_regex;
  std::string bsm_merge = "symbolic";  // BSM's merge step: symbolic | llm
  bool swap = false;                   // bsm: also run with responses swapped (perturbed samples)
  int64_t chunk_tasks = 0;             // tasks in flight at most (0: tasks_to_fill); a kill loses at most these
  std::string shard;                   // "i/n": only the tasks whose id hashes to shard i of n (see shard_of)
  bool overwrite = false;              // an existing --out made with other flags is emptied, not refused
  nlohmann::json provenance = nlohmann::json::object();  // command line, flags, model
};

// `s2d generate`'s own flags (util/option_set.h). The keys are what decides a run's samples: a
// rerun into the same --out must match them. --samples may grow (sample i draws from its own
// stream) and --shard differ, so neither has a key.
template <OptionsOf<GenerateOptions> O, class F>
void visit_options(O& o, F&& f) {
  f("--tasks", "", o.tasks_path, "Task JSONL (see 's2d data')");
  f("--prompt", "", o.prompt, "One prompt instead of --tasks; completions are printed");
  f("--out", "", o.out_path, "Sample JSONL to append to (required with --tasks)");
  f("--method", "method", o.method, generation_method_names() + " (see Methods below)");
  f("--template", "template", o.template_path,
    "Method template JSON, your own wording (default: configs/methods/METHOD.json)");
  f("--answer-regex", "answer_regex", o.answer_regex,
    "Regex whose first group is the answer (overrides task-aware extraction)");
  f("--merge", "merge", o.bsm_merge, "bsm: symbolic (sum scores) | llm");
  f("--swap", "swap", o.swap, "Judge tasks: also run with the two responses swapped (perturbed samples)");
  f("--shard", "", o.shard, "i/n: only this machine's share of the tasks (by id hash); join with 's2d merge'");
  f("--overwrite", "", o.overwrite,
    "Start --out afresh when it holds samples made with other flags (refused otherwise)");
  f("--chunk", "", o.chunk_tasks,
    "Tasks in flight at most (a finished one's place goes to the next); a kill loses at most these. "
    "0: enough to fill --batch-size twice over, and at least 64");
  f("--samples", "", o.samples, "Samples per task; they share one prefill");
  visit_options(o.sampling, f);
}

struct GenerateSummary {
  int64_t tasks = 0, tasks_already_done = 0, samples_written = 0;
  int64_t prompt_tokens = 0, generated_tokens = 0;  // summed over the records (each sample counts its prompts)
  // What the in-process engine prefilled (a prompt once for all its samples) and computed of it (the
  // rest reused an earlier prompt's keys and values); 0 and 0 for a backend that cannot tell.
  int64_t prefilled_tokens = 0, computed_prompt_tokens = 0;
  int64_t graph_steps = 0;  // decode steps replayed as CUDA graphs (Backend::graph_steps)
  double seconds = 0;
};

// A sample record's identity, "id#sample[#swap]": resume and merge key on it.
std::string record_key(const nlohmann::json& record);

// The shard a task id belongs to, of n: FNV-1a of the id mod n, so every machine given the same
// task file and "--shard i/n" agrees on the split whatever the order of the file.
int shard_of(const std::string& task_id, int n);
// "2/8" -> {2, 8}; InputError naming --shard unless 0 <= i < n.
std::pair<int, int> parse_shard(const std::string& spec);

// InputError naming the first bad flag or file: --samples, --chunk, --merge, sampling, --shard,
// --method and --template, a --tasks that is not a file, an --out that is one of the inputs.
// run_generate checks them too; the CLI does before it loads the model, which may take minutes.
// Returns the method's spec, as loaded for the check.
MethodSpec check_generate_options(const GenerateOptions& o);

GenerateSummary run_generate(const GenerateOptions& opts, Backend& backend,
                             const std::function<void(const nlohmann::json&)>& on_record = {});

}  // namespace s2d
