// `s2d generate`: tasks in, sample records out (schema in README "File formats").
// Resumable: records are keyed by (id, sample); a rerun produces only the missing ones, and since
// sample i always draws from sample_seed(task seed, i), the result equals an uninterrupted run.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "s2d/data/task.h"
#include "s2d/engine/backend.h"

namespace s2d {

struct GenerateOptions {
  std::string tasks_path;  // task JSONL, or
  std::string prompt;      // one raw prompt (id "prompt")
  std::string out_path;    // sample JSONL, appended
  std::string method = "system1";
  int samples = 1;
  SamplingParams sampling;  // sampling.seed is the run's seed; each task mixes in its id
};

struct GenerateSummary {
  int64_t tasks = 0, tasks_already_done = 0, samples_written = 0;
  int64_t prompt_tokens = 0, generated_tokens = 0;
  double seconds = 0;
};

// The per-task seed: the run seed mixed with the task id (FNV-1a), independent of file order.
uint64_t task_seed(uint64_t run_seed, const std::string& id);

// Builds the sample record of one completion (DESIGN §2 sample schema).
nlohmann::json sample_record(const Task& task, const std::string& method, const std::string& prompt_text,
                             const CompletionResult& result, const Completion& c);

GenerateSummary run_generate(const GenerateOptions& opts, Backend& backend,
                             const std::function<void(const nlohmann::json&)>& on_record = {});

}  // namespace s2d
