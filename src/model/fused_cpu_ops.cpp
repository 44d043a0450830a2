#include "s2d/model/fused_cpu_ops.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "s2d/model/decode_attention_kernel.h"

namespace s2d {

bool fusable_on_cpu(const at::Tensor& x) {
  return x.defined() && x.device().is_cpu() && x.scalar_type() == at::kFloat && x.is_contiguous() &&
         !(c10::GradMode::is_enabled() && x.requires_grad());
}

at::Tensor rms_norm_cpu(const at::Tensor& x, const at::Tensor& weight, double eps) {
  const int64_t H = x.size(-1), rows = x.numel() / H;
  // The mean of squares through ATen's own reduction: its summation order is what HF's logits
  // carry, and on a 30-layer model a mean summed in another order moves the logits by ~6e-4.
  const at::Tensor var = x.pow(2).mean(-1).contiguous();  // [rows]
  at::Tensor out = at::empty_like(x);
  const float* xp = x.const_data_ptr<float>();
  const float* vp = var.const_data_ptr<float>();
  const float* wp = weight.const_data_ptr<float>();
  float* op = out.mutable_data_ptr<float>();
  const auto e = static_cast<float>(eps);  // ATen adds a double scalar to a float tensor in float
  // Rows apart across the threads (a prefill's thousands); a decode step's few rows stay on one.
  at::parallel_for(0, rows, std::max<int64_t>(1, at::internal::GRAIN_SIZE / H), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float inv = 1.0f / std::sqrt(vp[r] + e);  // ATen's float rsqrt: correctly rounded sqrt, then 1/x
      const float* xr = xp + r * H;
      float* orow = op + r * H;
      for (int64_t i = 0; i < H; ++i) orow[i] = wp[i] * (xr[i] * inv);
    }
  });
  return out;
}

std::pair<at::Tensor, at::Tensor> rope_qk_cpu(const at::Tensor& qkv, const at::Tensor& cos, const at::Tensor& sin,
                                              int64_t NH, int64_t KV, int64_t D) {
  const int64_t B = qkv.size(0), T = qkv.size(1), F = qkv.size(2), half = D / 2;
  at::Tensor q = at::empty({B, T, NH, D}, qkv.options()), k = at::empty({B, T, KV, D}, qkv.options());
  const float* src = qkv.const_data_ptr<float>();
  const float* cp = cos.const_data_ptr<float>();
  const float* sp = sin.const_data_ptr<float>();
  float* qp = q.mutable_data_ptr<float>();
  float* kp = k.mutable_data_ptr<float>();
  // Heads 0..NH-1 are q, NH..NH+KV-1 are k: x * cos + rotate_half(x) * sin, rotate_half(x) = [-x2, x1].
  // Token rows apart across the threads, as in rms_norm_cpu.
  const int64_t grain = std::max<int64_t>(1, at::internal::GRAIN_SIZE / ((NH + KV) * D));
  at::parallel_for(0, B * T, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t bt = r0; bt < r1; ++bt) {
      const float* c = cp + bt * D;
      const float* s = sp + bt * D;
      for (int64_t h = 0; h < NH + KV; ++h) {
        const float* x = src + bt * F + h * D;
        float* o = h < NH ? qp + (bt * NH + h) * D : kp + (bt * KV + h - NH) * D;
        for (int64_t i = 0; i < half; ++i) o[i] = x[i] * c[i] + (-x[i + half]) * s[i];
        for (int64_t i = half; i < D; ++i) o[i] = x[i] * c[i] + x[i - half] * s[i];
      }
    }
  });
  return {q, k};
}

namespace {
// [B, KV, W, D] columns of a contiguous [B, KV, C, D] cache.
bool cache_columns(const at::Tensor& t, int64_t B, int64_t KV, int64_t D) {
  return t.device().is_cpu() && t.scalar_type() == at::kFloat && t.dim() == 4 && t.size(0) == B && t.size(1) == KV &&
         t.size(3) == D && t.stride(3) == 1 && t.stride(2) == D && t.stride(1) >= t.size(2) * D &&
         t.stride(1) % D == 0 && t.stride(0) == KV * t.stride(1) && !(c10::GradMode::is_enabled() && t.requires_grad());
}
}  // namespace

at::Tensor decode_attention_cpu(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& last) {
  const few_rows::Simd simd = few_rows::detect();
  if (simd == few_rows::Simd::None || q.dim() != 4 || q.size(2) != 1) return {};
  const int64_t B = q.size(0), NH = q.size(1), D = q.size(3), KV = k.dim() == 4 ? k.size(1) : 0;
  const at::Tensor q_rows = q.transpose(1, 2);  // [B, 1, NH, D]
  if (!fusable_on_cpu(q_rows) || KV == 0 || NH % KV != 0 || D % few_rows::head_dim_multiple(simd) != 0 ||
      !cache_columns(k, B, KV, D) || !cache_columns(v, B, KV, D) || k.stride(1) != v.stride(1) ||
      !last.device().is_cpu() || last.scalar_type() != at::kLong || !last.is_contiguous() || last.numel() != B)
    return {};
  const int64_t W = k.size(2), C = k.stride(1) / D;
  const int64_t* lp = last.const_data_ptr<int64_t>();
  for (int64_t b = 0; b < B; ++b)
    if (lp[b] < 0 || lp[b] >= W) return {};
  at::Tensor out = at::empty({B, 1, NH * D}, q.options());
  const float* qp = q_rows.const_data_ptr<float>();
  const float* kp = k.const_data_ptr<float>();
  const float* vp = v.const_data_ptr<float>();
  float* op = out.mutable_data_ptr<float>();
  const auto scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(D)));
  at::parallel_for(0, B * NH, /*grain_size=*/1, [&](int64_t i0, int64_t i1) {
    std::vector<float> scores(static_cast<size_t>(W));
    few_rows::decode_attention(simd, qp, kp, vp, lp, NH, KV, C, D, scale, i0, i1, op, scores.data());
  });
  return out;
}

}  // namespace s2d
