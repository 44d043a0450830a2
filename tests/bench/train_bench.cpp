// s2d side of scripts/bench/train.sh: training throughput of the Trainer on given token batches.
//   s2d_bench_train (--model DIR | --random-config CONFIG.json) --batches batches.json --steps N
//       [--device auto] [--lora-rank R] [--answer-tokens K] [--layout padded|packed]
//       [--profile TRACE.json] [--graph on|off] [--precision auto|fp32|bf16]
//       [--lora-targets q,k,v,o]
//   (LoRA on q, k, v, o when R > 0, or on the comma-separated --lora-targets)
// batches.json: {"batches": [[[ids...], ...], ...]}: B rows per batch, of any lengths. Every
// token after a row's first is a target, or with --answer-tokens K only each row's last K: the
// SFT shape, a short answer after a long prompt. Rows of unequal length are right-padded to the
// longest (--layout padded, the default) or packed back to back (packed), as `s2d distill` does.
// One warmup step, then N timed steps cycling through the batches. The losses stay on the device
// until the timed steps are queued, as `s2d distill` reads them behind the queue (a read per step
// would wait for each step's backward). --profile: two more steps under torch's profiler, the
// summary (ATen ops per step, the kernels by device time) to stderr, the Chrome trace to the file.
// --graph on: each step replayed as a CUDA graph (captured_train_step.h; padded batches of one
// shape), with its warm-up steps and the capture before the clock starts (off CUDA, eager steps on
// the same buffers, with a warning). --precision: as
// `s2d distill --precision` (trainer.h); bf16 trains bf16 weights with fp32 masters.
// Prints one JSON line: {"engine": "s2d", "s2d packed" or "s2d graph", "tok_s", "seconds", "losses": [...]}
// (tok/s counts real tokens, not padding), plus "mfu" on CUDA (model FLOPs of
// train_flops_per_token over 989 TFLOP/s, H100/H200 dense bf16).
#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "bench_profile.h"
#include "bench_util.h"
#include "s2d/model/checkpoint.h"
#include "s2d/model/device.h"
#include "s2d/model/lora.h"
#include "s2d/train/captured_train_step.h"
#include "s2d/train/trainer.h"
#include "s2d/util/atomic_file.h"

using namespace s2d;

namespace {
// Waits for all the work queued so far: a read queued behind it on the same stream.
void sync_device(const LlamaModel& model) { model.weights().final_norm.sum().item<double>(); }
}  // namespace

