#include "s2d/model/decode_flash_attention.h"

#include <ATen/ATen.h>

#include <atomic>

#include "s2d/model/varlen_attention.h"
#include "s2d/util/env_switch.h"

namespace s2d {

namespace {
EnvSwitch g_flash_decode("S2D_CUDA_FLASH_DECODE");
std::atomic<bool> g_refused{false};  // the GPU refused once: it will again
}  // namespace

void set_flash_decode(bool on) { g_flash_decode.set(on); }

bool flash_decode_applies(const at::TensorOptions& model, int64_t D) {
  const auto t = model.dtype().toScalarType();
  return g_flash_decode.on() && model.device().is_cuda() && (t == at::kBFloat16 || t == at::kHalf) && D % 8 == 0 &&
         D <= 256 && !g_refused.load();
}

DecodeVarlenIndex decode_varlen_index(const at::Tensor& lens, int64_t NH, int64_t KV, int64_t C, int64_t W) {
  TORCH_CHECK(KV > 0 && NH % KV == 0 && W <= C, "decode_varlen_index: NH ", NH, ", KV ", KV, ", W ", W, ", C ", C);
  const int64_t B = lens.size(0), G = NH / KV;
  const at::Tensor seq = at::arange(B * KV + 1, lens.options().dtype(at::kInt));  // [B*KV + 1]
  DecodeVarlenIndex index;
  index.cu_q = seq * static_cast<int32_t>(G);
  index.cu_k = seq * static_cast<int32_t>(C);
  // Slot b's length for each of its KV sequences: [B] -> [B, KV] -> [B*KV].
  index.used_k = (lens + 1).to(at::kInt).view({B, 1}).expand({B, KV}).contiguous().view({B * KV});
  index.group = G;
  index.columns = C;
  index.width = W;
  return index;
}

DecodeVarlenRows decode_varlen_rows(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int64_t C) {
  const int64_t B = q.size(0), NH = q.size(1), D = q.size(3), KV = k.size(1);
  auto cache_rows = [&](const at::Tensor& t, const char* name) {
    TORCH_CHECK(t.dim() == 4 && t.stride(3) == 1 && t.stride(2) == D && t.stride(1) == C * D &&
                    (B == 1 || t.stride(0) == KV * C * D),
                "decode_varlen_rows: ", name, " is not a view of a [B, KV, ", C, ", ", D, "] cache: sizes ", t.sizes(),
                ", strides ", t.strides());
    return t.as_strided({B * KV * C, 1, D}, {D, D, 1}, t.storage_offset());  // [B*KV*C, 1, D]
  };
  TORCH_CHECK(q.size(2) == 1, "decode_varlen_rows: one query per slot, found ", q.sizes());
  // [B, NH, 1, D] -> [B*NH, 1, D]: row b * NH + h, which is sequence (b * KV + h / G)'s row h % G.
  return {q.reshape({B * NH, 1, D}), cache_rows(k, "k"), cache_rows(v, "v")};
}

at::Tensor decode_flash_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                  const DecodeVarlenIndex& index) {
  const int64_t B = q.size(0), NH = q.size(1), D = q.size(3);
  const DecodeVarlenRows rows = decode_varlen_rows(q, k, v, index.columns);
  return unless_refused(g_refused, "decode attends over the masked slot width", [&] {
    const at::Tensor out = std::get<0>(at::_flash_attention_forward(
        rows.q, rows.k, rows.v, index.cu_q, index.cu_k, index.group, index.width, /*dropout_p=*/0.0,
        /*is_causal=*/false, /*return_debug_mask=*/false, /*scale=*/std::nullopt, /*window_size_left=*/std::nullopt,
        /*window_size_right=*/std::nullopt, index.used_k));  // [B*NH, 1, D]
    return out.reshape({B, 1, NH * D});
  });
}

}  // namespace s2d
