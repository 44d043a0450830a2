#include "s2d/model/masked_attention.h"

#include <ATen/ATen.h>

#include <limits>
#include <vector>

namespace s2d {

namespace {
at::Tensor sdpa(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask) {
  return at::scaled_dot_product_attention(q, k, v, mask, /*dropout_p=*/0.0, /*is_causal=*/false);
}
}  // namespace

at::Tensor masked_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask) {
  const int64_t B = q.size(0), NH = q.size(1), T = q.size(2), D = q.size(3), KV = k.size(1);
  if (NH == KV) return sdpa(q, k, v, mask);
  const int64_t G = NH / KV;
  if (T == 1) {
    at::Tensor rows = q.reshape({B, KV, G, D});            // head h = j * G + g -> [b, j, g]
    return sdpa(rows, k, v, mask).reshape({B, NH, 1, D});  // [B, KV, G, D] -> [B, NH, 1, D]
  }
  return sdpa(q, repeat_kv(k, G), repeat_kv(v, G), mask);
}

at::Tensor additive_mask(const at::Tensor& mask, at::ScalarType dtype) {
  constexpr int64_t kAlign = 8;  // what SDPA's memory-efficient path wants of a bias's strides
  const int64_t S = mask.size(-1);
  std::vector<int64_t> shape(mask.sizes().begin(), mask.sizes().end());
  shape.back() = (S + kAlign - 1) / kAlign * kAlign;
  at::Tensor bias = at::empty(shape, mask.options().dtype(dtype)).narrow(-1, 0, S);
  // fill_ and masked_fill_ take their values as kernel arguments: no scalar tensor to copy to the
  // device (a host-to-device copy would wait for the queue, and breaks a CUDA graph's capture).
  bias.fill_(-std::numeric_limits<double>::infinity()).masked_fill_(mask, 0.0);
  return bias;
}

at::Tensor repeat_kv(const at::Tensor& x, int64_t groups) {
  if (groups == 1) return x;
  const int64_t B = x.size(0), KV = x.size(1), S = x.size(2), D = x.size(3);
  return x.unsqueeze(2).expand({B, KV, groups, S, D}).reshape({B, KV * groups, S, D});
}

}  // namespace s2d
