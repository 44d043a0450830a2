// Decode steps replayed as CUDA graphs. One step is LlamaModel::decode_slots over the first n
// slots of a cache followed by sample_on_device; eagerly that is ~1,300 kernel launches for a 7B
// model, about 10 ms of host time against ~4 ms of GPU work at batch 1. Captured once, a step
// replays with one launch.
//
// A graph replays the kernels it captured on the addresses it captured, so every input lives in
// a fixed device buffer that step() refills before the replay: the token ids (the caller's own
// buffer, which must keep its storage), the slots' lengths and the packed sampling rows. The
// sampler takes different branches for greedy, plain and cut rows, so there is one graph per
// combination the batches need (at most 7), captured on first use. The engine keeps one
// DecodeGraphs per slot-count bucket (the first 1, 2, 4, ... slots, and all), so that a run's tail
// replays fewer rows; all share one GraphMemory (graph_memory.h). Every step runs all n slots: idle
// ones feed their buffer's token at column 0, as in the eager loop. CUDA builds only; supported()
// says whether this build and device can. For tests, the CPU can emulate them
// (set_graphs_emulated_on_cpu, capture_audit.h): each step then runs eagerly on the same buffers,
// audited as a capture and its replays, and returns the same overwritten output buffer, so the
// engine's graph path is tested without a GPU.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <vector>

#include "s2d/engine/device_sampling.h"
#include "s2d/model/llama.h"

namespace s2d {

struct GraphMemory;

class DecodeGraphs {
 public:
  static bool supported(const c10::Device& device);
  // S2D_CUDA_GRAPHS=1 in the environment: graphs wherever they apply, whatever EngineOptions says.
  static bool switched_on();
  // Supported, or emulated on the CPU (capture_audit.h).
  static bool applies(const c10::Device& device);
  // tokens: [n] int64 on the model's device, read by every step as its input ids; cache: views of
  // n slots (sharing the engine's storage); each step attends over the first `width` columns;
  // memory: what the engine's other DecodeGraphs share (a new one where null).
  DecodeGraphs(const LlamaModel& model, KVCache cache, at::Tensor tokens, int64_t width,
               std::shared_ptr<GraphMemory> memory = nullptr);
  ~DecodeGraphs();
  DecodeGraphs(const DecodeGraphs&) = delete;
  DecodeGraphs& operator=(const DecodeGraphs&) = delete;

  // One step: lens [n] (the column each slot writes) and rows (n rows) go into the buffers, then
  // the graph for rows' sampling paths replays. Returns the drawn tokens, [n] int64, a buffer the
  // next step() with the same paths overwrites.
  at::Tensor step(const std::vector<int64_t>& lens, const HostSamplingRows& rows);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace s2d
