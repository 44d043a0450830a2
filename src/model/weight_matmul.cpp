#include "s2d/model/weight_matmul.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>

#include "s2d/model/few_row_matmul.h"

namespace s2d {

bool uses_few_row_kernel(const at::Tensor& x, const at::Tensor& w) {
  if (few_rows::detect() == few_rows::Simd::None) return false;
  if (!x.device().is_cpu() || !w.device().is_cpu() || x.scalar_type() != at::kFloat || w.scalar_type() != at::kFloat)
    return false;
  if (c10::GradMode::is_enabled() && (x.requires_grad() || w.requires_grad())) return false;
  if (w.dim() != 2 || w.stride(1) != 1 || w.stride(0) < w.size(1) || x.dim() < 1 || x.size(-1) != w.size(0))
    return false;
  const int64_t rows = x.numel() / std::max<int64_t>(1, x.size(-1));
  return rows >= 1 && rows <= few_rows::kMaxRows && w.size(1) > 0;
}

at::Tensor weight_matmul(const at::Tensor& x, const at::Tensor& w) {
  if (!uses_few_row_kernel(x, w)) return at::matmul(x, w);
  const few_rows::Simd simd = few_rows::detect();
  const int64_t K = w.size(0), N = w.size(1), ldw = w.stride(0);
  const at::Tensor x2 = x.reshape({-1, K}).contiguous();  // [M, K]
  const int64_t M = x2.size(0);
  at::Tensor out = at::empty({M, N}, x.options());  // [M, N]
  const float* xp = x2.const_data_ptr<float>();
  const float* wp = w.const_data_ptr<float>();
  float* op = out.mutable_data_ptr<float>();
  // Threads take contiguous runs of whole vectors, so each streams its own part of every row of w.
  const int64_t L = few_rows::lanes(simd), vectors = (N + L - 1) / L;
  at::parallel_for(0, vectors, /*grain_size=*/1, [&](int64_t v0, int64_t v1) {
    few_rows::matmul_columns(simd, xp, M, K, wp, ldw, v0 * L, std::min(v1 * L, N), op, N);
  });
  std::vector<int64_t> sizes = x.sizes().vec();
  sizes.back() = N;
  return out.view(sizes);
}

}  // namespace s2d
