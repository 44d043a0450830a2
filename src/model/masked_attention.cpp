#include "s2d/model/masked_attention.h"

#include <ATen/ATen.h>

namespace s2d {

namespace {
at::Tensor sdpa(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask) {
  return at::scaled_dot_product_attention(q, k, v, mask, /*dropout_p=*/0.0, /*is_causal=*/false);
}
}  // namespace

at::Tensor masked_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask) {
  const int64_t B = q.size(0), NH = q.size(1), T = q.size(2), D = q.size(3), KV = k.size(1), S = k.size(2);
  if (NH == KV) return sdpa(q, k, v, mask);
  const int64_t G = NH / KV;
  if (T == 1) {
    at::Tensor rows = q.reshape({B, KV, G, D});            // head h = j * G + g -> [b, j, g]
    return sdpa(rows, k, v, mask).reshape({B, NH, 1, D});  // [B, KV, G, D] -> [B, NH, 1, D]
  }
  auto repeat = [&](const at::Tensor& x) {  // [B, KV, S, D] -> [B, NH, S, D]
    return x.unsqueeze(2).expand({B, KV, G, S, D}).reshape({B, NH, S, D});
  };
  return sdpa(q, repeat(k), repeat(v), mask);
}

}  // namespace s2d
