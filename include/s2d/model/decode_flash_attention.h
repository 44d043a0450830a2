// One decode step's attention on CUDA over each slot's filled columns only, through the flash
// kernel's variable-length form. SDPA, given a mask over the slot width ([B, 1, 1, W]), reads all
// W columns of every slot (W is the capacity when the step is a CUDA graph) and the mask besides,
// and takes the memory-efficient kernel; this reads lens[b] + 1 columns of slot b.
//
// The cache is head-major, [B, KV, C, D]. The varlen kernel reads rows [total, heads, D] with each
// sequence's rows at one row stride, so it cannot read that as B sequences of KV heads; it can
// read it as B * KV sequences of one head. Sequence i = b * KV + g is slot b's key head g: rows
// [i * C, i * C + lens[b] + 1) of the cache viewed as [B * KV * C, 1, D]. Its queries are the
// G = NH / KV query heads that read that key head (HF's repeat_kv: head h reads h / G), rows
// [i * G, (i + 1) * G) of q viewed as [B * NH, 1, D]. They attend with no causal mask: they are
// heads of one position, not positions.
//
// Off by default until measured on a GPU: S2D_CUDA_FLASH_DECODE=1 switches it on.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace s2d {

// The kernel's offsets for one step, built once and shared by the layers.
struct DecodeVarlenIndex {
  at::Tensor cu_q;      // [B * KV + 1] int32: i * G
  at::Tensor cu_k;      // [B * KV + 1] int32: i * C
  at::Tensor used_k;    // [B * KV] int32: lens[i / KV] + 1
  int64_t group = 1;    // G = NH / KV, the query rows per sequence
  int64_t columns = 0;  // C, the cache's columns per slot and head (its row stride in rows)
  int64_t width = 0;    // W <= C: no slot attends past it
};

// lens [B] int64 on the model's device: the columns each slot had before this step's token.
DecodeVarlenIndex decode_varlen_index(const at::Tensor& lens, int64_t NH, int64_t KV, int64_t C, int64_t W);

// The views the kernel reads. q [B, NH, 1, D] -> [B * NH, 1, D]; k and v [B, KV, W, D], views of
// a cache whose slot and head strides are KV * C * D and C * D -> [B * KV * C, 1, D] over the same
// memory (the rows past a sequence's used_k are never read).
struct DecodeVarlenRows {
  at::Tensor q, k, v;
};
DecodeVarlenRows decode_varlen_rows(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int64_t C);

// Whether decode_flash_attention may run for a model with these tensor options and head dim:
// switched on, CUDA, bf16 or fp16, D a multiple of 8 up to 256, and the GPU has not refused it.
bool flash_decode_applies(const at::TensorOptions& model, int64_t D);
// Overrides S2D_CUDA_FLASH_DECODE (tests compare both paths in one process).
void set_flash_decode(bool on);

// q [B, NH, 1, D], k and v [B, KV, W, D] as above -> [B, 1, NH * D]. Undefined where the GPU
// refuses the kernel (logged once, and not tried again): the caller then runs SDPA.
at::Tensor decode_flash_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                  const DecodeVarlenIndex& index);

}  // namespace s2d
