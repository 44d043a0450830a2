#include "s2d/model/fused_cuda_ops.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include "s2d/util/env_switch.h"
#include "s2d/version.h"

#if S2D_CUDA_KERNELS_BUILD
#include <c10/cuda/CUDAStream.h>

#include "cuda/fused_kernels.h"
#include "cuda/train_kernels.h"
#endif

namespace s2d {

namespace {
EnvSwitch g_fused("S2D_CUDA_FUSED");
}  // namespace

bool cuda_fused_kernels_built() { return S2D_CUDA_KERNELS_BUILD != 0; }

void set_cuda_fused_kernels(bool on) { g_fused.set(on); }

namespace {
bool float_type(at::ScalarType t) { return t == at::kFloat || t == at::kBFloat16 || t == at::kHalf; }
// A CUDA tensor of a dtype the kernels take, with the kernels built and switched on.
bool kernels_take(const at::Tensor& x) {
  if (!cuda_fused_kernels_built() || !x.defined() || !x.is_cuda()) return false;
  return g_fused.on() && float_type(x.scalar_type());
}
}  // namespace

bool fusable_on_cuda(const at::Tensor& x) {
  return kernels_take(x) && x.is_contiguous() && !(c10::GradMode::is_enabled() && x.requires_grad());
}

#if S2D_CUDA_KERNELS_BUILD

namespace {
cuda_kernels::DType dtype_of(at::ScalarType t) {
  switch (t) {
    case at::kBFloat16: return cuda_kernels::DType::BF16;
    case at::kHalf: return cuda_kernels::DType::F16;
    default: return cuda_kernels::DType::F32;
  }
}
cuda_kernels::DType dtype_of(const at::Tensor& x) { return dtype_of(x.scalar_type()); }
void* current_stream() { return c10::cuda::getCurrentCUDAStream().stream(); }
void check_launch(int err, const char* kernel) {
  TORCH_CHECK(err == 0, "s2d fused CUDA kernel ", kernel,
              " did not launch: ", cudaGetErrorString(static_cast<cudaError_t>(err)));
}
bool same_kind(const at::Tensor& a, const at::Tensor& b) {
  return fusable_on_cuda(b) && a.scalar_type() == b.scalar_type() && a.device() == b.device();
}

bool norm_applies(const at::Tensor& x, const at::Tensor& weight) {
  return fusable_on_cuda(x) && same_kind(x, weight) && x.dim() >= 1 && weight.numel() == x.size(-1) && x.numel() > 0;
}
// x [..., H] scaled by rsqrt(var + eps) and the weight, var [rows] fp32: the norm after its mean.
at::Tensor scale_rows(const at::Tensor& x, const at::Tensor& var, const at::Tensor& weight, double eps) {
  const int64_t H = x.size(-1), rows = x.numel() / H;
  at::Tensor out = at::empty_like(x);
  check_launch(cuda_kernels::rms_norm_scale(x.const_data_ptr(), var.const_data_ptr<float>(), weight.const_data_ptr(),
                                            out.mutable_data_ptr(), rows, H, static_cast<float>(eps), dtype_of(x),
                                            current_stream()),
               "rms_norm_scale");
  return out;
}
// What rope_qk's kernels take: qkv [B, T, (NH + 2 KV) * D] and cos, sin [B, T, D] of its kind.
bool rope_applies(const at::Tensor& qkv, const at::Tensor& cos, const at::Tensor& sin, int64_t NH, int64_t KV,
                  int64_t D) {
  return fusable_on_cuda(qkv) && same_kind(qkv, cos) && same_kind(qkv, sin) && qkv.dim() == 3 &&
         qkv.size(2) == (NH + 2 * KV) * D && D % 2 == 0 && cos.numel() == qkv.size(0) * qkv.size(1) * D &&
         sin.numel() == cos.numel();
}
}  // namespace

at::Tensor rms_norm_cuda(const at::Tensor& x, const at::Tensor& weight, double eps) {
  if (!norm_applies(x, weight)) return {};
  const at::Tensor var = x.to(at::kFloat).pow(2).mean(-1).contiguous();  // [rows] fp32: ATen's summation order
  return scale_rows(x, var, weight, eps);
}

std::pair<at::Tensor, at::Tensor> add_rms_norm_cuda(const at::Tensor& h, const at::Tensor& d, const at::Tensor& weight,
                                                    double eps) {
  if (!norm_applies(h, weight) || !same_kind(h, d) || h.sizes() != d.sizes()) return {};
  at::Tensor sum = at::empty_like(h), sq = at::empty(h.sizes(), h.options().dtype(at::kFloat));
  check_launch(cuda_kernels::add_square(h.const_data_ptr(), d.const_data_ptr(), sum.mutable_data_ptr(),
                                        sq.mutable_data_ptr<float>(), h.numel(), dtype_of(h), current_stream()),
               "add_square");
  return {sum, scale_rows(sum, sq.mean(-1).contiguous(), weight, eps)};  // sq's mean: the chain's
}

at::Tensor silu_mul_cuda(const at::Tensor& gate_up, int64_t I) {
  if (!fusable_on_cuda(gate_up) || gate_up.dim() < 1 || gate_up.size(-1) != 2 * I || I == 0) return {};
  std::vector<int64_t> shape(gate_up.sizes().begin(), gate_up.sizes().end());
  shape.back() = I;
  at::Tensor out = at::empty(shape, gate_up.options());
  const int64_t rows = gate_up.numel() / (2 * I);
  if (rows == 0) return out;
  check_launch(cuda_kernels::silu_mul(gate_up.const_data_ptr(), out.mutable_data_ptr(), rows, I, dtype_of(gate_up),
                                      current_stream()),
               "silu_mul");
  return out;
}

std::pair<at::Tensor, at::Tensor> rope_qk_cuda(const at::Tensor& qkv, const at::Tensor& cos, const at::Tensor& sin,
                                               int64_t NH, int64_t KV, int64_t D) {
  if (!rope_applies(qkv, cos, sin, NH, KV, D)) return {};
  const int64_t B = qkv.size(0), T = qkv.size(1);
  at::Tensor q = at::empty({B, T, NH, D}, qkv.options()), k = at::empty({B, T, KV, D}, qkv.options());
  if (B * T == 0) return {q, k};
  check_launch(
      cuda_kernels::rope_qk(qkv.const_data_ptr(), cos.const_data_ptr(), sin.const_data_ptr(), q.mutable_data_ptr(),
                            k.mutable_data_ptr(), B * T, NH, KV, D, dtype_of(qkv), current_stream()),
      "rope_qk");
  return {q, k};
}

at::Tensor rope_qk_append_cuda(const at::Tensor& qkv, const at::Tensor& cos, const at::Tensor& sin, int64_t NH,
                               int64_t KV, int64_t D, at::Tensor& k_cache, at::Tensor& v_cache, const at::Tensor& pos) {
  if (!rope_applies(qkv, cos, sin, NH, KV, D) || qkv.size(1) != 1 || !same_kind(qkv, k_cache) ||
      !same_kind(qkv, v_cache))
    return {};
  const int64_t B = qkv.size(0);
  if (B == 0 || k_cache.dim() != 4 || k_cache.size(0) != B || k_cache.size(1) != KV || k_cache.size(3) != D ||
      !v_cache.sizes().equals(k_cache.sizes()) || !pos.is_cuda() || pos.scalar_type() != at::kLong ||
      pos.numel() != B || !pos.is_contiguous())
    return {};
  at::Tensor q = at::empty({B, 1, NH, D}, qkv.options());
  check_launch(cuda_kernels::rope_qk_append(qkv.const_data_ptr(), cos.const_data_ptr(), sin.const_data_ptr(),
                                            pos.const_data_ptr<int64_t>(), q.mutable_data_ptr(),
                                            k_cache.mutable_data_ptr(), v_cache.mutable_data_ptr(), B, NH, KV, D,
                                            k_cache.size(2), dtype_of(qkv), current_stream()),
               "rope_qk_append");
  return q;
}

at::Tensor silu_mul_backward_cuda(const at::Tensor& gate_up, const at::Tensor& grad, int64_t I) {
  if (!fusable_on_cuda(gate_up) || gate_up.dim() < 1 || gate_up.size(-1) != 2 * I || I == 0 || !kernels_take(grad) ||
      grad.scalar_type() != gate_up.scalar_type() || grad.numel() * 2 != gate_up.numel())
    return {};
  const at::Tensor dy = grad.contiguous();
  at::Tensor out = at::empty_like(gate_up);
  const int64_t rows = gate_up.numel() / (2 * I);
  if (rows == 0) return out;
  check_launch(cuda_kernels::silu_mul_backward(gate_up.const_data_ptr(), dy.const_data_ptr(), out.mutable_data_ptr(),
                                               rows, I, dtype_of(gate_up), current_stream()),
               "silu_mul_backward");
  return out;
}

namespace {
// What the fp32-table RoPE kernels take: t [B, H, T, D] with unit stride over D, and cos, sin
// [B, 1, T, D] fp32 contiguous on its device.
bool rope_fp32_tables_apply(const at::Tensor& t, const at::Tensor& cos, const at::Tensor& sin) {
  if (!kernels_take(t) || t.dim() != 4 || t.stride(3) != 1 || t.size(3) % 2 != 0) return false;
  const std::vector<int64_t> table{t.size(0), 1, t.size(2), t.size(3)};
  for (const at::Tensor* c : {&cos, &sin})
    if (!kernels_take(*c) || c->scalar_type() != at::kFloat || c->sizes() != table || !c->is_contiguous() ||
        c->device() != t.device())
      return false;
  return true;
}
}  // namespace

at::Tensor rope_fp32_tables_cuda(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  if (!rope_fp32_tables_apply(x, cos, sin)) return {};
  const int64_t B = x.size(0), H = x.size(1), T = x.size(2), D = x.size(3);
  at::Tensor out = at::empty({B, T, H, D}, x.options().dtype(at::kFloat));
  if (out.numel() > 0)
    check_launch(
        cuda_kernels::rope_fp32_tables(x.const_data_ptr(), x.stride(0), x.stride(1), x.stride(2),
                                       cos.const_data_ptr<float>(), sin.const_data_ptr<float>(),
                                       out.mutable_data_ptr<float>(), B, H, T, D, dtype_of(x), current_stream()),
        "rope_fp32_tables");
  return out.transpose(1, 2);  // [B, H, T, D]
}

at::Tensor rope_fp32_tables_backward_cuda(const at::Tensor& grad, const at::Tensor& cos, const at::Tensor& sin,
                                          at::ScalarType x_dtype) {
  if (grad.scalar_type() != at::kFloat || !rope_fp32_tables_apply(grad, cos, sin) ||
      !(x_dtype == at::kFloat || x_dtype == at::kBFloat16 || x_dtype == at::kHalf))
    return {};
  const int64_t B = grad.size(0), H = grad.size(1), T = grad.size(2), D = grad.size(3);
  at::Tensor out = at::empty({B, T, H, D}, grad.options().dtype(x_dtype));
  if (out.numel() > 0)
    check_launch(cuda_kernels::rope_fp32_tables_backward(grad.const_data_ptr<float>(), grad.stride(0), grad.stride(1),
                                                         grad.stride(2), cos.const_data_ptr<float>(),
                                                         sin.const_data_ptr<float>(), out.mutable_data_ptr(), B, H, T,
                                                         D, dtype_of(out), current_stream()),
                 "rope_fp32_tables_backward");
  return out.transpose(1, 2);  // [B, H, T, D]
}

bool add_rms_norm_train_applies(const at::Tensor& h, const at::Tensor& d, const at::Tensor& weight,
                                at::ScalarType y_dtype) {
  return kernels_take(h) && kernels_take(d) && kernels_take(weight) && float_type(y_dtype) && h.dim() >= 1 &&
         h.sizes() == d.sizes() && h.is_contiguous() && d.is_contiguous() && weight.is_contiguous() &&
         d.device() == h.device() && weight.device() == h.device() && weight.scalar_type() == h.scalar_type() &&
         at::promote_types(h.scalar_type(), d.scalar_type()) == h.scalar_type() && weight.numel() == h.size(-1) &&
         h.numel() > 0;
}

AddRmsNormForward add_rms_norm_train_cuda(const at::Tensor& h, const at::Tensor& d, const at::Tensor& weight,
                                          double eps, at::ScalarType y_dtype) {
  if (!add_rms_norm_train_applies(h, d, weight, y_dtype)) return {};
  const int64_t H = h.size(-1), rows = h.numel() / H;
  AddRmsNormForward f{at::empty_like(h), at::empty(h.sizes(), h.options().dtype(y_dtype)),
                      at::empty({rows}, h.options().dtype(at::kFloat))};
  check_launch(cuda_kernels::add_rms_norm_forward(h.const_data_ptr(), d.const_data_ptr(), weight.const_data_ptr(),
                                                  f.s.mutable_data_ptr(), f.y.mutable_data_ptr(),
                                                  f.rstd.mutable_data_ptr<float>(), rows, H, static_cast<float>(eps),
                                                  dtype_of(h), dtype_of(d), dtype_of(y_dtype), current_stream()),
               "add_rms_norm_forward");
  return f;
}

AddRmsNormGrads add_rms_norm_train_backward_cuda(const at::Tensor& gy, const at::Tensor& gs, const at::Tensor& s,
                                                 const at::Tensor& weight, const at::Tensor& rstd,
                                                 at::ScalarType d_dtype, bool weight_grad) {
  const int64_t H = s.size(-1), rows = s.numel() / H;
  const at::Tensor g = gy.contiguous(), from_s = gs.defined() ? gs.to(s.scalar_type()).contiguous() : at::Tensor();
  AddRmsNormGrads out;
  out.gh = at::empty_like(s);
  const bool separate_gd = d_dtype != s.scalar_type();
  if (separate_gd) out.gd = at::empty(s.sizes(), s.options().dtype(d_dtype));
  at::Tensor partial;
  if (weight_grad)
    partial = at::empty({cuda_kernels::add_rms_norm_backward_blocks(rows), H}, s.options().dtype(at::kFloat));
  check_launch(
      cuda_kernels::add_rms_norm_backward(g.const_data_ptr(), from_s.defined() ? from_s.const_data_ptr() : nullptr,
                                          s.const_data_ptr(), weight.const_data_ptr(), rstd.const_data_ptr<float>(),
                                          out.gh.mutable_data_ptr(), separate_gd ? out.gd.mutable_data_ptr() : nullptr,
                                          weight_grad ? partial.mutable_data_ptr<float>() : nullptr, rows, H,
                                          dtype_of(s), dtype_of(d_dtype), dtype_of(g), current_stream()),
      "add_rms_norm_backward");
  if (!separate_gd) out.gd = out.gh;
  if (weight_grad) out.gw = partial.sum(0).to(weight.scalar_type());
  return out;
}

#else  // no kernels in this build: every caller runs its ATen chain

at::Tensor rms_norm_cuda(const at::Tensor&, const at::Tensor&, double) { return {}; }
std::pair<at::Tensor, at::Tensor> add_rms_norm_cuda(const at::Tensor&, const at::Tensor&, const at::Tensor&, double) {
  return {};
}
at::Tensor rope_qk_append_cuda(const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t, int64_t, int64_t,
                               at::Tensor&, at::Tensor&, const at::Tensor&) {
  return {};
}
at::Tensor silu_mul_cuda(const at::Tensor&, int64_t) { return {}; }
std::pair<at::Tensor, at::Tensor> rope_qk_cuda(const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t,
                                               int64_t, int64_t) {
  return {};
}
at::Tensor silu_mul_backward_cuda(const at::Tensor&, const at::Tensor&, int64_t) { return {}; }
at::Tensor rope_fp32_tables_cuda(const at::Tensor&, const at::Tensor&, const at::Tensor&) { return {}; }
at::Tensor rope_fp32_tables_backward_cuda(const at::Tensor&, const at::Tensor&, const at::Tensor&, at::ScalarType) {
  return {};
}
bool add_rms_norm_train_applies(const at::Tensor&, const at::Tensor&, const at::Tensor&, at::ScalarType) {
  return false;
}
AddRmsNormForward add_rms_norm_train_cuda(const at::Tensor&, const at::Tensor&, const at::Tensor&, double,
                                          at::ScalarType) {
  return {};
}
AddRmsNormGrads add_rms_norm_train_backward_cuda(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                                 const at::Tensor&, const at::Tensor&, at::ScalarType, bool) {
  return {};
}

#endif

}  // namespace s2d
