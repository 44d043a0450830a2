// CUDA graphs emulated on the CPU, for tests, and what a capture demands of the step it records.
//
// Where emulation is on, decode graphs (decode_graphs.h) and captured training steps
// (captured_train_step.h) run each step eagerly on their fixed buffers, so their graph paths run
// without a GPU. An eager run hides two faults that a real capture has:
// - an op that makes the host wait for the device (item(), nonzero, masked_select, unique,
//   repeat_interleave without output_size): the capture fails on the GPU;
// - a step that differs between runs: a replay repeats the captured kernels with the captured
//   arguments on the captured addresses, so a host value that changes between steps, or a tensor
//   that the step reads but did not make and that moves, is silently stale.
// CaptureAudit shows both on the CPU. It records every ATen op that the step dispatches on this
// thread, backward ops included (ATen's RecordFunction): the op's name, each tensor argument's
// dtype, sizes and strides, each host number's value, each other argument's value, and the
// address of each tensor that the step did not make itself. capture() refuses the host syncs;
// every replay() must record exactly the capture's list. What it cannot see: copies between host
// and device (here every tensor is on the CPU), and what code outside ATen's ops reads or writes
// (s2d's CPU kernels, which the CUDA path does not run).
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace s2d {

// Tests: CUDA graphs emulated on the CPU (off by default; S2D_CUDA_GRAPHS_EMULATED=1 turns it on for
// a process, as the GPU scripts' rehearsal does). The decode engine then also makes CUDA's
// choices of width and sampler where it is left to choose (EngineOptions), so that it takes the
// path a GPU takes.
void set_graphs_emulated_on_cpu(bool on);
bool graphs_emulated_on_cpu();

class CaptureAudit {
 public:
  // Runs `step` as the capture. Throws a RuntimeError naming the first op that would wait for the
  // device, after the step has run.
  void capture(const std::function<void()>& step);
  // Runs `step` as a replay of the capture. Throws a RuntimeError naming the first op that differs
  // from the capture's, after the step has run.
  void replay(const std::function<void()>& step);
  // An emulated graph's step: the capture the first time, a replay after.
  void capture_or_replay(const std::function<void()>& step) { captured_ ? replay(step) : capture(step); }
  bool captured() const { return captured_; }
  // The capture's ops, one line each: "aten::mm(T float [2, 8] [8, 1] @0x.., ...)".
  const std::vector<std::string>& ops() const { return ops_; }

 private:
  bool captured_ = false;
  std::vector<std::string> ops_;
};

}  // namespace s2d
