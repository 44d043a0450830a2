// The Llama-family decoder (Llama 1/2/3, Mistral without sliding-window attention beyond its
// window, Qwen2 with its q/k/v biases, Qwen3 with its per-head q/k norms), written against ATen so that training can
// use autograd on the same code.
//
// Dimension legend:
//   B batch rows         T new tokens in this call      S key length (cached + new)
//   H hidden size        NH query heads   KV key/value heads   D head dim   I MLP size   V vocab
//
// Conventions follow Hugging Face's modeling_llama.py:
//   RMSNorm in fp32 then times the weight in the model dtype; RoPE in the rotate-half layout with
//   positions counted per sequence (left padding shifts them); SwiGLU MLP; grouped-query
//   attention through at::scaled_dot_product_attention; lm_head tied to the embedding or not.
//
// Thread-safety: forward() is const and re-entrant; a KVCache belongs to one caller.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "s2d/model/config.h"
#include "s2d/model/kv_cache.h"
#include "s2d/model/llama_weights.h"
#include "s2d/model/prefill_layout.h"
#include "s2d/model/rope.h"

namespace s2d {

// The decode-time copy of the matrices in the few-row kernel's panel layout (weight_matmul.h).
struct DecodePanels;
// The flash kernel's offsets for a decode step over cache slots (decode_flash_attention.h).
struct DecodeVarlenIndex;
// Sequences packed back to back for one training forward (varlen_attention.h).
struct PackedSequences;

class LlamaModel {
 public:
  // Takes the HF-layout weights and packs them (see LayerWeights).
  LlamaModel(ModelConfig config, LlamaWeights weights);

  // input_ids [B, T] int64; position_ids [B, T] int64; key_mask [B, S] bool/int (1 = real token)
  // covering the cache's columns plus the T new ones. With a cache, appends T columns to it.
  // `last_only` returns logits of the last column only ([B, 1, V]), which is all decoding needs.
  // Returns logits [B, T, V] in the model dtype.
  at::Tensor forward(const at::Tensor& input_ids, const at::Tensor& position_ids, const at::Tensor& key_mask,
                     KVCache* cache = nullptr, bool last_only = false) const;

  // One decode step over independent cache slots (continuous batching): slot b feeds ids[b] at
  // position lens[b] (= tokens it has cached), writes its key/value at column lens[b], and attends
  // over columns [0, lens[b]] of the first `width` columns. Shapes are fixed by the slot count,
  // so the step can later be captured in a CUDA graph (with width = capacity).
  // ids [B] int64, lens [B] int64 on the model's device; cache batch == B. Returns logits [B, V].
  at::Tensor decode_slots(const at::Tensor& ids, const at::Tensor& lens, KVCache& cache, int64_t width) const;

  // Batched prefill of right-padded prompts: row b holds its lens[b] tokens in columns
  // [0, lens[b]) and anything after. Fills cache columns [0, T) (cache batch == B; columns past
  // lens[b] hold padding that decode_slots overwrites) and returns the logits at each row's last
  // real token, [B, V]. ids [B, T], lens [B] int64 on the model's device.
  at::Tensor prefill_right_padded(const at::Tensor& ids, const at::Tensor& lens, KVCache& cache) const;

  // Batched prefill without padding: ids [1, L] hold prompts of `lengths` tokens back to back,
  // each attending to its own tokens alone (as in forward_packed), so the batch costs L tokens of
  // work where a right-padded one costs B x its longest. Returns the logits at each prompt's last
  // token, [B, V], and every layer's keys and values [1, KV, L, D] in the same packed order, from
  // which the caller copies each prompt's columns into its cache slot.
  //
  // A prompt's first tokens need not be computed (prefill_layout.h):
  //   * `shared` (empty, or one per prompt): prompt b's first shared[b].tokens tokens are those of
  //     the earlier prompt shared[b].prompt (the caller vouches for it), so they are computed once,
  //     there: a chat template's preamble, or a question that several prompts quote;
  //   * `cached` (empty, or one per prompt): prompt b's first cached[b].tokens tokens have keys and
  //     values already (the columns of a cache slot whose prompt starts the same way; the caller
  //     vouches for them too), and are not computed at all.
  // Either way the returned keys and values hold every prompt's columns whole.
  struct CachedStart {
    int64_t tokens = 0;            // < this prompt's length; 0 with a shared start
    std::vector<at::Tensor> k, v;  // per layer [KV, tokens, D], in the model's dtype and on its device
  };
  struct PackedPrefill {
    at::Tensor last_logits;
    std::vector<at::Tensor> k, v;
    int64_t computed_tokens = 0;  // rows run through the layers: L less the shared and cached ones
  };
  PackedPrefill prefill_packed(const at::Tensor& ids, const std::vector<int64_t>& lengths,
                               const std::vector<SharedStart>& shared = {},
                               const std::vector<CachedStart>& cached = {}) const;

  // Whole left-padded batch, no cache: positions from the mask (cumsum - 1). attention_mask [B, T].
  at::Tensor forward_padded(const at::Tensor& input_ids, const at::Tensor& attention_mask) const;

