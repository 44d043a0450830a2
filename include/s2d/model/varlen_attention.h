// Causal attention over sequences packed back to back, each attending to itself alone, in one
// call of the flash kernel's variable-length form (cumulative sequence offsets in place of a batch
// dimension), instead of one SDPA call per sequence. Differentiable (the kernel has a backward).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

namespace s2d {

// Sequences packed back to back along one row of L tokens.
struct PackedSequences {
  std::vector<int64_t> lengths;  // [n], summing to L
  at::Tensor offsets;            // [n + 1] int32 on the row's device: where each sequence starts, then L
  int64_t longest = 0;
  // A prefill whose rows are not all computed (prefill_layout.h): the layers run over U < L unique
  // rows, attention over the L rows of the layout above. Undefined when U == L.
  at::Tensor query_of_row;        // [L] int64 (CUDA): the unique row whose query each row of the layout takes
  at::Tensor row_of_unique;       // [U] int64: the row of the layout whose attention output each unique row keeps
  std::vector<int64_t> computed;  // [n]: each sequence's unique rows, its last ones (empty: all)
};
// Made once per packed forward: its layers then share one upload of the offsets (a copy from
// pageable memory each layer would make the host wait for the GPU's queue every layer).
PackedSequences pack_sequences(std::vector<int64_t> lengths, const c10::Device& device);

// q [L, NH, D], k and v [L, KV, D] (grouped heads are read by the kernel; NH % KV == 0), the
// `packed` sequences -> [L, NH, D], in bf16/fp16 (under CUDA autocast, its dtype:
// fp32 inputs are cast, as SDPA casts them). Undefined where the kernel does not apply: not CUDA,
// not bf16/fp16 nor autocast, a head dim that is not a multiple of 8 or is over 256, or a GPU the
// kernel refuses (before sm80); the caller then attends per sequence.
at::Tensor varlen_causal_flash_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                         const PackedSequences& packed);

// Runs `call`, a call of the flash kernel's variable-length form. Where it throws (the GPU or the
// torch build refuses it), logs once why and that `instead` runs, sets `refused` and returns an
// undefined tensor; once refused, returns undefined without calling.
at::Tensor unless_refused(std::atomic<bool>& refused, const char* instead, const std::function<at::Tensor()>& call);

}  // namespace s2d
