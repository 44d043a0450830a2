// Runs a System 2 method (or System 1) over many (task, sample) units through a Backend.
//
// Batching across everything: one backend call holds the requests of every task in flight, each
// unit's next step joins it as soon as its previous step answered, and the next task as soon as one
// is done (MethodContext::run), so throughput never depends on one task at a time nor waits for
// the slowest unit of a step. Units whose prompts are
// identical (all samples of a task at its first step) form one request with n samples and share a
// prefill.
// Every step is recorded (prompt, output, token counts); a step whose output cannot be parsed
// is marked "parsed": false and the unit ends with "answer": null. Nothing here throws on model
// output.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "s2d/data/task.h"
#include "s2d/engine/backend.h"
#include "s2d/methods/method_spec.h"

namespace s2d {

struct MethodRunOptions {
  SamplingParams sampling;             // per step; sampling.seed is the run seed
  std::string answer_regex;            // overrides task-aware answer extraction
  std::string bsm_merge = "symbolic";  // bsm: symbolic (sum of scores) | llm
  // Tasks whose units are in the backend at once, at most; 0: all. A finished task's place goes
  // to the next one at once. Bounds the memory of the requests in flight, and what a kill loses.
  int64_t tasks_in_flight = 0;
};

// The most samples of one task a run takes (--samples): a run holds every unit of its tasks, and
// no vote over samples needs more.
inline constexpr int kMaxSamplesPerTask = 1024;
// InputError naming --samples unless 1 <= samples <= kMaxSamplesPerTask.
void check_samples(int samples);
// InputError naming --merge unless it is "symbolic" or "llm" (BSM's merge step).
void check_bsm_merge(const std::string& merge);

// Tasks to keep in flight so that a backend with `decode_slots` slots stays busy: twice the slots'
// worth of units (a unit between two steps holds no slot, and a task's units end at different
// times), and at least `at_least` (where the backend cannot tell its slots, as over HTTP). A task
// has `samples` units, twice that where `swapped` adds each choice task's swapped copy.
int64_t tasks_to_fill(int64_t decode_slots, int samples, bool swapped, int64_t at_least);

struct MethodUnit {
  const Task* task = nullptr;
  int sample = 0;
  bool swapped = false;  // bsm: responses A and B exchanged (a perturbed sample of the same id)
};

// Checks that `task` has what `method` needs (bsm: question, response_a, response_b strings).
// InputError naming the task id and field.
void check_task_for_method(const Task& task, const std::string& method);

// Record key used for resume: "id#sample" plus "#swap" for perturbed samples.
std::string unit_key(const std::string& id, int sample, bool swapped);

// Universal self-consistency's prompt: the question and each response's final text, numbered
// "Response 1: ...", one per line (filter --by usc, and the toy corpus that teaches it).
std::string render_usc_prompt(const MethodSpec& usc, const std::string& question,
                              const std::vector<std::string>& finals);

// Runs every unit and hands each unit's record to `on_record` as soon as every unit of its task is
// done: a task's records together, in the order of `units`; tasks in the order they finish. A
// task's units must be next to each other in `units`.
void run_method(const MethodSpec& spec, const std::vector<MethodUnit>& units, Backend& backend,
                const MethodRunOptions& opts, const std::function<void(nlohmann::json&&)>& on_record);

}  // namespace s2d
