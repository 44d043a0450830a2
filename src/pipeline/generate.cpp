#include "s2d/pipeline/generate.h"

#include <chrono>
#include <map>

#include "s2d/util/error.h"
#include "s2d/util/jsonl.h"
#include "s2d/util/log.h"
#include "s2d/util/progress.h"
#include "s2d/util/resume.h"

namespace s2d {

namespace {

std::string record_key(const nlohmann::json& r) { return id_key(r) + "#" + std::to_string(r.value("sample", -1)); }

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\n\r");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\n\r") - b + 1);
}

}  // namespace

uint64_t task_seed(uint64_t run_seed, const std::string& id) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a 64
  for (unsigned char c : id) h = (h ^ c) * 1099511628211ULL;
  return sample_seed(run_seed ^ h, -1);
}

nlohmann::json sample_record(const Task& task, const std::string& method, const std::string& prompt_text,
                             const CompletionResult& result, const Completion& c) {
  const std::string final_text = trim(c.text);
  nlohmann::json step = {{"name", "answer"},
                         {"prompt", prompt_text},
                         {"output", c.text},
                         {"prompt_tokens", result.prompt_tokens},
                         {"generated_tokens", c.generated_tokens},
                         {"finish_reason", c.finish_reason}};
  return {{"id", task.id},
          {"task", task.task},
          {"method", method},
          {"sample", c.sample},
          {"steps", nlohmann::json::array({step})},
          {"final", final_text},
          {"answer", final_text},
          {"tokens", {{"prompt", result.prompt_tokens}, {"generated", c.generated_tokens}}},
          {"seconds", result.seconds}};
}

GenerateSummary run_generate(const GenerateOptions& opts, Backend& backend,
                             const std::function<void(const nlohmann::json&)>& on_record) {
  if (opts.method != "system1") {
    throw_input("method not available in this build", {.field = "--method", .expected = "system1",
                                                       .found = opts.method, .hint = "cot, rar1, rar2, s2a, bsm arrive with issue #5"});
  }
  if (opts.samples < 1) throw_input("need at least one sample", {.field = "--samples", .expected = ">= 1", .found = std::to_string(opts.samples)});
  validate_sampling(opts.sampling);
  if (opts.samples > 1 && opts.sampling.temperature == 0.0) {
    log::warn("--samples > 1 with --temperature 0 gives identical greedy samples");
  }

  std::vector<Task> tasks;
  if (!opts.prompt.empty()) {
    tasks.push_back({.id = "prompt", .input = opts.prompt, .task = "prompt"});
  } else {
    if (opts.tasks_path.empty()) throw_input("nothing to generate from", {.field = "--tasks", .hint = "pass --tasks FILE or --prompt TEXT"});
    tasks = read_tasks(opts.tasks_path);
  }

  GenerateSummary sum;
  sum.tasks = static_cast<int64_t>(tasks.size());
  ResumeState done;
  std::unique_ptr<JsonlWriter> writer;
  if (!opts.out_path.empty()) {
    writer = std::make_unique<JsonlWriter>(opts.out_path, /*exclusive=*/true);  // lock before reading
    done = scan_for_resume(opts.out_path, record_key);
    if (done.dropped_torn_line) log::warn("dropped a torn last line in " + opts.out_path + " (an interrupted run); it will be redone");
  }

  std::vector<CompletionRequest> reqs;
  std::map<std::string, const Task*> by_id;
  for (const auto& t : tasks) {
    CompletionRequest r;
    r.id = t.id;
    r.messages = {{"user", t.input}};
    r.sampling = opts.sampling;
    r.sampling.seed = task_seed(opts.sampling.seed, t.id);
    r.samples.clear();
    for (int i = 0; i < opts.samples; ++i)
      if (!done.done.count(t.id + "#" + std::to_string(i))) r.samples.push_back(i);
    if (r.samples.empty()) {
      ++sum.tasks_already_done;
      continue;
    }
    by_id[t.id] = &t;
    reqs.push_back(std::move(r));
  }
  if (sum.tasks_already_done > 0)
    log::info(std::to_string(sum.tasks_already_done) + " of " + std::to_string(sum.tasks) + " tasks already done in " +
              opts.out_path + "; resuming");
  if (reqs.empty()) return sum;

  Progress progress("generate", static_cast<int64_t>(reqs.size()), "tasks");
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t tokens0 = backend.generated_tokens();
  backend.complete(reqs, [&](CompletionResult&& res) {
    const Task& task = *by_id.at(res.id);
    for (const auto& c : res.choices) {
      nlohmann::json rec = sample_record(task, opts.method, task.input, res, c);
      if (writer) writer->write(rec);  // one whole line per sample
      if (on_record) on_record(rec);
      ++sum.samples_written;
      sum.generated_tokens += c.generated_tokens;
    }
    sum.prompt_tokens += res.prompt_tokens;
    const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    char extra[64];
    std::snprintf(extra, sizeof extra, "%.0f tok/s", el > 0 ? (backend.generated_tokens() - tokens0) / el : 0.0);
    progress.set_extra(extra);
    progress.advance();
  });
  progress.finish();
  sum.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return sum;
}

}  // namespace s2d
