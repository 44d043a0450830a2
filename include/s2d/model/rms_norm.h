// The decoder's RMSNorm, routed to the cheapest form that keeps its numerics:
//   * inference: HF's LlamaRMSNorm chain, weight * (x.float() * rsqrt(mean(x.float()^2) + eps)).to(x.dtype),
//     bit for bit (one loop for fp32 on the CPU, the fused kernels on CUDA where they are on);
//   * training (x or the weight recorded by autograd, x and the weight of one dtype): at::rms_norm,
//     one op that CUDA runs as one fused kernel with a fused backward. In fp32 it is the chain's
//     bits. In bf16 and fp16 it rounds once, (x * rsqrt(..) * weight).to(x.dtype), where the chain
//     rounds twice (after the normalisation, after the weight): closer to the exact norm, and one
//     op where autograd recorded eight, which saved fp32 copies of x.
#pragma once

#include <ATen/core/Tensor.h>

#include <utility>

namespace s2d {

// x [..., H], weight [H] -> [..., H] in x's dtype.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);

// The residual add and the norm after it: {h + d, rms_norm(h + d, weight, eps)}. On CUDA with the
// fused kernels on: in inference the add and the squares in one kernel (the chain's bits); in
// training one autograd node of one kernel each way (fused_autograd_ops.h's add_rms_norm_node).
std::pair<at::Tensor, at::Tensor> add_rms_norm(const at::Tensor& h, const at::Tensor& d, const at::Tensor& weight,
                                               double eps);

}  // namespace s2d
