// fused_autograd_ops.h's nodes against autograd's record of the chains they replace: the same
// values and the same gradients, bit for bit. On the CPU the nodes run ATen ops; on a GPU with the
// fused kernels on (FusedAutogradCuda, skipped elsewhere) they run the training kernels.
#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <c10/core/GradMode.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/function.h>

#include <tuple>

#include "fused_autograd_fixture.h"
#include "s2d/model/fused_cuda_ops.h"
#include "s2d/model/rms_norm.h"

namespace s2d {
using namespace s2d::testing;

namespace {

std::string node_name(const at::Tensor& y) { return y.grad_fn() ? y.grad_fn()->name() : "none"; }

// A small shape, and one large enough for ATen to split its loops over threads.
void expect_silu_mul_node_is_the_chain(const at::TensorOptions& options) {
  for (const auto& [rows, I] : {std::pair<int64_t, int64_t>{15, 96}, {256, 1000}}) {
    const at::Tensor gate_up = seeded_randn({rows, 2 * I}, options, 1) * 4;
    const at::Tensor up_grad = seeded_randn({rows, I}, options, 2);
    const SiluMulRun chain = silu_mul_run(gate_up, I, up_grad, false);
    const SiluMulRun node = silu_mul_run(gate_up, I, up_grad, true);
    EXPECT_TRUE(node.y.equal(chain.y)) << options << ", I " << I;
    EXPECT_TRUE(node.grad.equal(chain.grad))
        << options << ", I " << I << ": max difference " << (node.grad - chain.grad).abs().max().item<double>();
  }
}

// x in `x_dtype` with tables in `table_dtype`: fp32 and fp32 (fp32 training), bf16 and fp32 (autocast).
void expect_rope_node_is_the_chain(const c10::Device& device, at::ScalarType x_dtype, at::ScalarType table_dtype) {
  const int64_t B = 2, T = 7, NH = 4, KV = 2, D = 16;
  const auto opts = at::TensorOptions().device(device);
  const at::Tensor qkv = seeded_randn({B, T, (NH + 2 * KV) * D}, opts.dtype(x_dtype), 3);
  const auto [cos, sin] = rope_tables(B, T, D, opts.dtype(table_dtype));
  const RopeRun chain = rope_run(qkv, cos, sin, NH, KV, false);
  const RopeRun node = rope_run(qkv, cos, sin, NH, KV, true);
  EXPECT_TRUE(node.q.equal(chain.q) && node.k.equal(chain.k)) << x_dtype << " x, " << table_dtype << " tables";
  EXPECT_EQ(node.q.scalar_type(), chain.q.scalar_type());
  EXPECT_TRUE(node.grad.equal(chain.grad))
      << x_dtype << " x, " << table_dtype << " tables: max difference "
      << (node.grad.to(at::kFloat) - chain.grad.to(at::kFloat)).abs().max().item<double>();
}

}  // namespace

TEST(FusedAutograd, SiluMulNodeGivesTheChainsValuesAndGradient) {
  for (const auto dtype : {at::kFloat, at::kBFloat16}) expect_silu_mul_node_is_the_chain(at::TensorOptions(dtype));
}

TEST(FusedAutograd, RopeNodeGivesTheChainsValuesAndGradient) {
  expect_rope_node_is_the_chain(at::kCPU, at::kFloat, at::kFloat);
  expect_rope_node_is_the_chain(at::kCPU, at::kBFloat16, at::kFloat);  // autocast's mix
  expect_rope_node_is_the_chain(at::kCPU, at::kBFloat16, at::kBFloat16);
}

TEST(FusedAutograd, TrainingRecordsOneNodeEachAndInferenceNone) {
  const at::Tensor gate_up = seeded_randn({2, 8}, at::TensorOptions(), 4).requires_grad_(true);
  EXPECT_NE(node_name(silu_mul(gate_up, 4)).find("SiluMul"), std::string::npos) << node_name(silu_mul(gate_up, 4));
  const at::Tensor x = seeded_randn({1, 2, 3, 8}, at::TensorOptions(), 5).requires_grad_(true);
  const auto [cos, sin] = rope_tables(1, 3, 8, at::TensorOptions());
  EXPECT_NE(node_name(apply_rope(x, cos, sin)).find("Rope"), std::string::npos) << node_name(apply_rope(x, cos, sin));
  c10::NoGradGuard no_grad;
  EXPECT_EQ(node_name(silu_mul(gate_up, 4)), "none");
  EXPECT_TRUE(apply_rope(x, cos, sin).equal(rope_chain(x, cos, sin)));
}

TEST(FusedAutogradCuda, NodesRunTheTrainingKernelsAndGiveTheChains) {
  if (!cuda_fused_kernels_built() || !at::hasCUDA()) GTEST_SKIP() << "needs a CUDA build with nvcc and a GPU";
  set_cuda_fused_kernels(true);
  for (const auto dtype : {at::kFloat, at::kBFloat16, at::kHalf})
    expect_silu_mul_node_is_the_chain(at::TensorOptions(dtype).device(at::kCUDA));
  for (const auto dtype : {at::kFloat, at::kBFloat16, at::kHalf})
    expect_rope_node_is_the_chain(at::kCUDA, dtype, at::kFloat);           // the kernels' case
  expect_rope_node_is_the_chain(at::kCUDA, at::kBFloat16, at::kBFloat16);  // the ATen ops' case
  // The kernels applied (not the node's ATen ops): the forward's layout is the kernel's [B, T, H, D].
  const at::Tensor x = seeded_randn({1, 2, 3, 8}, at::TensorOptions(at::kCUDA), 5).requires_grad_(true);
  const auto [cos, sin] = rope_tables(1, 3, 8, at::TensorOptions(at::kCUDA));
  EXPECT_TRUE(rope_fp32_tables_cuda(x.detach(), cos, sin).defined());
  set_cuda_fused_kernels(false);
}

namespace {

struct AddNormRun {
  at::Tensor s, y, gh, gd, gw;
};
// {s, y} = add_rms_norm(h, d, w), by the node or by the ATen ops autograd records, and the
// gradients of sum(s * gs) + sum(y * gy), optionally under CUDA's bf16 autocast.
AddNormRun add_norm_run(const at::Tensor& h0, const at::Tensor& d0, const at::Tensor& w0, bool node, bool autocast) {
  const at::Tensor h = h0.detach().clone().requires_grad_(true), d = d0.detach().clone().requires_grad_(true);
  const at::Tensor w = w0.detach().clone().requires_grad_(true);
  set_cuda_fused_kernels(node);
  at::autocast::set_autocast_enabled(at::kCUDA, autocast);
  at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
  auto [s, y] = add_rms_norm(h, d, w, 1e-5);
  at::autocast::set_autocast_enabled(at::kCUDA, false);
  set_cuda_fused_kernels(false);
  if (node) {
    EXPECT_NE(node_name(y).find("AddRmsNorm"), std::string::npos) << node_name(y);
  }
  const at::Tensor gs = seeded_randn(s.sizes(), s.options(), 41), gy = seeded_randn(y.sizes(), s.options(), 42);
  ((s * gs).sum() + (y.to(at::kFloat) * gy.to(at::kFloat)).sum()).backward();
  return {s.detach(), y.detach(), h.grad(), d.grad(), w.grad()};
}

}  // namespace

// The training node of the residual add and its RMSNorm (add_rms_norm_node) against the ATen ops
// it replaces, to rounding: fp32; autocast's mix, where the node writes the norm in bf16 for the
// GEMM after it; bf16.
TEST(FusedAutogradCuda, AddRmsNormNodeGivesTheOpsValuesAndGradientsToRounding) {
  if (!cuda_fused_kernels_built() || !at::hasCUDA()) GTEST_SKIP() << "needs a CUDA build with nvcc and a GPU";
  struct Mix {
    at::ScalarType h, d;
    bool autocast;
    double tol;
  };
  for (const Mix m : {Mix{at::kFloat, at::kFloat, false, 1e-5}, Mix{at::kFloat, at::kBFloat16, true, 1e-2},
                      Mix{at::kBFloat16, at::kBFloat16, false, 1e-2}}) {
    const auto opts = at::TensorOptions(at::kCUDA);
    const at::Tensor h = seeded_randn({4, 33, 256}, opts.dtype(m.h), 43) * 2;
    const at::Tensor d = seeded_randn({4, 33, 256}, opts.dtype(m.d), 44);
    const at::Tensor w = (1 + 0.1 * seeded_randn({256}, opts, 45)).to(m.h);
    const AddNormRun node = add_norm_run(h, d, w, true, m.autocast), ops = add_norm_run(h, d, w, false, m.autocast);
    EXPECT_TRUE(node.s.equal(ops.s)) << m.h << " + " << m.d;
    EXPECT_EQ(node.y.scalar_type(), m.autocast ? at::kBFloat16 : m.h);
    EXPECT_EQ(node.gd.scalar_type(), m.d);
    for (const auto& [name, a, b] : {std::tuple{"y", node.y, ops.y}, std::tuple{"d h", node.gh, ops.gh},
                                     std::tuple{"d d", node.gd, ops.gd}, std::tuple{"d w", node.gw, ops.gw}})
      EXPECT_LE(max_scaled_error(a, b), m.tol) << name << ", " << m.h << " + " << m.d;
  }
}

}  // namespace s2d
