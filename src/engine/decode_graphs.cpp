#include "s2d/engine/decode_graphs.h"

#include <ATen/ATen.h>

#include <array>
#include <optional>

#include "s2d/model/async_transfer.h"
#include "s2d/util/env_switch.h"
#include "s2d/util/error.h"
#include "s2d/version.h"

#if S2D_HAS_CUDA_BUILD
#include <ATen/cuda/CUDAGraph.h>
#include <c10/core/Event.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace s2d {

bool DecodeGraphs::switched_on() {
  static EnvSwitch on("S2D_CUDA_GRAPHS");
  return on.on();
}

#if S2D_HAS_CUDA_BUILD

struct DecodeGraphs::Impl {
  const LlamaModel& model;
  KVCache& cache;
  at::Tensor tokens;  // [n] int64, the caller's
  int64_t width;
  at::Tensor lens, floats, ints;  // [n] int64, [2, n] fp32, [5, n] int64: what the graphs read
  // Indexed by SamplingPaths::index().
  std::array<std::unique_ptr<at::cuda::CUDAGraph>, 8> graphs;
  std::array<at::Tensor, 8> drawn;  // each graph's output, [n] int64
  std::optional<c10::MempoolId_t> pool;

  // The step itself, on the buffers: what is captured.
  at::Tensor run_step(const SamplingPaths& paths) {
    at::Tensor logits = model.decode_slots(tokens, lens, cache, width);  // [n, V]
    return sample_on_device(logits, sampling_rows_on_device(floats, ints, paths));
  }

  // Captures the graph for `paths` on a side stream (CUDA graphs cannot capture the legacy
  // default stream), after one eager warm-up run there that lets cuBLAS and the allocator set up
  // outside the capture. The buffers already hold this step's inputs, so the warm-up's writes
  // (the cache column each slot writes) are the ones the replay then writes again.
  void capture(const SamplingPaths& paths) {
    const c10::cuda::CUDAStream current = c10::cuda::getCurrentCUDAStream();
    const c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool();
    c10::Event ready(c10::DeviceType::CUDA), done(c10::DeviceType::CUDA);
    ready.record(current);
    ready.block(side);
    {
      const c10::cuda::CUDAStreamGuard on_side(side);
      run_step(paths);
      auto g = std::make_unique<at::cuda::CUDAGraph>();
      g->capture_begin(pool.value_or(c10::MempoolId_t{0, 0}), cudaStreamCaptureModeThreadLocal);
      drawn[paths.index()] = run_step(paths);
      g->capture_end();
      if (!pool) pool = g->pool();
      graphs[paths.index()] = std::move(g);
    }
    done.record(side);
    done.block(current);
  }
};

bool DecodeGraphs::supported(const c10::Device& device) { return device.is_cuda(); }

DecodeGraphs::DecodeGraphs(const LlamaModel& model, KVCache& cache, at::Tensor tokens, int64_t width)
    : impl_(new Impl{model, cache, tokens, width, {}, {}, {}, {}, {}, {}}) {
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
  if (!m.graphs[kind]) m.capture(rows.paths);  // the warm-up run and the capture; the replay below is the step
  m.graphs[kind]->replay();
  return m.drawn[kind];
}

#else  // a CPU build: no graphs

struct DecodeGraphs::Impl {};

bool DecodeGraphs::supported(const c10::Device&) { return false; }

DecodeGraphs::DecodeGraphs(const LlamaModel&, KVCache&, at::Tensor, int64_t) {
  throw_runtime("CUDA graphs need a CUDA build of s2d", {.expected = "a build against CUDA libtorch"});
}

DecodeGraphs::~DecodeGraphs() = default;

at::Tensor DecodeGraphs::step(const std::vector<int64_t>&, const HostSamplingRows&) { return {}; }

#endif

}  // namespace s2d