int main(int argc, char** argv) try {
  auto arg = [&](const std::string& name, const std::string& dflt) { return bench::arg(argc, argv, name, dflt); };
  std::shared_ptr<LlamaModel> model;
  const int64_t lora_rank = std::stoll(arg("--lora-rank", "0"));
  const c10::Device dev = resolve_device(arg("--device", "auto"));
  const Precision precision = parse_precision(arg("--precision", "auto"));
  // The dtype s2d distill trains from (fp32 masters; a LoRA run's frozen base in bf16 on CUDA;
  // bf16 under --precision bf16).
  const c10::ScalarType weight_dtype = training_weight_dtype(lora_rank > 0, dev, precision);
  if (!arg("--random-config", "").empty()) {
    model = bench::random_model(arg("--random-config", ""), dev, weight_dtype);
  } else {
    model =
        load_model(arg("--model", ""),
                   {.device = arg("--device", "auto"), .dtype = dtype_name(weight_dtype), .require_tokenizer = false})
            .model;
  }
  // alpha = 2r, as hf_train.py configures PEFT
  if (lora_rank > 0) {
    std::vector<std::string> targets;
    std::stringstream list(arg("--lora-targets", "q,k,v,o"));
    for (std::string t; std::getline(list, t, ',');) targets.push_back(t);
    model->set_lora(
        init_lora(model->config(), {.rank = lora_rank, .alpha = 2.0 * lora_rank, .targets = targets}, dev, 0));
  }
  const auto answer_tokens = static_cast<size_t>(std::stoll(arg("--answer-tokens", "0")));
  const std::string layout = arg("--layout", "padded");
  if (layout != "padded" && layout != "packed") throw std::invalid_argument("--layout: padded or packed");
  std::vector<Batch> batches;
  const nlohmann::json doc = nlohmann::json::parse(read_file(arg("--batches", "")));
  for (const auto& jb : doc.at("batches")) {
    std::vector<SftExample> rows;
    std::vector<size_t> order;
    for (const auto& row : jb) {
      SftExample e;
      for (const auto& v : row) e.ids.push_back(v.get<int>());
      // the last `answer_tokens` tokens counted, or all of them (a row's first is never a target)
      const size_t counted = answer_tokens > 0 ? std::min(answer_tokens, e.ids.size() - 1) : e.ids.size();
      e.loss_mask.assign(e.ids.size(), 0);
      std::fill(e.loss_mask.end() - static_cast<std::ptrdiff_t>(counted), e.loss_mask.end(), 1);
      order.push_back(rows.size());
      rows.push_back(std::move(e));
    }
    batches.push_back(make_batch(rows, order, dev, layout == "packed"));
  }
  OptimizerOptions opt;
  opt.lr = 1e-4;
  opt.schedule = "constant";
  Trainer trainer(*model, opt, precision);
  const int steps = std::stoi(arg("--steps", "5"));
  const std::string graph = arg("--graph", "off");
  if (graph != "on" && graph != "off") throw std::invalid_argument("--graph: on or off");
  if (graph == "on" && !CapturedTrainStep::supported(dev))  // as `s2d distill --cuda-graph` does off CUDA
    std::cerr << "warning: --graph on: no CUDA graphs on " << dev
              << ", the steps run eagerly on the captured step's buffers\n";
  std::unique_ptr<CapturedTrainStep> captured;
  if (graph == "on") captured = std::make_unique<CapturedTrainStep>(trainer);
  auto one = [&](const Batch& x) {  // the step's mean loss, on the device
    const at::Tensor sum = captured ? captured->run({x}).loss_sum : trainer.accumulate(x, x.target_tokens);
    if (!captured) trainer.step();
    return sum / static_cast<double>(x.target_tokens);
  };
  // One warmup step, or a captured step's warm-up steps and the capture.
  for (int w = 0; w < (captured ? CapturedTrainStep::kWarmupSteps + 1 : 1); ++w)
    one(batches[static_cast<size_t>(w) % batches.size()]).item<double>();
  std::vector<at::Tensor> queued;
  int64_t tokens = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int s = 0; s < steps; ++s) {
    const Batch& x = batches[static_cast<size_t>(s) % batches.size()];
    queued.push_back(one(x));
    tokens += x.tokens;
  }
  std::vector<double> losses;
  for (const at::Tensor& l : queued) losses.push_back(l.item<double>());
  sync_device(*model);  // the last step's optimizer update, which no loss waits for
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  nlohmann::json out{{"engine", std::string(layout == "packed" ? "s2d packed" : "s2d") + (captured ? " graph" : "") +
                                    (precision == Precision::Bf16 ? " bf16" : "")},
                     {"tok_s", tokens / sec},
                     {"seconds", sec},
                     {"losses", losses}};
  if (dev.is_cuda())
    out["mfu"] = tokens / sec * train_flops_per_token(model->config(), model->lora() != nullptr) / kCudaPeakBf16Flops;
  std::cout << out.dump() << std::endl;
  if (const std::string trace = arg("--profile", ""); !trace.empty())
    bench::profile_run(trace, 2, dev.is_cuda(), [&] {
      for (int s = 0; s < 2; ++s) one(batches[static_cast<size_t>(s) % batches.size()]);
      sync_device(*model);
    });
  return 0;
} catch (const std::exception& e) {
  std::cerr << "s2d_bench_train: " << e.what() << "\n";
  return 1;
}
