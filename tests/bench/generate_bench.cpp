// s2d side of scripts/bench/generate.sh: generation throughput of the engine on given prompt token
// ids (greedy unless --temperature), for comparison with HF transformers on the same weights and ids.
//
//   s2d_bench_generate (--model DIR | --random-config CONFIG.json) --tokenizer tokenizer.model
//       --prompts prompts.json --batch B --new-tokens N [--device auto] [--dtype auto]
//       [--repeat 3] [--width auto|narrow|full] [--sampler auto|host|device] [--graphs off|on]
//       [--temperature 0 --top-p 1] [--profile TRACE.json]
//
// prompts.json: {"prompts": [[ids...], ...]} (at least B rows). Prints one JSON line:
// {"batch", "new_tokens", "seconds", "tok_s", "tokens": [[first row's generated ids]]}.
// Timing covers prefill + decode (what HF's generate() also covers); best of --repeat after a
// warmup run of the same shapes. Also reported: prefill_s, the best of --repeat runs that stop
// after the first new token (the prefill and one sampling), and decode_ms, the rest of the best
// full run per decode step: (seconds - prefill_s) / (new_tokens - 1). --profile: one more full run
// under torch's profiler, its Chrome trace to TRACE.json and a summary (ATen ops per step, the
// kernels by device time) to stderr.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "bench_profile.h"
#include "bench_util.h"
#include "s2d/engine/generator.h"
#include "s2d/model/checkpoint.h"
#include "s2d/model/device.h"
#include "s2d/model/weight_names.h"
#include "s2d/util/atomic_file.h"

using namespace s2d;

using s2d::bench::arg;
using s2d::bench::random_model;

int main(int argc, char** argv) try {
  c10::InferenceMode inference;
  const std::string device = arg(argc, argv, "--device", "auto"), dtype = arg(argc, argv, "--dtype", "auto");
  std::shared_ptr<LlamaModel> model;
  if (!arg(argc, argv, "--random-config").empty()) {
    const auto dev = resolve_device(device);
    model = random_model(arg(argc, argv, "--random-config"), dev, resolve_dtype(dtype, dev));
  } else {
    model =
        load_model(arg(argc, argv, "--model"), {.device = device, .dtype = dtype, .require_tokenizer = false}).model;
  }
  const Tokenizer tok = Tokenizer::load(arg(argc, argv, "--tokenizer"));
  const auto prompts = nlohmann::json::parse(read_file(arg(argc, argv, "--prompts")))["prompts"];
  const int64_t batch = std::stoll(arg(argc, argv, "--batch", "1"));
  const int64_t new_tokens = std::stoll(arg(argc, argv, "--new-tokens", "128"));
  const int repeat = std::stoi(arg(argc, argv, "--repeat", "3"));
  // Greedy by default; the paper's sampling workload is --temperature 0.7 --top-p 0.9.
  const double temperature = std::stod(arg(argc, argv, "--temperature", "0"));
  const double top_p = std::stod(arg(argc, argv, "--top-p", "1"));

  auto requests = [&](int64_t n_new) {
    std::vector<GenRequest> reqs;
    for (int64_t b = 0; b < batch; ++b) {
      GenRequest r;
      r.prompt_ids = prompts.at(static_cast<size_t>(b)).get<std::vector<int>>();
      r.sampling.max_new_tokens = n_new;
      r.sampling.ignore_eos = true;  // like HF's min_new_tokens: every row runs the full length
      r.sampling.temperature = temperature;
      r.sampling.top_p = top_p;
      r.sampling.seed = static_cast<uint64_t>(b);
      reqs.push_back(std::move(r));
    }
    return reqs;
  };
  const std::string width = arg(argc, argv, "--width", "auto");  // auto | narrow | full
  const auto w = width == "narrow" ? EngineOptions::Width::Narrow
                 : width == "full" ? EngineOptions::Width::Full
                                   : EngineOptions::Width::Auto;
  const std::string sampler = arg(argc, argv, "--sampler", "auto");  // auto | host | device
  const auto sm = sampler == "host"     ? EngineOptions::Sampler::Host
                  : sampler == "device" ? EngineOptions::Sampler::Device
                                        : EngineOptions::Sampler::Auto;
  const bool graphs = arg(argc, argv, "--graphs", "off") == "on";
  Generator gen(*model, tok, {.batch_size = batch, .width = w, .sampler = sm, .cuda_graphs = graphs});
  std::vector<int> first_row;
  gen.run(requests(new_tokens), [](GenResult&&) {});  // warmup at the same shapes: allocator, kernels, pools
  auto best_of = [&](int64_t n_new) {
    double best = 1e30;
    for (int i = 0; i < repeat; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      gen.run(requests(n_new), [&](GenResult&& r) {
        if (r.index == 0 && n_new == new_tokens) first_row = r.samples[0].tokens;
      });
      best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    return best;
  };
  const double best = best_of(new_tokens), prefill = best_of(1);
  nlohmann::json out = {
      {"engine", "s2d"},
      {"batch", batch},
      {"new_tokens", new_tokens},
      {"seconds", best},
      {"tok_s", static_cast<double>(batch * new_tokens) / best},
      {"prefill_s", prefill},
      {"decode_ms", 1e3 * (best - prefill) / static_cast<double>(std::max<int64_t>(1, new_tokens - 1))},
      {"tokens", {first_row}},
      {"device", model->options().device().str()},
      {"width", width},
      {"sampler", sampler},
      {"cuda_graphs", graphs},
      {"graph_steps", gen.graph_steps()},  // steps replayed as graphs (emulated on the CPU in a rehearsal)
      {"temperature", temperature},
      {"top_p", top_p}};
  std::cout << out.dump() << std::endl;
  // One more full run under the profiler: its summary to stderr, its trace to the file.
  if (const std::string trace = arg(argc, argv, "--profile"); !trace.empty())
    s2d::bench::profile_run(trace, new_tokens, model->options().device().is_cuda(),
                            [&] { gen.run(requests(new_tokens), [](GenResult&&) {}); });
  return 0;
} catch (const std::exception& e) {
  std::cerr << "s2d_bench_generate: " << e.what() << "\n";
  return 1;
}
