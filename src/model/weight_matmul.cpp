#include "s2d/model/weight_matmul.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>

#include "s2d/model/few_row_matmul.h"

namespace s2d {

bool can_use_panels(const at::Tensor& w) {
  return few_rows::detect() != few_rows::Simd::None && w.defined() && w.device().is_cpu() &&
         w.scalar_type() == at::kFloat && w.dim() == 2 && w.size(0) > 0 && w.size(1) > 0;
}

PanelWeight to_panels(const at::Tensor& w) {
  at::NoGradGuard no_grad;
  const int64_t K = w.size(0), N = w.size(1), count = few_rows::panel_count(N), P = few_rows::kPanelWidth;
  const at::Tensor padded = count * P == N ? w : at::constant_pad_nd(w, {0, count * P - N});  // [K, count * P]
  return {.panels = padded.reshape({K, count, P}).permute({1, 0, 2}).contiguous(), .in = K, .out = N};
}

bool uses_few_row_kernel(const at::Tensor& x, const PanelWeight* panels) {
  if (panels == nullptr || !panels->panels.defined() || few_rows::detect() == few_rows::Simd::None) return false;
  if (!x.device().is_cpu() || x.scalar_type() != at::kFloat || x.dim() < 1 || x.size(-1) != panels->in) return false;
  if (c10::GradMode::is_enabled() && x.requires_grad()) return false;
  const int64_t rows = x.numel() / std::max<int64_t>(1, x.size(-1));
  return rows >= 1 && rows <= few_rows::max_rows();
}

at::Tensor weight_matmul(const at::Tensor& x, const at::Tensor& w, const PanelWeight* panels) {
  if (!uses_few_row_kernel(x, panels)) return at::matmul(x, w);
  const few_rows::Simd simd = few_rows::detect();
  const int64_t K = panels->in, N = panels->out;
  const at::Tensor x2 = x.reshape({-1, K}).contiguous();  // [M, K]
  const int64_t M = x2.size(0);
  at::Tensor out = at::empty({M, N}, x.options());  // [M, N]
  const float* xp = x2.const_data_ptr<float>();
  const float* pp = panels->panels.const_data_ptr<float>();
  float* op = out.mutable_data_ptr<float>();
  // Threads take contiguous runs of panels, each read sequentially from memory.
  at::parallel_for(0, few_rows::panel_count(N), /*grain_size=*/1,
                   [&](int64_t p0, int64_t p1) { few_rows::matmul_panels(simd, xp, M, K, pp, N, p0, p1, op, N); });
  std::vector<int64_t> sizes = x.sizes().vec();
  sizes.back() = N;
  return out.view(sizes);
}

}  // namespace s2d
