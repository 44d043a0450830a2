// One run under torch's Kineto profiler, for the benchmarks: where a decode step's time goes
// (which kernels, how many ATen ops a step launches) without nsys on the host.
#pragma once

#include <torch/csrc/autograd/profiler_kineto.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace s2d::bench {

// Runs `run` under the profiler (CPU ops; CUDA kernels where a GPU is in use), saves a Chrome trace
// to `trace_path` (chrome://tracing or ui.perfetto.dev), and prints to `out` the ATen ops per
// `steps` (kernel launches bound a small batch's step) and the kernels by device time.
inline void profile_run(const std::string& trace_path, int64_t steps, bool cuda, const std::function<void()>& run,
                        std::ostream& out = std::cerr) {
  namespace prof = torch::autograd::profiler;
  using torch::profiler::impl::ActivityType;
  // Input shapes in the trace: which op of a step an entry is shows in its shapes.
  const torch::profiler::impl::ProfilerConfig config(torch::profiler::impl::ProfilerState::KINETO,
                                                     /*report_input_shapes=*/true);
  std::set<ActivityType> activities = {ActivityType::CPU};
  if (cuda) activities.insert(ActivityType::CUDA);
  prof::prepareProfiler(config, activities);
  prof::enableProfiler(config, activities);
  run();
  const std::unique_ptr<prof::ProfilerResult> result = prof::disableProfiler();
  result->save(trace_path);

  struct Total {
    int64_t count = 0;
    uint64_t ns = 0;
  };
  std::map<std::string, Total> ops, kernels;  // ATen ops by name (count), device work by name (time)
  int64_t n_ops = 0, n_kernels = 0;
  uint64_t device_ns = 0;
  for (const auto& e : result->events()) {
    if (e.deviceType() == c10::DeviceType::CUDA) {
      Total& t = kernels[e.name()];
      ++t.count, ++n_kernels, t.ns += e.durationNs(), device_ns += e.durationNs();
    } else if (e.name().rfind("aten::", 0) == 0) {
      ++ops[e.name()].count, ++n_ops;
    }
  }
  auto top = [](const std::map<std::string, Total>& by_name, bool by_time, size_t n) {
    std::vector<std::pair<std::string, Total>> v(by_name.begin(), by_name.end());
    std::sort(v.begin(), v.end(), [&](const auto& a, const auto& b) {
      return by_time ? a.second.ns > b.second.ns : a.second.count > b.second.count;
    });
    v.resize(std::min(v.size(), n));
    return v;
  };
  const double per = static_cast<double>(std::max<int64_t>(1, steps));
  out << "profile: " << n_ops << " ATen ops (nested ones included), " << static_cast<double>(n_ops) / per
      << " per step over " << steps << " steps; trace in " << trace_path << "\n";
  for (const auto& [name, t] : top(ops, false, 12))
    out << "  " << static_cast<double>(t.count) / per << " x " << name << " per step\n";
  if (!cuda) return;
  out << "profile: " << n_kernels << " device activities (kernels, copies, sets), "
      << static_cast<double>(n_kernels) / per << " per step; device time " << static_cast<double>(device_ns) / 1e6
      << " ms, " << static_cast<double>(device_ns) / 1e6 / per << " ms per step; what took most of it:\n";
  for (const auto& [name, t] : top(kernels, true, 15))
    out << "  " << 100.0 * static_cast<double>(t.ns) / static_cast<double>(std::max<uint64_t>(1, device_ns)) << "% "
        << t.count << " x " << name.substr(0, 110) << "\n";
}

}  // namespace s2d::bench
