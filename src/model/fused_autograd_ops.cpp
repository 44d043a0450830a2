#include "s2d/model/fused_autograd_ops.h"

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/custom_function.h>

#include "s2d/model/fused_cuda_ops.h"

namespace s2d {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

bool recording(const at::Tensor& x) { return c10::GradMode::is_enabled() && x.requires_grad(); }

at::Tensor silu_mul_forward(const at::Tensor& gate_up, int64_t I) {
  if (at::Tensor y = silu_mul_cuda(gate_up, I); y.defined()) return y;
  const auto halves = gate_up.split(I, -1);  // 2 x [..., I]
  return at::silu(halves[0]) * halves[1];
}

// The chain's gradient: mul's (grad * up for silu(gate), grad * silu(gate) for up), then
// silu_backward, each written into its half of one [..., 2 I] tensor.
at::Tensor silu_mul_backward(const at::Tensor& gate_up, const at::Tensor& grad, int64_t I) {
  if (at::Tensor g = silu_mul_backward_cuda(gate_up, grad, I); g.defined()) return g;
  const auto halves = gate_up.split(I, -1);
  at::Tensor out = at::empty_like(gate_up, at::MemoryFormat::Contiguous);
  const auto parts = out.split(I, -1);
  at::Tensor d_gate = parts[0], d_up = parts[1];
  at::mul_out(d_up, grad, at::silu(halves[0]));
  at::silu_backward_out(d_gate, grad * halves[1], halves[0]);
  return out;
}

struct SiluMul : torch::autograd::Function<SiluMul> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& gate_up, int64_t I) {
    ctx->save_for_backward({gate_up});
    ctx->saved_data["I"] = I;
    return silu_mul_forward(gate_up, I);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    if (!grads[0].defined()) return {at::Tensor(), at::Tensor()};
    const at::Tensor gate_up = ctx->get_saved_variables()[0];
    return {silu_mul_backward(gate_up, grads[0], ctx->saved_data["I"].toInt()), at::Tensor()};
  }
};

// [x1, x2] -> [-x2, x1] over the last dim (HF's non-interleaved RoPE layout).
at::Tensor rotate_half(const at::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return at::cat({-x.slice(-1, half), x.slice(-1, 0, half)}, -1);
}

// The chain itself, what autograd records op by op.
at::Tensor rope_chain(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  return x * cos + rotate_half(x) * sin;
}

at::Tensor rope_forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  if (at::Tensor y = rope_fp32_tables_cuda(x, cos, sin); y.defined()) return y;
  return rope_chain(x, cos, sin);
}

// The chain's gradient for x: grad * cos, plus grad * sin taken back through rotate_half
// ([y1, y2] -> [y2, -y1]); autograd rounds each product to x's dtype before adding them.
at::Tensor rope_backward(const at::Tensor& grad, const at::Tensor& cos, const at::Tensor& sin, at::ScalarType x_dtype) {
  if (at::Tensor g = rope_fp32_tables_backward_cuda(grad, cos, sin, x_dtype); g.defined()) return g;
  const at::Tensor through_cos = (grad * cos).to(x_dtype), through_sin = (grad * sin).to(x_dtype);
  const int64_t half = grad.size(-1) / 2;
  return through_cos + at::cat({through_sin.slice(-1, half), -through_sin.slice(-1, 0, half)}, -1);
}

struct Rope : torch::autograd::Function<Rope> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
    ctx->save_for_backward({cos, sin});
    ctx->saved_data["dtype"] = static_cast<int64_t>(x.scalar_type());
    return rope_forward(x, cos, sin);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    if (!grads[0].defined()) return {at::Tensor(), at::Tensor(), at::Tensor()};
    const auto saved = ctx->get_saved_variables();
    const auto dtype = static_cast<at::ScalarType>(ctx->saved_data["dtype"].toInt());
    return {rope_backward(grads[0], saved[0], saved[1], dtype), at::Tensor(), at::Tensor()};
  }
};

// Saves s (an output), the weight and rstd; the backward's one kernel gives h's, d's and the
// weight's gradients.
struct AddRmsNorm : torch::autograd::Function<AddRmsNorm> {
  static variable_list forward(AutogradContext* ctx, const at::Tensor& h, const at::Tensor& d, const at::Tensor& weight,
                               double eps, int64_t y_dtype) {
    AddRmsNormForward f = add_rms_norm_train_cuda(h, d, weight, eps, static_cast<at::ScalarType>(y_dtype));
    ctx->save_for_backward({f.s, weight, f.rstd});
    ctx->saved_data["d_dtype"] = static_cast<int64_t>(d.scalar_type());
    return {f.s, f.y};
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto d_dtype = static_cast<at::ScalarType>(ctx->saved_data["d_dtype"].toInt());
    const at::Tensor &gs = grads[0], &gy = grads[1];
    if (!gy.defined()) return {gs, gs.defined() ? gs.to(d_dtype) : gs, at::Tensor(), at::Tensor(), at::Tensor()};
    AddRmsNormGrads g =
        add_rms_norm_train_backward_cuda(gy, gs, saved[0], saved[1], saved[2], d_dtype, ctx->needs_input_grad(2));
    return {g.gh, g.gd, g.gw, at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor silu_mul(const at::Tensor& gate_up, int64_t I) {
  return recording(gate_up) ? SiluMul::apply(gate_up, I) : silu_mul_forward(gate_up, I);
}

at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  // The tables carry no gradient here (positions are data), so the node returns none for them.
  if (recording(cos) || recording(sin)) return rope_chain(x, cos, sin);
  return recording(x) ? Rope::apply(x, cos, sin) : rope_forward(x, cos, sin);
}

std::pair<at::Tensor, at::Tensor> add_rms_norm_node(const at::Tensor& h, const at::Tensor& d, const at::Tensor& weight,
                                                    double eps) {
  if (!c10::GradMode::is_enabled() || !(h.requires_grad() || d.requires_grad() || weight.requires_grad())) return {};
  at::ScalarType y_dtype = h.scalar_type();
  if (h.is_cuda() && y_dtype == at::kFloat && at::autocast::is_autocast_enabled(at::kCUDA))
    y_dtype = at::autocast::get_autocast_dtype(at::kCUDA);
  if (!add_rms_norm_train_applies(h, d, weight, y_dtype)) return {};
  const auto out = AddRmsNorm::apply(h, d, weight, eps, static_cast<int64_t>(y_dtype));
  return {out[0], out[1]};
}

}  // namespace s2d
