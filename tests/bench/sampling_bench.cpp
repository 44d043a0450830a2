// The samplers alone: what a decode step's sampling costs, apart from the model.
// - The device sampler (device_sampling.h): milliseconds per call of sample_on_device on random
//   logits [B, V] in the model's dtype, for greedy rows, for rows at temperature 0.7 with top-p 0.9
//   through the sort, and (on CUDA, where the kernels are built) through the selection kernel of
//   cut_sampling.h.
// - With --host on, the host sampler (sampling.h, the CPU engine's): sample_tokens on fp32 CPU
//   logits, each row with its own generator and the buffers a decode loop keeps: greedy, at temperature 0.7, and at
//   temperature 0.7 with top-p 0.9.
//
//   s2d_bench_sampling [--device auto] [--dtype auto] [--calls 50] [--host off|on]
//
// Prints markdown tables. Each figure: the mean of --calls calls after three warm-up calls (the
// device's queued back to back, synchronised once at the end by copying the last tokens to the host).
#include <c10/core/InferenceMode.h>

#include <chrono>
#include <cstdio>
#include <vector>

#include "bench_util.h"
#include "s2d/engine/device_sampling.h"
#include "s2d/engine/sampling.h"
#include "s2d/model/device.h"
#include "s2d/model/fused_cuda_ops.h"

using namespace s2d;
using s2d::bench::arg;

namespace {

double ms_per_call(const at::Tensor& logits, const DeviceSamplingRows& rows, int calls) {
  for (int i = 0; i < 3; ++i) sample_on_device(logits, rows).cpu();
  const auto t0 = std::chrono::steady_clock::now();
  at::Tensor last;
  for (int i = 0; i < calls; ++i) last = sample_on_device(logits, rows);
  last.cpu();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / calls;
}

// The host sampler: rows of N(0, 3^2) logits, as the device table's; then top-p over flat rows,
// N(0, 0.5^2), where the nucleus holds most of the row (a random model's logits, a high temperature).
void host_sampler_table(int calls) {
  std::printf(
      "\n| batch | vocabulary | host greedy ms | host temperature 0.7 ms | host top-p 0.9 ms | host top-p 0.9, flat "
      "rows ms |\n|---|---|---|---|---|---|\n");
  SamplingParams greedy, hot, topp;
  hot.temperature = 0.7;
  topp.temperature = 0.7, topp.top_p = 0.9;
  for (const int64_t V : {32000, 49152, 128256})
    for (const int64_t B : {1, 32, 64}) {
      at::manual_seed(0);
      const at::Tensor logits = at::randn({B, V}) * 3;
      std::vector<at::Generator> gens;
      std::vector<at::Generator*> gen_ptrs;
      for (int64_t b = 0; b < B; ++b) gens.push_back(make_cpu_generator(static_cast<uint64_t>(b)));
      for (auto& g : gens) gen_ptrs.push_back(&g);
      const at::Tensor flat = logits / 6;
      auto ms = [&](const SamplingParams& p, const at::Tensor& rows) {
        const std::vector<const SamplingParams*> params(static_cast<size_t>(B), &p);
        SamplingScratch scratch;  // a decode loop's, kept across its steps
        for (int i = 0; i < 3; ++i) sample_tokens(rows, params, gen_ptrs, &scratch);
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < calls; ++i) sample_tokens(rows, params, gen_ptrs, &scratch);
        return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / calls;
      };
      const double g = ms(greedy, logits), h = ms(hot, logits), t = ms(topp, logits), f = ms(topp, flat);
      std::printf("| %lld | %lld | %.3f | %.3f | %.3f | %.3f |\n", static_cast<long long>(B), static_cast<long long>(V),
                  g, h, t, f);
    }
}

}  // namespace

int main(int argc, char** argv) try {
  c10::InferenceMode inference;
  const c10::Device dev = resolve_device(arg(argc, argv, "--device", "auto"));
  const auto dtype = resolve_dtype(arg(argc, argv, "--dtype", "auto"), dev);
  const int calls = std::stoi(arg(argc, argv, "--calls", "50"));
  const bool kernel = dev.is_cuda() && cuda_fused_kernels_built();
  std::printf(
      "| batch | vocabulary | greedy ms | top-p 0.9, sort ms | top-p 0.9, selection kernel ms | kernel / sort |\n");
  std::printf("|---|---|---|---|---|---|\n");
  SamplingParams greedy, topp;
  topp.temperature = 0.7, topp.top_p = 0.9;
  for (const int64_t V : {32000, 128256})
    for (const int64_t B : {1, 64}) {
      at::manual_seed(0);
      const at::Tensor logits = (at::randn({B, V}, at::TensorOptions().device(dev)) * 3).to(dtype);
      std::vector<uint64_t> keys(static_cast<size_t>(B));
      for (size_t i = 0; i < keys.size(); ++i) keys[i] = sample_seed(1, static_cast<int>(i));
      const std::vector<int64_t> draws(static_cast<size_t>(B), 0);
      auto rows_of = [&](const SamplingParams& p) {
        return device_sampling_rows(std::vector<const SamplingParams*>(static_cast<size_t>(B), &p), keys, draws, V,
                                    dev);
      };
      const double g = ms_per_call(logits, rows_of(greedy), calls);
      set_cuda_fused_kernels(false);
      const double sorted = ms_per_call(logits, rows_of(topp), calls);
      double selected = 0;
      if (kernel) {
        set_cuda_fused_kernels(true);
        selected = ms_per_call(logits, rows_of(topp), calls);
        set_cuda_fused_kernels(false);
      }
      if (kernel)
        std::printf("| %lld | %lld | %.3f | %.3f | %.3f | %.2f |\n", static_cast<long long>(B),
                    static_cast<long long>(V), g, sorted, selected, selected / sorted);
      else
        std::printf("| %lld | %lld | %.3f | %.3f | (not built here) | |\n", static_cast<long long>(B),
                    static_cast<long long>(V), g, sorted);
    }
  if (arg(argc, argv, "--host", "off") == "on") host_sampler_table(calls);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "s2d_bench_sampling: %s\n", e.what());
  return 1;
}
