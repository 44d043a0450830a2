// Training's silu·mul, RoPE, and the residual add with its RMSNorm alone, forward and backward
// (fused_autograd_ops.h, rms_norm.h): milliseconds per step through autograd's record of the ATen
// chain (HF's), through s2d's path without the kernels (the node running ATen ops; for the norm,
// the add and at::rms_norm), and (on CUDA, where the kernels are built) through the fused kernels.
// TinyLlama-1.1B's shapes by default: I = 5632 for silu·mul; 32 query and 4 key/value heads of 64
// for RoPE, the projection in the dtype (bf16 on CUDA, as autocast makes it), the tables in fp32;
// H = 2048 for the norm, the residual stream fp32 and the block's output in the dtype, under bf16
// autocast on CUDA.
//
//   s2d_bench_autograd_ops [--device auto] [--tokens 8192 on CUDA, 1024 on the CPU] [--calls 20]
//
// Prints a markdown table. Each figure: the mean of --calls steps queued back to back after two
// warm-up steps, the device synchronised once at the end.
#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <torch/csrc/autograd/autograd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <tuple>

#include "../unit/aten_chains.h"
#include "bench_util.h"
#include "s2d/model/device.h"
#include "s2d/model/fused_autograd_ops.h"
#include "s2d/model/fused_cuda_ops.h"
#include "s2d/model/rms_norm.h"

using namespace s2d;
using s2d::bench::arg;

namespace {

double ms_per_step(const std::function<at::Tensor()>& step, int calls) {
  for (int i = 0; i < 2; ++i) step().sum().item<double>();
  const auto t0 = std::chrono::steady_clock::now();
  at::Tensor last;
  for (int i = 0; i < calls; ++i) last = step();
  last.sum().item<double>();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / calls;
}

at::Tensor randn(at::IntArrayRef shape, const at::TensorOptions& options, uint64_t seed) {
  at::manual_seed(seed);
  return at::randn(shape, options.dtype(at::kFloat)).to(options);
}

// forward and backward of silu(gate) * up over gate_up [tokens, 2 I]; returns d gate_up.
std::function<at::Tensor()> silu_mul_step(const at::Tensor& value, int64_t I, const at::Tensor& up_grad, bool node) {
  return [=] {
    const at::Tensor gate_up = value.detach().requires_grad_(true);
    const at::Tensor y = node ? silu_mul(gate_up, I) : testing::silu_mul_chain(gate_up, I);
    y.backward(up_grad);
    return gate_up.grad();
  };
}

// forward and backward of RoPE on the q and k heads of qkv [1, T, (NH + 2 KV) D]; returns d qkv.
std::function<at::Tensor()> rope_step(const at::Tensor& value, const at::Tensor& cos, const at::Tensor& sin, int64_t NH,
                                      int64_t KV, bool node) {
  return [=] {
    const at::Tensor qkv = value.detach().requires_grad_(true);
    const int64_t T = qkv.size(1), D = cos.size(-1);
    const auto parts = qkv.split_with_sizes({NH * D, KV * D, KV * D}, -1);
    const at::Tensor q = parts[0].view({1, T, NH, D}).transpose(1, 2), k = parts[1].view({1, T, KV, D}).transpose(1, 2);
    const at::Tensor yq = node ? apply_rope(q, cos, sin) : testing::rope_chain(q, cos, sin);
    const at::Tensor yk = node ? apply_rope(k, cos, sin) : testing::rope_chain(k, cos, sin);
    torch::autograd::backward({yq, yk, parts[2]}, {at::ones_like(yq), at::ones_like(yk), at::ones_like(parts[2])});
    return qkv.grad();
  };
}

// forward and backward of s = h + d, y = rms_norm(s, w) with upstream gradients for both (the
// residual stream goes on); returns d h. Under bf16 autocast on CUDA, as training runs it.
std::function<at::Tensor()> add_norm_step(const at::Tensor& h_value, const at::Tensor& d_value, const at::Tensor& w,
                                          bool ours) {
  return [=] {
    const at::Tensor h = h_value.detach().requires_grad_(true), d = d_value.detach().requires_grad_(true);
    const bool autocast = h.is_cuda();
    at::autocast::set_autocast_enabled(at::kCUDA, autocast);
    at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
    at::Tensor s, y;
    if (ours) {
      std::tie(s, y) = add_rms_norm(h, d, w, 1e-5);
    } else {
      s = h + d;
      y = testing::rms_norm_chain(s, w, 1e-5);
    }
    at::autocast::set_autocast_enabled(at::kCUDA, false);
    torch::autograd::backward({s, y}, {at::ones_like(s), at::ones_like(y)});
    return h.grad();
  };
}

void row(const char* op, const std::string& shape, const std::function<std::function<at::Tensor()>(bool)>& make,
         bool kernels, int calls) {
  set_cuda_fused_kernels(false);
  const double chain = ms_per_step(make(false), calls), node = ms_per_step(make(true), calls);
  if (!kernels) {
    std::printf("| %s | %s | %.3f | %.3f | (not built here) | %.2f | |\n", op, shape.c_str(), chain, node,
                node / chain);
    return;
  }
  set_cuda_fused_kernels(true);
  const double fused = ms_per_step(make(true), calls);
  set_cuda_fused_kernels(false);
  std::printf("| %s | %s | %.3f | %.3f | %.3f | %.2f | %.2f |\n", op, shape.c_str(), chain, node, fused, node / chain,
              fused / chain);
}

}  // namespace

