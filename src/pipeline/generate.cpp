#include "s2d/pipeline/generate.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>

#include "s2d/methods/answers.h"
#include "s2d/methods/runner.h"
#include "s2d/util/atomic_file.h"
#include "s2d/util/error.h"
#include "s2d/util/json.h"
#include "s2d/util/jsonl.h"
#include "s2d/util/log.h"
#include "s2d/util/progress.h"
#include "s2d/util/resume.h"
#include "s2d/util/strings.h"

namespace s2d {

std::string record_key(const nlohmann::json& r) {
  return unit_key(id_key(r), r.value("sample", -1), r.value("perturbed", false));
}

namespace {

// What a sample was made from, stored in each record: a rerun into the same --out checks that every
// kept sample's task still has that id's input, so that samples of an edited or different tasks
// file (same ids, other questions) are never mixed into the resumed output.
std::string task_fingerprint(const Task& t) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx",
                static_cast<unsigned long long>(fnv1a(t.input + '\x1f' + t.extra.value("response_a", "") + '\x1f' +
                                                      t.extra.value("response_b", ""))));
  return hex;
}

// What decides the samples of a run (the keys of visit_options, the template as resolved, and the
// backend): a rerun into the same --out must have the same, or its samples would be mixed with
// another run's while OUT.run.json claimed one.
nlohmann::json generation_identity(const GenerateOptions& o, const MethodSpec& spec, const Backend& backend) {
  nlohmann::json id = run_identity(o);
  id["template"] = spec.path;
  id["backend"] = backend.identity();
  return id;
}

// Refuses (InputError naming the flags) an existing output made with other generation flags;
// with `overwrite`, empties it instead. Runs before the output is opened.
void check_same_run(const GenerateOptions& o, const nlohmann::json& identity) {
  const std::string run_path = o.out_path + ".run.json";
  std::error_code ec;
  if (!std::filesystem::exists(o.out_path, ec) || std::filesystem::file_size(o.out_path, ec) == 0) return;
  if (o.overwrite) {
    write_file_atomic(o.out_path, "");
    log::warn("--overwrite: emptied " + o.out_path);
    return;
  }
  if (!std::filesystem::exists(run_path, ec)) return;  // samples of unknown origin: keyed and checked as before
  const nlohmann::json prev = parse_json_or_discarded(read_file(run_path));
  const nlohmann::json before = prev.is_object() && prev.contains("generation") ? prev["generation"] : nlohmann::json();
  if (before.is_null()) return;  // written before s2d recorded the generation flags
  if (before != identity) {
    throw_input("the existing output was made with other generation flags",
                {.file = o.out_path,
                 .field = differing_keys(before, identity),
                 .expected = "the flags of " + run_path,
                 .found = "different ones on this command line",
                 .hint = "pass the same flags to resume, --overwrite to start again, or another --out"});
  }
}

}  // namespace

int shard_of(const std::string& task_id, int n) { return static_cast<int>(fnv1a(task_id) % static_cast<uint64_t>(n)); }

std::pair<int, int> parse_shard(const std::string& spec) {
  int i = -1, n = 0;
  char extra = 0;
  if (std::sscanf(spec.c_str(), "%d/%d%c", &i, &n, &extra) != 2 || n < 1 || i < 0 || i >= n)
    throw_input("bad shard", {.field = "--shard", .expected = "i/n with 0 <= i < n, e.g. 0/4", .found = spec});
  return {i, n};
}

