#include "s2d/model/llama.h"

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <c10/core/GradMode.h>

#include <optional>

#include "s2d/model/async_transfer.h"
#include "s2d/model/decode_flash_attention.h"
#include "s2d/model/decode_panels.h"
#include "s2d/model/device.h"
#include "s2d/model/fused_autograd_ops.h"
#include "s2d/model/fused_cpu_ops.h"
#include "s2d/model/fused_cuda_ops.h"
#include "s2d/model/masked_attention.h"
#include "s2d/model/rms_norm.h"
#include "s2d/model/varlen_attention.h"
#include "s2d/model/weight_matmul.h"
#include "s2d/util/error.h"
#include "s2d/util/strings.h"

namespace s2d {

namespace {

// PEFT's LoRA delta added to a projection's output: y + scale * x @ A^T @ B^T, with y [B, T, out],
// x [B, T, in] (after dropout), A [r, in], B [out, r]. The factors are fp32; a bf16 base (inference
// on CUDA) multiplies them in its own dtype, as autocast does in training (where this cast is the
// one autocast would make). The up-projection adds into y inside its GEMM (addmm), so the delta
// [B*T, out] is never written out and read back by a separate add.
at::Tensor add_lora_delta(const at::Tensor& y, const at::Tensor& x, const at::Tensor& a, const at::Tensor& b,
                          double scale) {
  auto as_y = [&](const at::Tensor& f) { return f.scalar_type() == y.scalar_type() ? f : f.to(y.scalar_type()); };
  const at::Tensor xa = at::matmul(x, as_y(a).t());  // [B, T, r]
  const int64_t out = y.size(-1), r = xa.size(-1);
  return at::addmm(y.reshape({-1, out}), xa.reshape({-1, r}), as_y(b).t(), /*beta=*/1, scale).view(y.sizes());
}

// Causal SDPA with no mask tensor, so that it can pick a flash kernel. q [B, NH, T, D], k and v
// [B, KV, T, D] -> [B, NH, T, D]. Grouped heads: CUDA's flash kernel (bf16, fp16) reads the shared
// key/value heads itself (enable_gqa); the kernels for fp32 on CUDA (memory-efficient) and the
// CPU's flash kernel do not (with enable_gqa SDPA falls back to its math path), so there the heads
// are repeated first, as HF's repeat_kv does. `packed`: sequences laid back to back along T
// (B == 1), each attended on its own. Where not all of its rows are computed (prefill_packed's
// shared and cached starts), q holds the U unique rows, which are each sequence's last rows
// (`computed`), k and v hold all L rows (spread by the prefill's cache hook), and the output has
// one row per unique row: [1, NH, U, D]. Each sequence's unique rows then attend as its last
// rows, with the causal mask's lower-right corner; the varlen kernel takes the queries spread over
// the L rows instead.
at::Tensor causal_attention(at::Tensor q, at::Tensor k, at::Tensor v, const PackedSequences* packed) {
  const bool some_rows = packed && !packed->computed.empty();
  // On CUDA in bf16/fp16: one variable-length flash call over the packed row, [L, NH, D] views.
  // Where it applies, the kernel reads grouped heads itself, so k and v are not repeated yet.
  if (packed && q.is_cuda()) {
    const at::Tensor every_row = some_rows ? q.index_select(2, packed->query_of_row) : q;  // [1, NH, L, D]
    if (at::Tensor out = varlen_causal_flash_attention(every_row[0].transpose(0, 1), k[0].transpose(0, 1),
                                                       v[0].transpose(0, 1), *packed);
        out.defined()) {
      out = out.transpose(0, 1).unsqueeze(0);  // [1, NH, L, D]
      return some_rows ? out.index_select(2, packed->row_of_unique) : out;
    }
  }
  const int64_t NH = q.size(1), KV = k.size(1);
  // Under autocast q is fp32 here (RoPE with the fp32 tables promotes it) and SDPA casts to bf16.
  const bool gqa_in_kernel =
      q.is_cuda() && (q.scalar_type() != at::kFloat || at::autocast::is_autocast_enabled(at::kCUDA));
  if (NH != KV && !gqa_in_kernel) k = repeat_kv(k, NH / KV), v = repeat_kv(v, NH / KV);
  // qs [1, NH, m, D] over ks and vs [1, NH or KV, n, D], m <= n: the last m of n positions.
  auto sdpa = [&](const at::Tensor& qs, const at::Tensor& ks, const at::Tensor& vs) {
    const int64_t m = qs.size(2), n = ks.size(2);
    std::optional<at::Tensor> lower_right;  // [m, n] bool: row i sees columns <= n - m + i
    if (m < n) lower_right = at::ones({m, n}, qs.options().dtype(at::kBool)).tril(n - m);
    return at::scaled_dot_product_attention(qs, ks, vs, lower_right, /*dropout_p=*/0.0, /*is_causal=*/m == n,
                                            /*scale=*/std::nullopt, /*enable_gqa=*/NH != KV && gqa_in_kernel);
  };
  if (!packed) return sdpa(q, k, v);
  std::vector<at::Tensor> outs;  // one [1, NH, m, D] per sequence
  for (size_t s = 0, at = 0, from = 0; s < packed->lengths.size(); ++s) {
    const int64_t n = packed->lengths[s], m = some_rows ? packed->computed[s] : n;
    outs.push_back(sdpa(q.narrow(2, static_cast<int64_t>(from), m), k.narrow(2, static_cast<int64_t>(at), n),
                        v.narrow(2, static_cast<int64_t>(at), n)));
    at += static_cast<size_t>(n);
    from += static_cast<size_t>(m);
  }
  return outs.size() == 1 ? outs[0] : at::cat(outs, 2);
}

// Prompt b's cached keys and values must be per layer [KV, tokens, D], in the model's dtype and
// on its device: anything else would fail deep inside a layer, or attend to the wrong columns.
void check_cached_start(const LlamaModel::CachedStart& c, size_t b, const ModelConfig& cfg,
                        const at::TensorOptions& opts) {
  const auto layers = static_cast<size_t>(cfg.num_hidden_layers);
  const std::vector<int64_t> want = {cfg.num_key_value_heads, c.tokens, cfg.head_dim};
  for (const std::vector<at::Tensor>* t : {&c.k, &c.v})
    for (size_t l = 0; l < std::max(layers, t->size()); ++l) {
      const bool fits = t->size() == layers && (*t)[l].defined() && (*t)[l].sizes() == want &&
                        (*t)[l].scalar_type() == opts.dtype().toScalarType() && (*t)[l].device() == opts.device();
      if (!fits)
        throw_runtime("prefill: a prompt's cached keys and values do not fit the model",
                      {.field = c10::str("cached[", b, "].", t == &c.k ? "k" : "v"),
                       .expected = c10::str(layers, " layers of ", at::IntArrayRef(want), " ", opts.dtype(), " on ",
                                            opts.device()),
                       .found = t->size() != layers ? c10::str(t->size(), " layers")
                                : (*t)[l].defined() ? c10::str("layer ", l, ": ", (*t)[l].sizes(), " ", (*t)[l].dtype(),
                                                               " on ", (*t)[l].device())
                                                    : c10::str("layer ", l, ": undefined")});
    }
}

// Per layer, every prompt's cached keys (or values) in order: [1, KV, E, D].
std::vector<at::Tensor> cached_rows(const std::vector<LlamaModel::CachedStart>& cached,
                                    std::vector<at::Tensor> LlamaModel::CachedStart::* member, int64_t layers) {
  std::vector<at::Tensor> per_layer;
  for (int64_t l = 0; l < layers; ++l) {
    std::vector<at::Tensor> parts;
    for (const auto& c : cached)
      if (c.tokens > 0) parts.push_back((c.*member)[static_cast<size_t>(l)]);
    per_layer.push_back(at::cat(parts, 1).unsqueeze(0));
  }
  return per_layer;
}

}  // namespace

at::Tensor positions_from_mask(const at::Tensor& attention_mask) {
  at::Tensor m = attention_mask.to(at::kLong);
  return (m.cumsum(1) - 1).clamp_min(0);
}

LlamaModel::LlamaModel(ModelConfig config, LlamaWeights weights)
    : config_(std::move(config)), weights_(std::move(weights)) {
  pack_weights(config_, weights_);
  inv_freq_ = rope_inv_freq(config_, weights_.embed.device());
}

void LlamaModel::set_training(bool on) {
  training_ = on;
  if (on) {
    std::lock_guard<std::mutex> lock(panels_mutex_);
    panels_.reset();
    panels_refused_ = false;
  }
}

LlamaWeights& LlamaModel::weights() {
  std::lock_guard<std::mutex> lock(panels_mutex_);
  panels_.reset();
  panels_refused_ = false;
  return weights_;
}

std::shared_ptr<const DecodePanels> LlamaModel::decode_panels() const {
  // Under autograd the kernel would hide the weights from the graph; in training they change.
  if (training_ || c10::GradMode::is_enabled() || !can_use_panels(weights_.lm_head_t)) return nullptr;
  std::lock_guard<std::mutex> lock(panels_mutex_);
  if (!panels_ && !panels_refused_) {
    panels_ = build_decode_panels(weights_);
    panels_refused_ = panels_ == nullptr;
  }
  return panels_;
}

at::Tensor LlamaModel::attention(const LayerWeights& w, const at::Tensor& x, const at::Tensor& cos,
                                 const at::Tensor& sin, const Step& step, size_t layer) const {
  const DecodePanels::Layer* p = step.panels ? &step.panels->layers[layer] : nullptr;
  const int64_t B = x.size(0), T = x.size(1);
  const int64_t NH = config_.num_attention_heads, KV = config_.num_key_value_heads, D = config_.head_dim;
  at::Tensor qkv = w.qkv_b.defined() ? weight_matmul(x, w.qkv_t, p ? &p->qkv : nullptr) + w.qkv_b
                                     : weight_matmul(x, w.qkv_t, p ? &p->qkv : nullptr);  // [B, T, (NH + 2KV) * D]
  // LoRA on q, k and v: one GEMM pair over the fused output, or (dropout) a pair per part below.
  const at::Tensor fused = with_fused_lora(qkv, x, layer, {{"q_proj", NH * D}, {"k_proj", KV * D}, {"v_proj", KV * D}});
  const bool per_part_lora = !fused.defined();
  if (!per_part_lora) qkv = fused;
  // split, not narrow: split's backward is one cat, narrow's a zero-filled [B, T, (NH + 2KV) * D] per block.
  const auto parts = qkv.split_with_sizes({NH * D, KV * D, KV * D}, -1);
  auto lora_part = [&](const at::Tensor& part, const char* target) {
    return per_part_lora ? with_lora(part, x, layer, target) : part;
  };
  at::Tensor q, k;
  at::Tensor v = lora_part(parts[2], "v_proj").view({B, T, KV, D}).transpose(1, 2);  // [B, KV, T, D]
  bool appended = false;                                                             // k and v already in the cache
  if (!per_part_lora && !w.q_norm.defined()) {  // one loop on the CPU, one kernel on CUDA (or neither)
    if (fusable_on_cpu(qkv) && fusable_on_cpu(cos)) {
      std::tie(q, k) = rope_qk_cpu(qkv, cos.squeeze(1), sin.squeeze(1), NH, KV, D);
    } else if (step.append_cache && T == 1) {
      q = rope_qk_append_cuda(qkv, cos.squeeze(1), sin.squeeze(1), NH, KV, D, step.append_cache->k[layer],
                              step.append_cache->v[layer], step.append_col);
      appended = q.defined();
    }
    if (!q.defined()) std::tie(q, k) = rope_qk_cuda(qkv, cos.squeeze(1), sin.squeeze(1), NH, KV, D);
  }
  if (q.defined()) {
    q = q.transpose(1, 2);                   // [B, NH, T, D]
    if (k.defined()) k = k.transpose(1, 2);  // [B, KV, T, D]
  } else {
    q = lora_part(parts[0], "q_proj").view({B, T, NH, D});  // [B, T, NH, D]
    k = lora_part(parts[1], "k_proj").view({B, T, KV, D});
    if (w.q_norm.defined()) {  // Qwen3: each head normalised over D before RoPE
      q = rms_norm(q, w.q_norm, config_.rms_norm_eps);
      k = rms_norm(k, w.k_norm, config_.rms_norm_eps);
    }
    q = q.transpose(1, 2);        // [B, NH, T, D]
    k = k.transpose(1, 2);        // [B, KV, T, D]
    q = apply_rope(q, cos, sin);  // in training one autograd node each
    k = apply_rope(k, cos, sin);
  }
  if (step.update)  // -> all keys/values to attend: [B, KV, S, D]
    std::tie(k, v) = appended ? step.update(layer, at::Tensor(), at::Tensor()) : step.update(layer, k, v);
  at::Tensor out;  // [B, T, NH*D]
  if (step.flash && T == 1) out = decode_flash_attention(q, k, v, *step.flash);
  if (!out.defined() && step.last_key.defined() && T == 1) out = decode_attention_cpu(q, k, v, step.last_key);
  if (!out.defined() && step.mask.defined()) {
    out = masked_attention(q, k, v, step.mask);
  } else if (!out.defined()) {  // training: causal flash attention over each row, or each packed sequence
    out = causal_attention(q, k, v, step.packed);
  }
  if (out.dim() == 4) out = out.transpose(1, 2).reshape({B, T, NH * D});  // SDPA's [B, NH, T, D]
  at::Tensor o = weight_matmul(out, w.o_t, p ? &p->o : nullptr);          // [B, T, H]
  if (w.o_b.defined()) o = o + w.o_b;
  return with_lora(o, out, layer, "o_proj");
}

at::Tensor LlamaModel::with_lora(const at::Tensor& y, const at::Tensor& x, size_t layer, const char* target) const {
  if (!lora_) return y;
  const auto& by_target = lora_->layers[layer];
  auto it = by_target.find(target);
  if (it == by_target.end()) return y;
  const at::Tensor xin = (training_ && lora_->dropout > 0) ? at::dropout(x, lora_->dropout, true) : x;
  return add_lora_delta(y, xin, it->second.a, it->second.b, lora_->scale());
}

at::Tensor LlamaModel::with_fused_lora(const at::Tensor& y, const at::Tensor& x, size_t layer,
                                       std::initializer_list<LoraPart> parts) const {
  if (!lora_) return y;
  const auto& by_target = lora_->layers[layer];
  std::vector<const LoraPair*> pairs;  // per part; null where untargeted
  int64_t R = 0;
  at::TensorOptions factors;  // the factors' dtype and device, for the zero rows
  for (const LoraPart& part : parts) {
    auto it = by_target.find(part.target);
    pairs.push_back(it == by_target.end() ? nullptr : &it->second);
    if (pairs.back()) R += pairs.back()->a.size(0), factors = pairs.back()->b.options();
  }
  if (R == 0) return y;
  if (training_ && lora_->dropout > 0) return {};
  // A: the targeted parts' factors stacked [R, in]; B: [F, R], each part's factor at its rows and
  // its rank's columns, zeros elsewhere (an untargeted part's rows are all zero).
  std::vector<at::Tensor> a_rows, b_rows;
  int64_t before = 0;
  auto pair = pairs.begin();
  for (const LoraPart& part : parts) {
    const LoraPair* p = *pair++;
    if (!p) {
      b_rows.push_back(at::zeros({part.width, R}, factors));
      continue;
    }
    const int64_t r = p->b.size(1);
    a_rows.push_back(p->a);
    b_rows.push_back(at::constant_pad_nd(p->b, {before, R - before - r}));  // [width, R]
    before += r;
  }
  return add_lora_delta(y, x, at::cat(a_rows, 0), at::cat(b_rows, 0), lora_->scale());
}

at::Tensor LlamaModel::run_layers(const at::Tensor& input_ids, const at::Tensor& position_ids, const Step& step) const {
  const auto dtype = weights_.embed.scalar_type();
  // RoPE's cos and sin for the positions, [B, T, D] in the model dtype.
  at::Tensor cos, sin;
  if (step.rope && step.rope->cos.scalar_type() == dtype)
    std::tie(cos, sin) = step.rope->rows(position_ids);
  else
    std::tie(cos, sin) = rope_cos_sin(position_ids, inv_freq_, dtype);
  cos = cos.unsqueeze(1);  // [B, 1, T, D]
  sin = sin.unsqueeze(1);

  at::Tensor h = at::embedding(weights_.embed, input_ids);  // [B, T, H]
  const double eps = config_.rms_norm_eps;
  const size_t n = weights_.layers.size();
  at::Tensor x = n > 0 ? rms_norm(h, weights_.layers[0].input_norm, eps) : h;  // the next block's input [B, T, H]
  for (size_t i = 0; i < n; ++i) {
    const auto& L = weights_.layers[i];
    const DecodePanels::Layer* p = step.panels ? &step.panels->layers[i] : nullptr;
    std::tie(h, x) = add_rms_norm(h, attention(L, x, cos, sin, step, i), L.post_attention_norm, eps);
    const int64_t I = config_.intermediate_size;
    const at::Tensor gate_up = weight_matmul(x, L.gate_up_t, p ? &p->gate_up : nullptr);  // [B, T, 2I]
    const at::Tensor gate_up_lora = with_fused_lora(gate_up, x, i, {{"gate_proj", I}, {"up_proj", I}});
    at::Tensor act;                              // [B, T, I]
    if (!gate_up_lora.defined()) {               // LoRA with dropout: a mask per target, so a pair per half
      const auto halves = gate_up.split(I, -1);  // 2 x [B, T, I]
      act = at::silu(with_lora(halves[0], x, i, "gate_proj")) * with_lora(halves[1], x, i, "up_proj");
    } else {
      act = silu_mul(gate_up_lora, I);  // one kernel on CUDA with the fused kernels; in training one autograd node
    }
    const at::Tensor mlp = with_lora(weight_matmul(act, L.down_t, p ? &p->down : nullptr), act, i, "down_proj");
    if (i + 1 < n)
      std::tie(h, x) = add_rms_norm(h, mlp, weights_.layers[i + 1].input_norm, eps);
    else
      h = h + mlp;
  }
  return h;  // [B, T, H], before the final norm
}

at::Tensor LlamaModel::head(const at::Tensor& h, const DecodePanels* panels) const {
  return weight_matmul(rms_norm(h, weights_.final_norm, config_.rms_norm_eps), weights_.lm_head_t,
                       panels ? &panels->head : nullptr);  // [..., V]
}

at::Tensor LlamaModel::forward(const at::Tensor& input_ids, const at::Tensor& position_ids, const at::Tensor& key_mask,
                               KVCache* cache, bool last_only) const {
  const int64_t B = input_ids.size(0), T = input_ids.size(1);
  const int64_t past = cache ? cache->length : 0, S = past + T;
  if (key_mask.dim() != 2 || key_mask.size(0) != B || key_mask.size(1) != S) {
    throw_runtime("key mask has the wrong shape", {.field = "key_mask",
                                                   .expected = "[" + std::to_string(B) + ", " + std::to_string(S) + "]",
                                                   .found = c10::str(key_mask.sizes())});
  }
  if (cache && S > cache->capacity) {
    throw_runtime("KV cache is full", {.field = "kv_cache",
                                       .expected = "<= " + std::to_string(cache->capacity) + " columns",
                                       .found = std::to_string(S)});
  }
  const auto dev = input_ids.device();
  // Boolean mask [B, 1, T, S]: causal over absolute columns, real keys only. The diagonal is always
  // open so that a padding query has one key (an all-masked row would make SDPA return NaN).
  at::Tensor q_col = at::arange(past, S, at::TensorOptions().dtype(at::kLong).device(dev)).view({T, 1});
  at::Tensor k_col = at::arange(0, S, at::TensorOptions().dtype(at::kLong).device(dev)).view({1, S});
  at::Tensor mask = (k_col <= q_col).unsqueeze(0) & key_mask.to(at::kBool).unsqueeze(1);  // [B, T, S]
  mask = (mask | (k_col == q_col).unsqueeze(0)).unsqueeze(1);

  Step step{.mask = mask};
  if (cache) {  // append T columns at `past`, attend over all S
    step.update = [cache, past, T, S](size_t l, const at::Tensor& k, const at::Tensor& v) {
      cache->k[l].narrow(2, past, T).copy_(k);
      cache->v[l].narrow(2, past, T).copy_(v);
      return std::make_pair(cache->k[l].narrow(2, 0, S), cache->v[l].narrow(2, 0, S));
    };
  }
  // Only a cached forward decodes; the panels are not worth building for a one-off pass.
  const auto panels = cache ? decode_panels() : nullptr;
  step.panels = panels.get();
  at::Tensor h = run_layers(input_ids, position_ids, step);  // [B, T, H]
  if (cache) cache->length = S;
  return head(last_only ? h.slice(1, T - 1) : h, panels.get());
}

at::Tensor LlamaModel::decode_slots(const at::Tensor& ids, const at::Tensor& lens, KVCache& cache,
                                    int64_t width) const {
  const int64_t B = ids.size(0);
  if (cache.k.empty() || cache.k[0].size(0) != B || width > cache.capacity) {
    throw_runtime("decode_slots: cache does not fit the batch",
                  {.field = "kv_cache",
                   .expected = c10::str("batch ", B, ", width <= ", cache.capacity),
                   .found = c10::str("batch ", cache.k.empty() ? 0 : cache.k[0].size(0), ", width ", width)});
  }
  const int64_t NH = config_.num_attention_heads, KV = config_.num_key_value_heads, D = config_.head_dim;
  // Slot b writes its new key/value at column lens[b] and sees columns [0, lens[b]]: [B, 1, 1, W].
  at::Tensor col = at::arange(width, lens.options()).view({1, 1, 1, width});
  at::Tensor write_at = lens.view({B, 1, 1, 1}).expand({B, KV, 1, D});
  const auto panels = decode_panels();
  const at::Tensor open = col <= lens.view({B, 1, 1, 1});  // [B, 1, 1, W]
  // On CUDA the mask goes to SDPA's memory-efficient kernel, which would convert and pad it in every
  // layer, so its bias is made once here. The CPU's decode reads last_key instead.
  Step step{.mask = options().device().is_cuda() ? additive_mask(open, weights_.embed.scalar_type()) : open,
            .last_key = lens,
            .panels = panels.get(),
            .rope = &cache.rope};
  step.append_cache = &cache;
  step.append_col = lens;
  step.update = [&cache, &write_at, width](size_t l, const at::Tensor& k, const at::Tensor& v) {
    if (k.defined()) {
      cache.k[l].scatter_(2, write_at, k);  // k, v: [B, KV, 1, D]
      cache.v[l].scatter_(2, write_at, v);
    }
    return std::make_pair(cache.k[l].narrow(2, 0, width), cache.v[l].narrow(2, 0, width));
  };
  std::optional<DecodeVarlenIndex> flash;
  if (flash_decode_applies(options(), D)) {
    flash = decode_varlen_index(lens, NH, KV, cache.capacity, width);
    step.flash = &*flash;
  }
  return head(run_layers(ids.view({B, 1}), lens.view({B, 1}), step), panels.get()).squeeze(1);  // [B, V]
}

at::Tensor LlamaModel::prefill_right_padded(const at::Tensor& ids, const at::Tensor& lens, KVCache& cache) const {
  const int64_t B = ids.size(0), T = ids.size(1);
  if (cache.k.empty() || cache.k[0].size(0) != B || T > cache.capacity) {
    throw_runtime("prefill: cache does not fit the batch", {.field = "kv_cache"});
  }
  const auto lopts = at::TensorOptions().dtype(at::kLong).device(ids.device());
  at::Tensor col = at::arange(T, lopts);
  at::Tensor positions = col.view({1, T}).expand({B, T});
  // Causal over the T tokens, with no mask tensor (flash kernels, grouped heads read in place):
  // padding sits after each row's tokens, so no real token sees it.
  const auto panels = decode_panels();  // for the head's few rows here, and the decode steps to come
  Step step{.panels = panels.get(), .rope = &cache.rope};
  step.update = [&cache, T](size_t l, const at::Tensor& k, const at::Tensor& v) {
    cache.k[l].narrow(2, 0, T).copy_(k);
    cache.v[l].narrow(2, 0, T).copy_(v);
    return std::make_pair(k, v);
  };
  cache.length = T;
  at::Tensor h = run_layers(ids, positions, step);  // [B, T, H]
  at::Tensor last = (lens - 1).view({-1, 1, 1}).expand({B, 1, h.size(2)});
  return head(h.gather(1, last), panels.get()).squeeze(1);  // each row's last real token: [B, V]
}

LlamaModel::PackedPrefill LlamaModel::prefill_packed(const at::Tensor& ids, const std::vector<int64_t>& lengths,
                                                     const std::vector<SharedStart>& shared,
                                                     const std::vector<CachedStart>& cached) const {
  std::vector<int64_t> cached_tokens;
  for (const CachedStart& c : cached) cached_tokens.push_back(c.tokens);
  const PrefillLayout layout = prefill_layout(lengths, shared, cached_tokens);
  const int64_t L = layout.rows(), U = layout.unique_rows();
  if (ids.dim() != 2 || ids.size(0) != 1 || ids.size(1) != L)
    throw_runtime("prefill: packed ids do not match their lengths",
                  {.field = "ids", .expected = c10::str("[1, ", L, "]"), .found = c10::str(ids.sizes())});
  // The cached rows of every layer, [1, KV, E, D], in the layout's order.
  std::vector<at::Tensor> cached_k, cached_v;
  if (layout.cached_rows > 0) {
    for (size_t b = 0; b < cached.size(); ++b)
      if (cached[b].tokens > 0) check_cached_start(cached[b], b, config_, options());
    cached_k = cached_rows(cached, &CachedStart::k, config_.num_hidden_layers);
    cached_v = cached_rows(cached, &CachedStart::v, config_.num_hidden_layers);
  }
  const c10::Device device = ids.device();
  PackedSequences packed = pack_sequences(lengths, device);
  at::Tensor kv_of_row;  // [L]: the row of [new | cached] keys and values each row reads
  if (U < L) {
    kv_of_row = upload(layout.kv_of_row, device);
    if (device.is_cuda()) packed.query_of_row = upload(layout.query_of_row, device);  // for the varlen kernel
    packed.row_of_unique = upload(layout.row_of_unique, device);
    packed.computed = layout.computed;
  }
  const auto panels = decode_panels();  // for the head's few rows here, and the decode steps to come
  PackedPrefill out;
  out.computed_tokens = U;
  Step step{.panels = panels.get(), .packed = &packed};
  step.update = [&](size_t l, const at::Tensor& k, const at::Tensor& v) {  // [1, KV, U, D] each
    if (U == L) {
      out.k.push_back(k.contiguous());
      out.v.push_back(v.contiguous());
    } else {  // spread over the layout's L rows: what the caller copies from, and what attention reads
      out.k.push_back((cached_k.empty() ? k : at::cat({k, cached_k[l]}, 2)).index_select(2, kv_of_row));
      out.v.push_back((cached_v.empty() ? v : at::cat({v, cached_v[l]}, 2)).index_select(2, kv_of_row));
    }
    return std::make_pair(out.k.back(), out.v.back());
  };
  const at::Tensor unique_ids = U < L ? ids.index_select(1, packed.row_of_unique) : ids;                 // [1, U]
  at::Tensor h = run_layers(unique_ids, upload(layout.positions, device).view({1, U}), step);            // [1, U, H]
  out.last_logits = head(h.squeeze(0).index_select(0, upload(layout.last_rows, device)), panels.get());  // [B, V]
  return out;
}

at::Tensor LlamaModel::forward_causal(const at::Tensor& input_ids, const at::Tensor& rows) const {
  const int64_t B = input_ids.size(0), T = input_ids.size(1);
  at::Tensor positions = at::arange(T, at::TensorOptions().dtype(at::kLong).device(input_ids.device())).expand({B, T});
  at::Tensor h = run_layers(input_ids, positions, Step{});                    // [B, T, H]
  if (!rows.defined()) return head(h, nullptr);                               // [B, T, V]
  return head(h.reshape({B * T, h.size(2)}).index_select(0, rows), nullptr);  // [N, V]
}

at::Tensor LlamaModel::forward_packed(const at::Tensor& input_ids, const at::Tensor& positions,
                                      const std::vector<int64_t>& lengths, const at::Tensor& rows) const {
  int64_t total = 0;
  for (const int64_t n : lengths) total += n;
  if (input_ids.dim() != 2 || input_ids.size(0) != 1 || input_ids.size(1) != total ||
      positions.sizes() != input_ids.sizes()) {
    throw_runtime("packed batch does not match its lengths",
                  {.field = "input_ids",
                   .expected = c10::str("[1, ", total, "] ids and positions"),
                   .found = c10::str(input_ids.sizes(), " ids, ", positions.sizes(), " positions")});
  }
  const PackedSequences packed = pack_sequences(lengths, input_ids.device());
  at::Tensor h = run_layers(input_ids, positions, Step{.packed = &packed});  // [1, L, H]
  return head(h.squeeze(0).index_select(0, rows), nullptr);                  // [N, V]
}

at::Tensor LlamaModel::forward_padded(const at::Tensor& input_ids, const at::Tensor& attention_mask) const {
  return forward(input_ids, positions_from_mask(attention_mask), attention_mask, nullptr, false);
}

}  // namespace s2d
