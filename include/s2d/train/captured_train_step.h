// A training step replayed as a CUDA graph: its micro-batches' forwards and backwards, clipping
// and AdamW, captured once and then replayed with one launch, where eagerly TinyLlama's step issues
// an estimated 12,000 ATen ops from the host (docs/notes/gpu-speed.md). It pays only where the
// host, not the device, bounds the step.
//
// A graph replays its kernels on the addresses it captured, so everything a step reads that
// changes between steps lives in a fixed device buffer refilled before each replay: the ids, the
// rows that predict a target and the targets, the target count, and the learning rate
// (Trainer::begin_device_step). So every step must have the first one's count of micro-batches
// and shapes, in the padded layout (a packed batch's offsets go up from the host):
// make_fixed_batch (batch.h) lays any micro-batch of a run out at one shape. The gradients are none before the
// capture; the captured backward writes them in the graph's pool, which every replay writes again.
//
// The first kWarmupSteps steps run eagerly on a side stream, so that cuBLAS, the allocator and
// autocast set up outside the capture; they are real steps. Where CUDA graphs do not exist (a
// CPU build or device), every step runs eagerly on the same buffers, which is what the CPU tests
// check against Trainer::accumulate and step(); with graphs emulated (capture_audit.h) the steps
// after the warm-up are audited as the capture and its replays.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>

#include "s2d/train/trainer.h"

namespace s2d {

struct GraphMemory;

class CapturedTrainStep {
 public:
  static constexpr int kWarmupSteps = 3;
  // Whether this build and device replay graphs (a CUDA build and a CUDA device).
  static bool supported(const c10::Device& device);
  // The trainer and its model must outlive this. Other steps of the trainer may come between this
  // one's (s2d distill keeps a captured step per batch shape, all on one GraphMemory,
  // graph_memory.h, so that they hold memory for the largest shape instead of the sum): the
  // weights, moments and step counts are tensors that every step updates in place, and the
  // gradients are none between steps. memory: a new one where null.
  explicit CapturedTrainStep(Trainer& trainer, std::shared_ptr<GraphMemory> memory = nullptr);
  ~CapturedTrainStep();
  CapturedTrainStep(const CapturedTrainStep&) = delete;
  CapturedTrainStep& operator=(const CapturedTrainStep&) = delete;

  // The step's summed loss and its pre-clip gradient norm, 0-dim fp32 on the device (not read).
  struct Result {
    at::Tensor loss_sum, grad_norm;
  };
  // One optimizer step over the micro-batches (padded layout, on the model's device), the gradients
  // scaled by their summed target count. Throws an InputError, and counts no step, when their
  // count or shapes differ from the first step's.
  Result run(const std::vector<Batch>& micro);
  // Whether the step is captured: false until kWarmupSteps steps have run, and always off CUDA.
  bool captured() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace s2d