int main(int argc, char** argv) try {
  const c10::Device dev = resolve_device(arg(argc, argv, "--device", "auto"));
  const auto dtype = dev.is_cuda() ? at::kBFloat16 : at::kFloat;
  const int64_t tokens = std::stoll(arg(argc, argv, "--tokens", dev.is_cuda() ? "8192" : "1024"));
  const int calls = std::stoi(arg(argc, argv, "--calls", "20"));
  const bool kernels = dev.is_cuda() && cuda_fused_kernels_built();
  const auto opts = at::TensorOptions().device(dev).dtype(dtype);
  std::printf("%s, %s projections, %lld tokens, forward and backward, ms per step\n\n", dev.str().c_str(),
              c10::toString(dtype), static_cast<long long>(tokens));
  std::printf("| op | shape | chain ms | node ms | node, kernels ms | node / chain | kernels / chain |\n");
  std::printf("|---|---|---|---|---|---|---|\n");

  const int64_t I = 5632;
  const at::Tensor gate_up = randn({tokens, 2 * I}, opts, 1) * 2, up_grad = randn({tokens, I}, opts, 2);
  row(
      "silu·mul", "[" + std::to_string(tokens) + ", 2 x 5632]",
      [&](bool node) { return silu_mul_step(gate_up, I, up_grad, node); }, kernels, calls);

  const int64_t NH = 32, KV = 4, D = 64;
  const at::Tensor qkv = randn({1, tokens, (NH + 2 * KV) * D}, opts, 3);
  const at::Tensor angles = randn({1, 1, tokens, D}, opts.dtype(at::kFloat), 4) * 3;
  const at::Tensor cos = angles.cos(), sin = angles.sin();  // fp32 tables, as in training
  row(
      "RoPE q and k", "32 + 4 heads of 64", [&](bool node) { return rope_step(qkv, cos, sin, NH, KV, node); }, kernels,
      calls);

  const int64_t H = 2048;
  const at::Tensor h = randn({tokens, H}, opts.dtype(at::kFloat), 5), d = randn({tokens, H}, opts, 6);
  const at::Tensor w = 1 + 0.1 * randn({H}, opts.dtype(at::kFloat), 7);
  row(
      "add + RMSNorm", "[" + std::to_string(tokens) + ", 2048]",
      [&](bool ours) { return add_norm_step(h, d, w, ours); }, kernels, calls);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "s2d_bench_autograd_ops: %s\n", e.what());
  return 1;
}
