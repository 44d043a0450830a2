// Drawing one token from each cut row (top-k, top-p) without sorting the vocabulary: the cut is
// found by selection, one byte of the probability's bits at a time (cut_sampling_rules.h). On CUDA
// one kernel does a row in one thread block, at most ten reads of the row, where the sorting path
// of device_sampling.h sorts the whole [B, V] and makes a dozen passes over it; the host twin does
// the same arithmetic row by row, so the kernel is tested against it token for token.
//
// The cut is the sorting path's: ranks by descending probability, ties by token id, the first k,
// then the smallest prefix whose mass reaches top_p of theirs. Two things differ, so the two paths
// draw the same distribution but not the same tokens: masses are fixed-point integers (p * 2^40),
// summed exactly; and the token is the inverse CDF at u over the kept tokens in token order.
//
// probs [B, V] fp32 (each row a softmax), top_k [B] int64 (>= V: off), top_p [B] fp32 (>= 1: off),
// u [B] fp32 in (0, 1), cut [B] bool (rows not cut get token 0) -> [B] int64.
#pragma once

#include <ATen/core/Tensor.h>

namespace s2d {

// Whether the CUDA kernel takes rows like x [B, V] fp32: a build with the kernels, S2D_CUDA_FUSED
// on (as for fused_cuda_ops.h), a CUDA tensor.
bool cut_sampling_kernel_takes(const at::Tensor& x);
// The CUDA kernel, where it takes probs; otherwise an undefined tensor (the caller sorts).
at::Tensor sample_cut_rows_cuda(const at::Tensor& probs, const at::Tensor& top_k, const at::Tensor& top_p,
                                const at::Tensor& u, const at::Tensor& cut);

// The host twin: the same tokens from the same inputs, on CPU tensors.
at::Tensor sample_cut_rows_host(const at::Tensor& probs, const at::Tensor& top_k, const at::Tensor& top_p,
                                const at::Tensor& u, const at::Tensor& cut);

}  // namespace s2d
