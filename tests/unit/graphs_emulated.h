// CUDA graphs emulated on the CPU for one test's scope (capture_audit.h): decode graphs and
// captured training steps run eagerly on their buffers, audited as captures and replays.
#pragma once

#include "s2d/model/capture_audit.h"

namespace s2d::testing {

struct GraphsEmulatedOnCpu {
  GraphsEmulatedOnCpu() { set_graphs_emulated_on_cpu(true); }
  ~GraphsEmulatedOnCpu() { set_graphs_emulated_on_cpu(false); }
  GraphsEmulatedOnCpu(const GraphsEmulatedOnCpu&) = delete;
  GraphsEmulatedOnCpu& operator=(const GraphsEmulatedOnCpu&) = delete;
};

}  // namespace s2d::testing
