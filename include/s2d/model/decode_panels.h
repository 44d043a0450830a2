// The decode-time copy of a model's matrices in the few-row kernel's panel layout
// (weight_matmul.h): the four packed projections of every layer and the head. It doubles the
// memory those matrices take, for about twice the speed of a CPU decode step
// (docs/benchmarks.md), so LlamaModel builds it only for fp32 CPU inference, on first use.
#pragma once

#include <memory>
#include <vector>

#include "s2d/model/llama.h"
#include "s2d/model/weight_matmul.h"

namespace s2d {

struct DecodePanels {
  struct Layer {
    PanelWeight qkv, o, gate_up, down;  // of LayerWeights::qkv_t, o_t, gate_up_t, down_t
  };
  std::vector<Layer> layers;
  PanelWeight head;  // of LlamaWeights::lm_head_t
};

// Bytes the panels of these weights would take.
uint64_t decode_panel_bytes(const LlamaWeights& w);
// The panels, or nullptr where can_use_panels() fails for a matrix or the copy would take more
// than half of the host memory now available.
std::shared_ptr<const DecodePanels> build_decode_panels(const LlamaWeights& w);

}  // namespace s2d
