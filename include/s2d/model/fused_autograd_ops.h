// Elementwise chains of the Llama block as one autograd node each, for training: silu·mul and
// RoPE, and (CUDA only) the residual add with its RMSNorm. Autograd records the chain op by op, which costs a kernel
// and a saved tensor per op in the backward; a node computes the same gradient in one step and saves only its input
// (silu·mul) or nothing but the tables (RoPE). On CUDA with the fused kernels on (S2D_CUDA_FUSED=1) the node's forward
// and backward are single kernels (fused_cuda_ops.h); elsewhere the node runs the chain's own ATen ops. Either way the
// values and the gradients are the chain's, bit for bit.
//
// Without autograd recording (inference), each function is the chain's forward.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <utility>

namespace s2d {

// silu(gate) * up with gate and up the halves of gate_up [..., 2 I] -> [..., I]. Its gradient
// goes to gate_up as one [..., 2 I] tensor (the chain's split would concatenate two).
at::Tensor silu_mul(const at::Tensor& gate_up, int64_t I);

// HF's rotate-half RoPE, x * cos + rotate_half(x) * sin: x [B, H, T, D] (any strides), cos and
// sin [B, 1, T, D] -> [B, H, T, D] in the promoted dtype (fp32 for a bf16 x under autocast).
at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

// Training's residual add and the RMSNorm after it as one node, {h + d, rms_norm(h + d, weight)},
// where the fused CUDA kernels apply (S2D_CUDA_FUSED=1 on a GPU; fused_cuda_ops.h's
// add_rms_norm_train_cuda): one kernel forward, one backward, which also adds the residual
// stream's own gradient and writes d's. Its numerics are at::rms_norm's to rounding, not bit for
// bit (the row sums run in the kernel's order). Under autocast an fp32 sum's norm comes out in
// autocast's dtype, which the GEMM after it would cast it to. Returns undefined tensors where the
// kernels do not apply or autograd records nothing; the caller then runs the ATen ops.
std::pair<at::Tensor, at::Tensor> add_rms_norm_node(const at::Tensor& h, const at::Tensor& d, const at::Tensor& weight,
                                                    double eps);

}  // namespace s2d
