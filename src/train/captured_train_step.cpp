#include "s2d/train/captured_train_step.h"

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>

#include "s2d/model/capture_audit.h"
#include "s2d/model/graph_memory.h"
#include "s2d/util/error.h"
#include "s2d/version.h"

#if S2D_HAS_CUDA_BUILD
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace s2d {

namespace {

// Autocast's cache of weight casts off for the warm-up and the capture: torch documents that a
// cached cast made inside a capture would outlive its memory (torch.cuda.graph's notes). A
// cast's bits do not depend on the cache.
struct AutocastCacheOff {
  AutocastCacheOff() : was_(at::autocast::is_autocast_cache_enabled()) {
    at::autocast::set_autocast_cache_enabled(false);
  }
  ~AutocastCacheOff() { at::autocast::set_autocast_cache_enabled(was_); }
  bool was_;
};

void expect_shape(const char* field, const at::Tensor& fixed, const at::Tensor& given) {
  if (fixed.sizes() != given.sizes())
    throw_input("a captured training step replays one batch shape",
                {.field = field, .expected = c10::str(fixed.sizes()), .found = c10::str(given.sizes())});
}

}  // namespace

struct CapturedTrainStep::Impl {
  Trainer& trainer;
  std::shared_ptr<GraphMemory> memory;  // never null
  // What every step reads: each micro-batch's ids [B, T], predict_rows [N] and targets [N]
  // (padded layout), the step's target count and the learning rate (0-dim fp32).
  std::vector<Batch> fixed;
  at::Tensor tokens, lr;
  int steps_run = 0;
  Result outputs;      // the captured step's, overwritten by every replay
  CaptureAudit audit;  // emulated on the CPU: what the graph would capture
#if S2D_HAS_CUDA_BUILD
  std::unique_ptr<at::cuda::CUDAGraph> graph;
#endif

  // Copies the micro-batches into the buffers (made on the first call, with their shapes). All
  // checks come before the first copy, so that a refused step changes nothing.
  void load(const std::vector<Batch>& micro) {
    if (micro.empty()) throw_runtime("a captured training step needs at least one micro-batch");
    for (const Batch& b : micro)
      if (!b.lengths.empty())
        throw_input("a captured training step takes the padded layout",
                    {.field = "batch", .expected = "padded rows", .found = "a packed batch"});
    if (!fixed.empty() && fixed.size() != micro.size())
      throw_input(
          "a captured training step replays one count of micro-batches",
          {.field = "micro-batches", .expected = std::to_string(fixed.size()), .found = std::to_string(micro.size())});
    for (size_t k = 0; k < fixed.size(); ++k) {
      expect_shape("ids", fixed[k].ids, micro[k].ids);
      expect_shape("predict_rows", fixed[k].predict_rows, micro[k].predict_rows);
    }
    int64_t counted = 0;
    for (size_t k = 0; k < micro.size(); ++k) {
      const Batch& b = micro[k];
      counted += b.target_tokens;
      if (fixed.size() == k) {
        Batch f;
        f.ids = b.ids.clone();
        f.predict_rows = b.predict_rows.clone();
        f.targets = b.targets.clone();
        fixed.push_back(std::move(f));
        continue;
      }
      fixed[k].ids.copy_(b.ids);
      fixed[k].predict_rows.copy_(b.predict_rows);
      fixed[k].targets.copy_(b.targets);
    }
    if (!tokens.defined()) {
      const auto f32 = at::TensorOptions().dtype(at::kFloat).device(micro.front().ids.device());
      tokens = at::zeros({}, f32);
      lr = at::zeros({}, f32);
    }
    tokens.fill_(static_cast<double>(std::max<int64_t>(1, counted)));
  }

  // The step itself, on the buffers: what is captured.
  Result step_on_buffers() {
    at::Tensor loss;
    for (const Batch& b : fixed) {
      at::Tensor l = trainer.accumulate(b, tokens);
      loss = loss.defined() ? loss + l : l;
    }
    return {loss, trainer.step_on_device(lr)};
  }

#if S2D_HAS_CUDA_BUILD
  // A warm-up step, or the capture, on the shared side stream, ordered after and before the
  // current stream's work.
  Result on_side_stream(bool capture) {
    const OnSideStream on_side(*memory);
    const AutocastCacheOff no_cache;
    if (!capture) return step_on_buffers();
    // The warm-up's activations sit free in the allocator's cache, which the capture cannot use
    // (it allocates in the graph's own pool): handed back first, or a model that fills most of
    // the GPU would hold them twice.
    on_side.side().synchronize();
    c10::cuda::CUDACachingAllocator::emptyCache();
    // Global mode, torch.cuda.graph's default: the backward runs on autograd's device thread.
    graph = memory->capture(cudaStreamCaptureModeGlobal, [&] { outputs = step_on_buffers(); });
    return {};
  }
#endif
};

#if S2D_HAS_CUDA_BUILD
bool CapturedTrainStep::supported(const c10::Device& device) { return device.is_cuda(); }
#else
bool CapturedTrainStep::supported(const c10::Device&) { return false; }
#endif

CapturedTrainStep::CapturedTrainStep(Trainer& trainer, std::shared_ptr<GraphMemory> memory)
    : impl_(new Impl{trainer, memory ? std::move(memory) : make_graph_memory(), {}, {}, {}, 0, {}}) {}

CapturedTrainStep::~CapturedTrainStep() = default;

bool CapturedTrainStep::captured() const {
#if S2D_HAS_CUDA_BUILD
  return impl_->graph != nullptr;
#else
  return false;
#endif
}

CapturedTrainStep::Result CapturedTrainStep::run(const std::vector<Batch>& micro) {
  Impl& m = *impl_;
  m.load(micro);
  m.trainer.begin_device_step(m.lr);
  ++m.steps_run;
#if S2D_HAS_CUDA_BUILD
  if (supported(m.tokens.device())) {
    if (m.steps_run <= kWarmupSteps) {
      const Result r = m.on_side_stream(/*capture=*/false);
      return {r.loss_sum.clone(), r.grad_norm.clone()};  // made on the current stream, which reads them
    }
    if (!m.graph) m.on_side_stream(/*capture=*/true);  // records the step; the replay below runs it
    m.graph->replay();
    return {m.outputs.loss_sum.clone(), m.outputs.grad_norm.clone()};  // the next replay overwrites them
  }
#endif
  if (m.steps_run <= kWarmupSteps || !graphs_emulated_on_cpu()) return m.step_on_buffers();
  // Emulated (a CPU test): the step after the warm-up is the capture, each later one a replay.
  Result r;
  const auto run = [&] { r = m.step_on_buffers(); };
  m.audit.capture_or_replay(run);
  return r;
}

}  // namespace s2d