namespace {

// The tasks of this run: --prompt as one task, or --tasks (this machine's --shard of it), each
// checked against the method (InputError naming the file and line).
std::vector<Task> read_run_tasks(const GenerateOptions& o) {
  std::vector<Task> tasks;
  if (!o.prompt.empty()) {
    tasks.push_back({.id = "prompt", .input = o.prompt, .task = "prompt"});
  } else {
    if (o.tasks_path.empty())
      throw_input("nothing to generate from", {.field = "--tasks", .hint = "pass --tasks FILE or --prompt TEXT"});
    tasks = read_tasks(o.tasks_path);
  }
  if (!o.shard.empty()) {
    const auto [index, count] = parse_shard(o.shard);
    std::erase_if(tasks, [&](const Task& t) { return shard_of(t.id, count) != index; });
    log::info("shard " + o.shard + ": " + std::to_string(tasks.size()) + " tasks");
  }
  for (const auto& t : tasks) {
    try {
      check_task_for_method(t, o.method);
    } catch (const Error& e) {
      ErrorContext ctx = e.context();
      ctx.file = o.tasks_path;
      ctx.line = t.line;
      throw Error(ErrorKind::Input, e.message(), ctx);
    }
  }
  return tasks;
}

// Claims --out for this run: refuses an output that is an input or was made with other flags,
// locks it, reads what it already holds (refusing samples of other questions under the same ids)
// and writes OUT.run.json. Returns the writer and the units already done.
std::unique_ptr<JsonlWriter> open_output(const GenerateOptions& o, const MethodSpec& spec, const Backend& backend,
                                         const std::map<std::string, std::string>& fingerprint_of, ResumeState& done) {
  const std::vector<std::string> inputs = {o.tasks_path, spec.path};
  check_output_file(o.out_path, inputs);  // before anything is opened for writing
  check_output_file(o.out_path + ".run.json", inputs);
  const nlohmann::json identity = generation_identity(o, spec, backend);
  check_same_run(o, identity);
  auto writer = std::make_unique<JsonlWriter>(o.out_path, /*exclusive=*/true);  // lock before reading
  done = scan_for_resume(o.out_path, [&](const nlohmann::json& r) {
    const auto it = fingerprint_of.find(id_key(r));
    if (it != fingerprint_of.end() && r.contains("task_fingerprint") && r["task_fingerprint"] != it->second)
      throw_input(
          "holds a sample of another question under the same task id",
          {.file = o.out_path,
           .field = "task_fingerprint of task " + it->first,
           .expected = it->second,
           .found = r["task_fingerprint"].get<std::string>(),
           .hint = "the tasks file changed since these samples were made: pass another --out, or delete this one"});
    return record_key(r);
  });
  if (done.dropped_torn_line)
    log::warn("dropped a torn last line in " + o.out_path + " (an interrupted run); it will be redone");
  nlohmann::json prov = o.provenance;
  prov["method"] = o.method;
  prov["template"] = {{"path", spec.path}, {"source", spec.source}};
  prov["seed"] = o.sampling.seed;
  prov["backend"] = backend.describe();
  prov["generation"] = identity;
  write_file_atomic(o.out_path + ".run.json", prov.dump(2) + "\n");
  return writer;
}

// The units still to run, grouped by task (the runner takes a task in flight whole); counts the tasks
// that are already done.
std::vector<std::vector<MethodUnit>> pending_units(const GenerateOptions& o, const std::vector<Task>& tasks,
                                                   const ResumeState& done, GenerateSummary& sum) {
  std::vector<std::vector<MethodUnit>> pending;
  for (const auto& t : tasks) {
    std::vector<MethodUnit> units;
    for (bool swapped : {false, true}) {
      if (swapped && (!o.swap || answer_kind_for_task(t.task) != AnswerKind::Choice)) continue;  // judge tasks only
      for (int i = 0; i < o.samples; ++i)
        if (!done.done.count(unit_key(t.id, i, swapped))) units.push_back({&t, i, swapped});
    }
    if (units.empty()) {
      ++sum.tasks_already_done;
    } else {
      pending.push_back(std::move(units));
    }
  }
  return pending;
}

}  // namespace

