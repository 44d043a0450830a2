#include "s2d/engine/decode_graphs.h"

#include <ATen/ATen.h>

#include <array>

#include "s2d/model/async_transfer.h"
#include "s2d/model/capture_audit.h"
#include "s2d/model/graph_memory.h"
#include "s2d/util/env_switch.h"
#include "s2d/util/error.h"
#include "s2d/version.h"

namespace s2d {

bool DecodeGraphs::switched_on() {
  static EnvSwitch on("S2D_CUDA_GRAPHS");
  return on.on();
}

#if S2D_HAS_CUDA_BUILD
bool DecodeGraphs::supported(const c10::Device& device) { return device.is_cuda(); }
#else
bool DecodeGraphs::supported(const c10::Device&) { return false; }
#endif

bool DecodeGraphs::applies(const c10::Device& device) {
  return supported(device) || (device.is_cpu() && graphs_emulated_on_cpu());
}

struct DecodeGraphs::Impl {
  Impl(const LlamaModel& m, KVCache c, at::Tensor t, int64_t w, std::shared_ptr<GraphMemory> g)
      : model(m), cache(std::move(c)), tokens(std::move(t)), width(w), memory(g ? std::move(g) : make_graph_memory()) {}

  const LlamaModel& model;
  KVCache cache;      // views of the engine's cache
  at::Tensor tokens;  // [n] int64, the caller's
  int64_t width;
  std::shared_ptr<GraphMemory> memory;  // never null
  at::Tensor lens, floats, ints;        // [n] int64, [2, n] fp32, [5, n] int64: what the graphs read
  // Indexed by SamplingPaths::index(): each path combination's output, [n] int64, which every
  // step with that combination overwrites.
  std::array<at::Tensor, 8> drawn;
  std::array<CaptureAudit, 8> audits;  // emulated on the CPU: what each graph would capture

  // The step itself, on the buffers: what is captured.
  at::Tensor run_step(const SamplingPaths& paths) {
    at::Tensor logits = model.decode_slots(tokens, lens, cache, width);  // [n, V]
    return sample_on_device(logits, sampling_rows_on_device(floats, ints, paths));
  }

#if S2D_HAS_CUDA_BUILD
  std::array<std::unique_ptr<at::cuda::CUDAGraph>, 8> graphs;

  // Captures the graph for `paths` on the shared side stream, after one eager warm-up run there
  // that lets cuBLAS and the allocator set up outside the capture. The buffers already hold this
  // step's inputs, so the warm-up's writes (the cache column each slot writes) are the ones the
  // replay then writes again.
  void capture(const SamplingPaths& paths) {
    const OnSideStream on_side(*memory);
    run_step(paths);
    graphs[paths.index()] =
        memory->capture(cudaStreamCaptureModeThreadLocal, [&] { drawn[paths.index()] = run_step(paths); });
  }

  // Replays the graph for `paths`, capturing it first where this is its first step.
  void replay(const SamplingPaths& paths) {
    const int kind = paths.index();
    if (!graphs[kind]) capture(paths);  // the warm-up run and the capture; the replay below is the step
    graphs[kind]->replay();
  }
#endif
};

DecodeGraphs::DecodeGraphs(const LlamaModel& model, KVCache cache, at::Tensor tokens, int64_t width,
                           std::shared_ptr<GraphMemory> memory) {
  if (!applies(tokens.device()))
    throw_runtime("CUDA graphs need a CUDA build of s2d and a CUDA device",
                  {.expected = "a build against CUDA libtorch", .found = tokens.device().str()});
  impl_ = std::make_unique<Impl>(model, std::move(cache), tokens, width, std::move(memory));
  const int64_t n = tokens.size(0);
  const auto on = tokens.options();
  impl_->lens = at::zeros({n}, on);
  impl_->floats = at::zeros({2, n}, on.dtype(at::kFloat));
  impl_->ints = at::zeros({5, n}, on);
}

DecodeGraphs::~DecodeGraphs() = default;

at::Tensor DecodeGraphs::step(const std::vector<int64_t>& lens, const HostSamplingRows& rows) {
  Impl& m = *impl_;
  upload_into(m.lens, lens);
  upload_into(m.floats, rows.floats);
  upload_into(m.ints, rows.ints);
  const int kind = rows.paths.index();
#if S2D_HAS_CUDA_BUILD
  if (supported(m.tokens.device())) {
    m.replay(rows.paths);
    return m.drawn[kind];
  }
#endif
  // Emulated (a CPU test): the same step eagerly on the same buffers, its tokens written into the
  // buffer the next step of this kind overwrites, as a replay would. A kind's first step is the
  // warm-up run and the capture's, as on a GPU; each later one must dispatch what the capture did.
  at::Tensor drawn;
  const auto run = [&] { drawn = m.run_step(rows.paths); };
  CaptureAudit& audit = m.audits[kind];
  if (!audit.captured()) run();  // the warm-up
  audit.capture_or_replay(run);
  if (!m.drawn[kind].defined()) m.drawn[kind] = at::empty_like(drawn);
  m.drawn[kind].copy_(drawn);
  return m.drawn[kind];
}

}  // namespace s2d
