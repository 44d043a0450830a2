// Attention over an explicit bool mask with grouped key/value heads, in a form SDPA runs through
// a fused kernel.
//
// Why: SDPA's kernels that take a mask (CUDA's memory-efficient one, the CPU's flash one) do not
// take grouped heads, so `enable_gqa` with a mask sends SDPA to its math kernel, which on CUDA
// upcasts q, k and v to fp32 and repeats the keys and values per query head: for a decode step,
// a copy of G times the whole cache in fp32 per layer (Llama-3, Qwen, SmolLM2, Mistral all group
// their heads). HF avoids the math kernel the same way for T > 1 (repeat_kv whenever a mask is
// given), and for a decode step no copy is needed at all.
#pragma once

#include <ATen/core/Tensor.h>

namespace s2d {

// q [B, NH, T, D], k and v [B, KV, S, D] (NH % KV == 0; query head h reads key head h / (NH / KV)),
// mask bool (true: attend) or additive_mask's, broadcastable to [B, 1, T, S] -> [B, NH, T, D], what
// scaled_dot_product_attention(q, k, v, mask, enable_gqa = true) returns.
//   NH == KV: SDPA as it is.
//   T == 1 (a decode step): the G = NH / KV query heads that share key head j are laid along the
//     query axis, q [B, KV, G, D]; the mask [B, 1, 1, S] covers the G rows alike. No copy of k, v.
//   T > 1: k and v repeated per query head (HF's repeat_kv), then SDPA without grouping.
at::Tensor masked_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask);

// A bool mask [..., S] as SDPA turns it into a bias for its memory-efficient kernel, made once for
// all layers: 0 where true, -inf where false, in `dtype` (the queries'), each row at a stride that is
// a multiple of 8 elements (a view of padded storage). Given this, SDPA neither converts the mask
// nor copies it into aligned storage at every call; the attention is the same, bit for bit.
at::Tensor additive_mask(const at::Tensor& mask, at::ScalarType dtype);

// HF's repeat_kv: each of the KV heads of x [B, KV, S, D] `groups` times in a row -> [B, KV * groups,
// S, D], head j * groups + g a copy of head j (what repeat_interleave(groups, 1) gives).
at::Tensor repeat_kv(const at::Tensor& x, int64_t groups);

}  // namespace s2d
