// x [..., K] @ w [K, N] for the model's weight matrices (the packed [in, out] layout).
//
// An fp32 CPU product of at most few_rows::kMaxRows rows outside autograd (a decode step, the
// last-token head of a prefill) goes through the few-row kernel (few_row_matmul.h), split over
// the intra-op threads by columns; anything else is at::matmul.
#pragma once

#include <ATen/core/Tensor.h>

namespace s2d {

bool uses_few_row_kernel(const at::Tensor& x, const at::Tensor& w);
at::Tensor weight_matmul(const at::Tensor& x, const at::Tensor& w);

}  // namespace s2d