MethodSpec check_generate_options(const GenerateOptions& o) {
  check_samples(o.samples);
  check_bsm_merge(o.bsm_merge);
  if (o.chunk_tasks < 0)
    throw_input("bad number of tasks in flight",
                {.field = "--chunk", .expected = ">= 0 (0: fill the batch)", .found = std::to_string(o.chunk_tasks)});
  validate_sampling(o.sampling);
  if (!o.shard.empty()) parse_shard(o.shard);
  const MethodSpec spec = load_method_spec(o.method, o.template_path);
  if (o.prompt.empty() && !o.tasks_path.empty()) require_regular_file(o.tasks_path);
  if (!o.out_path.empty()) check_output_file(o.out_path, {o.tasks_path, spec.path});
  return spec;
}

GenerateSummary run_generate(const GenerateOptions& opts, Backend& backend,
                             const std::function<void(const nlohmann::json&)>& on_record) {
  const MethodSpec spec = check_generate_options(opts);
  if (opts.samples > 1 && opts.sampling.temperature == 0.0)
    log::warn("--samples > 1 with --temperature 0 gives identical greedy samples");
  const std::vector<Task> tasks = read_run_tasks(opts);
  GenerateSummary sum;
  sum.tasks = static_cast<int64_t>(tasks.size());
  std::map<std::string, std::string> fingerprint_of;  // task id -> fingerprint, of this tasks file
  for (const auto& t : tasks) fingerprint_of[t.id] = task_fingerprint(t);
  ResumeState done;
  std::unique_ptr<JsonlWriter> writer;
  if (!opts.out_path.empty()) writer = open_output(opts, spec, backend, fingerprint_of, done);

  const auto pending = pending_units(opts, tasks, done, sum);
  if (sum.tasks_already_done > 0)
    log::info(std::to_string(sum.tasks_already_done) + " of " + std::to_string(sum.tasks) + " tasks already done in " +
              opts.out_path + "; resuming");
  if (pending.empty()) return sum;

  // One run over every pending unit, at most --chunk tasks in flight; each record is one whole
  // line, written as soon as its task is done, so a kill loses at most the tasks in flight.
  std::vector<MethodUnit> units;
  std::map<std::string, size_t> units_left;  // task id -> its records not yet written
  for (const auto& task_units : pending) {
    units.insert(units.end(), task_units.begin(), task_units.end());
    units_left[task_units.front().task->id] = task_units.size();
  }
  const int64_t in_flight =
      opts.chunk_tasks > 0 ? opts.chunk_tasks : tasks_to_fill(backend.decode_slots(), opts.samples, opts.swap, 64);
  MethodRunOptions mopts{opts.sampling, opts.answer_regex, opts.bsm_merge, in_flight};
  Progress progress("generate " + opts.method, static_cast<int64_t>(pending.size()), "tasks");
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t tokens0 = backend.generated_tokens();
  const auto [prefilled0, computed0] = backend.prefilled_and_computed_tokens();
  const int64_t graph_steps0 = backend.graph_steps();
  int64_t tasks_written = 0;
  run_method(spec, units, backend, mopts, [&](nlohmann::json&& rec) {
    const std::string id = rec["id"].get<std::string>();
    rec["task_fingerprint"] = fingerprint_of.at(id);
    if (writer) writer->write(rec);
    if (on_record) on_record(rec);
    ++sum.samples_written;
    sum.prompt_tokens += rec["tokens"]["prompt"].get<int64_t>();
    sum.generated_tokens += rec["tokens"]["generated"].get<int64_t>();
    if (--units_left.at(id) > 0) return;
    const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    char extra[96];
    std::snprintf(extra, sizeof extra, "%lld samples, %.0f tok/s", static_cast<long long>(sum.samples_written),
                  el > 0 ? static_cast<double>(backend.generated_tokens() - tokens0) / el : 0.0);
    progress.set_extra(extra);
    progress.update(++tasks_written);
  });
  progress.finish();
  sum.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto [prefilled, computed] = backend.prefilled_and_computed_tokens();
  sum.prefilled_tokens = prefilled - prefilled0;
  sum.computed_prompt_tokens = computed - computed0;
  sum.graph_steps = backend.graph_steps() - graph_steps0;
  return sum;
}

}  // namespace s2d
