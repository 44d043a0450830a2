// `s2d filter`: keep only self-consistent System 2 answers and write SFT examples.
//
//   self-consistency  majority vote over a task's samples (--min-agreement, --min-votes); ties,
//                     no majority and unparsed-only tasks are dropped and counted
//   perturbation      BSM: the verdict with the responses in shown order must equal the verdict
//                     with them swapped (samples marked "perturbed"); --both-orders writes the
//                     kept pair in both orders
//   usc               universal self-consistency: the model picks the most consistent sample
//   oracle            keep a task only where a sample's answer equals the label: ABLATIONS ONLY,
//                     marked as such in every example it writes
//   none              no filter: the first sample with a parsed answer (the ablation baseline)
//
// Output (SFT JSONL, the chat-messages form TRL, axolotl and torchtune read):
//   {"id", "messages": [{"role": "user", "content": PROMPT}, {"role": "assistant", "content": FINAL}],
//    "meta": {"method", "filter", "votes", "samples", "agreement", "answer", ...}}
// The user turn is the System 1 prompt of the task's input as the user wrote it (for S2A, the
// biased prompt), see FilterOptions::user_template; the assistant turn is the chosen final
// answer, without the reasoning.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "s2d/engine/backend.h"
#include "s2d/util/option_set.h"

namespace s2d {

struct FilterOptions {
  std::string in_path;   // sample JSONL from `s2d generate`
  std::string out_path;  // SFT JSONL; the summary goes to OUT.summary.json
  std::string by = "self-consistency";
  double min_agreement = 0.5;  // share of a task's samples that must give the majority answer
  int min_votes = 1;           // samples that must give it
  std::string tasks_path;      // labels, for --by oracle
  bool allow_mixed_methods = false;
  // perturbation only: also write each kept pair in the swapped order, its verdict mapped
  // ("[[A]]" <-> "[[B]]"), so that the student sees every verdict in both positions.
  bool both_orders = false;
  std::string usc_template;  // default configs/methods/usc.json
  // The SFT user turn: "system1" renders the input with configs/methods/system1.json (its format
  // hint included), a path renders it with that system1 template, "raw" keeps the input as is.
  std::string user_template = "system1";
  SamplingParams usc_sampling{.max_new_tokens = 32};  // greedy; a USC answer names one sample
};

// The filters' names, as "self-consistency|perturbation|...".
std::string filter_names();

// `s2d filter`'s flags (util/option_set.h); the keys are what decides the examples it keeps.
template <OptionsOf<FilterOptions> O, class F>
void visit_options(O& o, F&& f) {
  f("--by", "by", o.by, filter_names() + " (oracle reads labels, none keeps the first answer: ablations only)");
  f("--in", "", o.in_path, "Sample JSONL from 's2d generate'");
  f("--out", "", o.out_path, "SFT JSONL (chat messages)");
  f("--min-agreement", "min_agreement", o.min_agreement, "Share of samples that must give the majority answer");
  f("--min-votes", "min_votes", o.min_votes, "Samples that must give the majority answer");
  f("--tasks", "", o.tasks_path, "Labelled task file (oracle only)");
  f("--both-orders", "both_orders", o.both_orders,
    "perturbation only: also write each kept pair swapped, its verdict mapped (position-balanced, twice the examples)");
  f("--allow-mixed-methods", "", o.allow_mixed_methods, "Accept samples of several methods in one input");
  f("--template", "usc_template", o.usc_template, "USC template JSON (default configs/methods/usc.json)");
  f("--user-template", "user_template", o.user_template,
    "SFT user turn: system1 (the System 1 prompt eval sends), a system1 template JSON, or raw (the input)");
  f("--max-new-tokens", "usc_max_new_tokens", o.usc_sampling.max_new_tokens, "USC answer length");
}

struct FilterSummary {
  int64_t inputs = 0, kept = 0;              // tasks
  int64_t examples = 0;                      // SFT lines written: kept, or twice that with both_orders
  std::map<std::string, int64_t> dropped;    // reason -> tasks
  std::map<std::string, int64_t> agreement;  // "0.5-0.6" -> tasks
  nlohmann::json to_json(const FilterOptions& o) const;
};

// InputError naming the first bad flag or file: --out against the inputs, --by, --both-orders,
// --min-agreement, the templates, an --in that is not a file. run_filter checks them too; the CLI
// does before it loads a model for usc.
void check_filter_options(const FilterOptions& opts);
// `backend` is needed for --by usc only (may be null otherwise).
FilterSummary run_filter(const FilterOptions& opts, Backend* backend);

}  // namespace s2d
