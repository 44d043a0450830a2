#include "s2d/model/rms_norm.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <c10/core/impl/LocalDispatchKeySet.h>

#include "s2d/model/fused_autograd_ops.h"
#include "s2d/model/fused_cpu_ops.h"
#include "s2d/model/fused_cuda_ops.h"

namespace s2d {

namespace {

bool training_norm(const at::Tensor& x, const at::Tensor& weight) {
  const auto t = x.scalar_type();
  return c10::GradMode::is_enabled() && (x.requires_grad() || weight.requires_grad()) && t == weight.scalar_type() &&
         (t == at::kFloat || t == at::kBFloat16 || t == at::kHalf);
}

}  // namespace

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  if (fusable_on_cpu(x) && fusable_on_cpu(weight)) return rms_norm_cpu(x, weight, eps);
  if (at::Tensor y = rms_norm_cuda(x, weight, eps); y.defined()) return y;
  if (training_norm(x, weight)) {
    // Autocast would run rms_norm in fp32 (it is on CUDA's fp32 list), casting a bf16 x and weight
    // up and the result's gradient back: it runs in x's dtype instead, with fp32 math inside, as
    // the chain's output dtype is x's.
    const c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
    return at::rms_norm(x, {x.size(-1)}, weight, eps);
  }
  at::Tensor xf = x.to(at::kFloat);
  at::Tensor var = xf.pow(2).mean(-1, /*keepdim=*/true);
  xf = xf * at::rsqrt(var + eps);
  return weight * xf.to(x.scalar_type());
}

std::pair<at::Tensor, at::Tensor> add_rms_norm(const at::Tensor& h, const at::Tensor& d, const at::Tensor& weight,
                                               double eps) {
  if (auto fused = add_rms_norm_cuda(h, d, weight, eps); fused.first.defined()) return fused;  // inference
  if (auto node = add_rms_norm_node(h, d, weight, eps); node.first.defined()) return node;     // training
  at::Tensor sum = h + d;
  return {sum, rms_norm(sum, weight, eps)};
}

}  // namespace s2d
