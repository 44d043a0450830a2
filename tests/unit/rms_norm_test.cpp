// rms_norm.h's routing: HF's chain, bit for bit, outside autograd; at::rms_norm in training. In
// fp32 the two are the same bits; in bf16 training rounds once, so its values and gradients lie
// within one rounding of the exact ones, where the chain's do not.
#include "s2d/model/rms_norm.h"

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <c10/core/GradMode.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/function.h>

#include <cmath>

#include "aten_chains.h"
#include "fused_autograd_fixture.h"

namespace s2d {
using namespace s2d::testing;

namespace {

struct NormRun {
  at::Tensor y, dx, dw;  // the output and the gradients of sum(y * g)
};

// y = norm(x, w) recorded by autograd, and its gradients for the upstream gradient g.
template <class Norm>
NormRun run_norm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& g, const Norm& norm) {
  const at::Tensor xr = x.detach().clone().requires_grad_(true), wr = w.detach().clone().requires_grad_(true);
  NormRun r;
  r.y = norm(xr, wr);
  r.y.backward(g);
  r.y = r.y.detach();
  r.dx = xr.grad();
  r.dw = wr.grad();
  return r;
}

double max_error(const at::Tensor& got, const at::Tensor& exact) {
  return (got.to(at::kDouble) - exact).abs().max().item<double>();
}

const double kEps = 1e-5;

at::Tensor s2d_norm(const at::Tensor& x, const at::Tensor& w) { return rms_norm(x, w, kEps); }
at::Tensor chain_norm(const at::Tensor& x, const at::Tensor& w) { return rms_norm_chain(x, w, kEps); }
// The exact norm, for fp64 inputs.
at::Tensor exact_norm(const at::Tensor& x, const at::Tensor& w) {
  return x * at::rsqrt(x.pow(2).mean(-1, true) + kEps) * w;
}

}  // namespace

TEST(RmsNorm, InferenceIsHfsChainBitForBit) {
  const at::NoGradGuard no_grad;
  for (const auto dtype : {at::kFloat, at::kBFloat16, at::kHalf}) {
    const at::Tensor x = seeded_randn({3, 5, 96}, at::TensorOptions(dtype), 1) * 3;
    const at::Tensor w = (1 + 0.1 * seeded_randn({96}, at::TensorOptions(at::kFloat), 2)).to(dtype);
    EXPECT_TRUE(rms_norm(x, w, kEps).equal(rms_norm_chain(x, w, kEps))) << dtype;
  }
}

TEST(RmsNorm, Fp32TrainingGivesTheChainsValuesAndGradients) {
  const at::Tensor x = seeded_randn({4, 33, 128}, at::TensorOptions(), 3) * 3;
  const at::Tensor w = 1 + 0.1 * seeded_randn({128}, at::TensorOptions(), 4);
  const at::Tensor g = seeded_randn(x.sizes(), at::TensorOptions(), 5);
  const NormRun ours = run_norm(x, w, g, s2d_norm), chain = run_norm(x, w, g, chain_norm);
  EXPECT_TRUE(ours.y.equal(chain.y));
  EXPECT_TRUE(ours.dx.equal(chain.dx)) << max_error(ours.dx, chain.dx.to(at::kDouble));
  EXPECT_TRUE(ours.dw.equal(chain.dw)) << max_error(ours.dw, chain.dw.to(at::kDouble));
}

TEST(RmsNorm, Bf16TrainingIsOneRoundingFromTheExactNormAndGradients) {
  const int64_t H = 512;
  const at::Tensor x = (seeded_randn({8, 64, H}, at::TensorOptions(), 6) * 3).to(at::kBFloat16);
  const at::Tensor w = (1 + 0.1 * seeded_randn({H}, at::TensorOptions(), 7)).to(at::kBFloat16);
  const at::Tensor g = seeded_randn(x.sizes(), at::TensorOptions(), 8).to(at::kBFloat16);
  const NormRun ours = run_norm(x, w, g, s2d_norm), chain = run_norm(x, w, g, chain_norm);
  // The exact norm and its gradients, from the same bf16 inputs in fp64.
  const NormRun exact = run_norm(x.to(at::kDouble), w.to(at::kDouble), g.to(at::kDouble), exact_norm);

  // One rounding: the value and the weight's gradient within bf16's unit roundoff (2^-8,
  // relative) of the exact ones, x's gradient within two (its fp32 value has its own error where
  // its two terms cancel). The chain rounds the normalised x before the weight, and takes the
  // gradients through bf16 products: here its weight gradient is off by up to 85%, its x
  // gradient by up to 47x where the two terms cancel.
  const double u = std::ldexp(1.0, -8) * (1 + 1e-3);
  EXPECT_LE(max_relative_error(ours.y, exact.y), u);
  EXPECT_LE(max_relative_error(ours.dx, exact.dx), 2 * u);
  EXPECT_GT(max_relative_error(chain.dx, exact.dx), 100 * u);
  EXPECT_LE(max_relative_error(ours.dw, exact.dw), u);
  EXPECT_GT(max_relative_error(chain.y, exact.y), u) << "the chain's two roundings: the test's premise";
  EXPECT_GT(max_relative_error(chain.dw, exact.dw), 10 * u);
  EXPECT_EQ(ours.y.scalar_type(), at::kBFloat16);
  EXPECT_EQ(ours.dx.scalar_type(), at::kBFloat16);
}

// On a GPU, at::rms_norm is one fused kernel: one autograd node whose inputs are x and the weight
// themselves. Under autocast (LoRA's bf16 base) it stays in bf16 rather than taking autocast's fp32.
TEST(RmsNormCuda, Bf16TrainingIsOneNodeInBf16UnderAutocast) {
  if (!at::hasCUDA()) GTEST_SKIP() << "needs a GPU";
  const auto opts = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
  const at::Tensor x = seeded_randn({4, 64, 256}, opts, 9).requires_grad_(true);
  const at::Tensor w = (1 + 0.1 * seeded_randn({256}, opts, 10)).detach().requires_grad_(true);
  at::autocast::set_autocast_enabled(at::kCUDA, true);
  at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
  const at::Tensor y = rms_norm(x, w, kEps);
  at::autocast::set_autocast_enabled(at::kCUDA, false);
  at::autocast::clear_cache();
  EXPECT_EQ(y.scalar_type(), at::kBFloat16);
  ASSERT_TRUE(y.grad_fn());
  for (const auto& edge : y.grad_fn()->next_edges())
    EXPECT_TRUE(!edge.function || edge.function->name().find("AccumulateGrad") != std::string::npos)
        << y.grad_fn()->name() << " feeds " << edge.function->name() << ": more than one node";
  const NormRun ours = run_norm(x, w, at::ones_like(x), s2d_norm);
  const NormRun exact = run_norm(x.to(at::kDouble), w.to(at::kDouble), at::ones_like(x, at::kDouble), exact_norm);
  EXPECT_LE(max_relative_error(ours.y, exact.y), std::ldexp(1.0, -8) * 1.01);
}

}  // namespace s2d
