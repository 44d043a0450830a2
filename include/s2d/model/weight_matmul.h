// x [..., K] @ w [K, N] for the model's weight matrices (the packed [in, out] layout).
//
// For decoding, a matrix can also be laid out as the few-row kernel's panels (few_row_matmul.h).
// An fp32 CPU product of at most few_rows::max_rows() rows outside autograd (a decode step, the
// last-token head of a prefill) with panels at hand goes through the kernel, split over the
// intra-op threads by panels; anything else is at::matmul over w.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace s2d {

// w [K, N] as panels: [few_rows::panel_count(N), K, few_rows::kPanelWidth] fp32, columns past N zero.
struct PanelWeight {
  at::Tensor panels;
  int64_t in = 0, out = 0;  // K, N
};

// True when this CPU runs the kernel and w [K, N] is an fp32 CPU matrix.
bool can_use_panels(const at::Tensor& w);
// A copy of w in the panel layout (can_use_panels(w) must hold). Outside autograd.
PanelWeight to_panels(const at::Tensor& w);

// True when weight_matmul(x, w, panels) runs the kernel.
bool uses_few_row_kernel(const at::Tensor& x, const PanelWeight* panels);
// x @ w; panels, when given, must be to_panels(w) of the same values.
at::Tensor weight_matmul(const at::Tensor& x, const at::Tensor& w, const PanelWeight* panels = nullptr);

}  // namespace s2d