  // Training on a right-padded batch (each row's real tokens first), no cache: positions
  // 0..T-1 and SDPA's own causal mask (is_causal, no mask tensor), which lets it pick the flash
  // kernel. For every real token this equals forward_padded: its padding keys all come after it
  // and a causal mask already hides them. ids [B, T] -> logits [B, T, V]; given rows [N] (flat
  // indices b * T + t), only those positions' logits, [N, V]: a loss that counts few tokens (an
  // SFT answer after a long prompt) then skips the head and its softmax everywhere else.
  at::Tensor forward_causal(const at::Tensor& input_ids, const at::Tensor& rows = {}) const;

  // Training on a packed batch (sequence packing, no padding): ids [1, L] hold sequences of
  // `lengths` tokens back to back (summing to L), positions [1, L] restart at 0 in each, and a
  // token attends only to the tokens before it in its own sequence (one causal SDPA per
  // sequence). A sequence's logits therefore depend on its own tokens alone: changing one leaves
  // the others' bitwise unchanged. rows [N]: flat positions whose logits to return, [N, V].
  at::Tensor forward_packed(const at::Tensor& input_ids, const at::Tensor& positions,
                            const std::vector<int64_t>& lengths, const at::Tensor& rows) const;

  // Attaches a LoRA adapter (shared, so a trainer can own its tensors); nullptr detaches.
  void set_lora(std::shared_ptr<LoraAdapter> lora) { lora_ = std::move(lora); }
  const std::shared_ptr<LoraAdapter>& lora() const { return lora_; }
  // Training mode turns LoRA dropout on (and drops the decode panels).
  void set_training(bool on);

  const ModelConfig& config() const { return config_; }
  // Mutable access drops the decode panels: the caller may change the values.
  LlamaWeights& weights();
  const LlamaWeights& weights() const { return weights_; }
  at::TensorOptions options() const { return weights_.embed.options(); }

 private:
  // Given a layer's new keys/values [B, KV, T, D], store them and return all keys/values to attend.
  using KvUpdate =
      std::function<std::pair<at::Tensor, at::Tensor>(size_t layer, const at::Tensor& k, const at::Tensor& v)>;
  // What one pass of the decoder stack attends to, where its keys go, and how it multiplies.
  struct Step {
    // [B or 1, 1, T, S] bool over the keys `update` returns; undefined: causal over the T new
    // tokens alone, through SDPA's flash kernel.
    at::Tensor mask;
    KvUpdate update;  // null: no cache
    // decode_slots only: [B] int64, slot b attends key columns [0, last_key[b]] (what mask says),
    // which lets a CPU decode skip SDPA and the columns past each slot's end.
    at::Tensor last_key;
    const DecodePanels* panels = nullptr;  // null, or what decode_panels() returned
    // decode_slots on CUDA with S2D_CUDA_FLASH_DECODE=1: attend through the varlen flash kernel
    // over each slot's filled columns instead of SDPA over the mask.
    const DecodeVarlenIndex* flash = nullptr;
    // forward_packed only: the sequences packed back to back along T (B == 1).
    const PackedSequences* packed = nullptr;
    // decode_slots only: the cache and each slot's new column [B] int64, for the CUDA kernel that
    // writes the new key and value there as it rotates them (rope_qk_append_cuda); `update`, given
    // undefined tensors, then only returns what to attend.
    KVCache* append_cache = nullptr;
    at::Tensor append_col;
    // The rows of cos and sin to gather for the positions, which must lie in the table's range;
    // null: computed from the positions.
    const RopeTable* rope = nullptr;
  };
  // The decoder stack: hidden states [B, T, H] before the final norm.
  at::Tensor run_layers(const at::Tensor& input_ids, const at::Tensor& position_ids, const Step& step) const;
  // Final norm and LM head: h [..., H] -> logits [..., V].
  at::Tensor head(const at::Tensor& h, const DecodePanels* panels) const;
  at::Tensor attention(const LayerWeights& w, const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                       const Step& step, size_t layer) const;

  // The panels for a decode step, built on first use; null where the kernel does not apply (not
  // fp32 on a CPU with AVX2, autograd on, training, or no room for a second copy of the weights).
  std::shared_ptr<const DecodePanels> decode_panels() const;

  // y plus the adapter's delta for (layer, target), if any. x is the projection's input.
  at::Tensor with_lora(const at::Tensor& y, const at::Tensor& x, size_t layer, const char* target) const;
  // A fused projection's output y [B, T, sum of the widths] plus the deltas of its targeted parts
  // (`parts`: each projection's target name and width, in y's column order), with one skinny GEMM
  // in and one addmm out instead of a pair per part. Undefined where dropout applies (PEFT draws a
  // mask per target): the caller then adds each part's delta with with_lora.
  struct LoraPart {
    const char* target;
    int64_t width;
  };
  at::Tensor with_fused_lora(const at::Tensor& y, const at::Tensor& x, size_t layer,
                             std::initializer_list<LoraPart> parts) const;

  ModelConfig config_;
  LlamaWeights weights_;
  std::shared_ptr<LoraAdapter> lora_;
  bool training_ = false;
  at::Tensor inv_freq_;  // [D/2] fp32, RoPE frequencies with scaling applied
  mutable std::mutex panels_mutex_;
  mutable std::shared_ptr<const DecodePanels> panels_;  // guarded by panels_mutex_
  mutable bool panels_refused_ = false;                 // the last build found no room; guarded likewise
};

// Positions per row from a left-padded mask [B, T]: cumsum - 1, 0 on padding.
at::Tensor positions_from_mask(const at::Tensor& attention_mask);

}  // namespace s2d
