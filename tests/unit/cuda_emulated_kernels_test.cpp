// CUDA kernels run on the host through cuda_emulation.h (one std::thread per CUDA thread), so a
// machine without a GPU checks their indexing and their cooperation across a block before a GPU
// session spends minutes on them:
//   * the cut-row sampling kernel against its host twin (cut_sampling.h), token for token, at 64
//     threads a block over many rows and at the 1,024 that the launcher uses over a few;
//   * the fused inference kernels against the ATen chains they replace, on the CPU, bit for bit
//     in fp32, bf16 and fp16; silu_mul to a rounding step (the host's expf is not ATen's exp);
//   * the training kernels against the chains' autograd on the CPU: RoPE with fp32 tables and its
//     gradient bit for bit, silu·mul's gradient to a rounding step.
// The same comparisons run on a GPU in cut_sampling_test.cpp and fused_cuda_ops_test.cpp.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "cut_sampling_fixture.h"
#include "fused_autograd_fixture.h"
#include "fused_kernel_fixture.h"
#include "s2d/engine/cut_sampling.h"
// clang-format off: the emulation's macros must come before the kernel's source.
#include "cuda_emulation.h"
#include "../../src/engine/cuda/cut_sampling_kernel.cu"
#include "../../src/model/cuda/fused_kernels.cu"
#include "../../src/model/cuda/train_kernels.cu"
// clang-format on

namespace s2d {

namespace {

template <int Threads>
void expect_kernel_draws_host_twins_tokens(const std::vector<int64_t>& vocabularies, const std::vector<int64_t>& ks,
                                           const std::vector<float>& ps) {
  std::mt19937 rng(12);
  for (const int64_t V : vocabularies) {
    testing::Rows r =
        testing::rows_for({testing::make_row(V, 2.0, 0.0, 0, rng), testing::make_row(V, 3.0, 0.5, V / 10, rng),
                           testing::make_row(V, 0.05, 0.0, 0, rng)},
                          ks, ps, rng);
    const int64_t B = r.probs.size(0);
    r.cut[B - 1] = false;  // a row the sampler does not cut: token 0, and no work
    at::Tensor out = at::full({B}, -1, at::kLong);
    cuda_emulation::emulate_launch(static_cast<unsigned>(B), Threads, cuda_kernels::sample_cut_rows_kernel<Threads>,
                                   r.probs.const_data_ptr<float>(), r.top_k.const_data_ptr<int64_t>(),
                                   r.top_p.const_data_ptr<float>(), r.u.const_data_ptr<float>(),
                                   r.cut.const_data_ptr<bool>(), out.mutable_data_ptr<int64_t>(), V);
    const at::Tensor want = sample_cut_rows_host(r.probs, r.top_k, r.top_p, r.u, r.cut);
    for (int64_t b = 0; b < B; ++b)
      ASSERT_EQ(out[b].item<int64_t>(), want[b].item<int64_t>())
          << Threads << " threads, V " << V << ", row " << b << ", top-k " << r.top_k[b].item<int64_t>() << ", top-p "
          << r.top_p[b].item<float>();
  }
}

const at::ScalarType kDtypes[] = {at::kFloat, at::kBFloat16, at::kHalf};

at::Tensor randn(at::IntArrayRef shape, at::ScalarType dtype, uint64_t seed) {
  at::manual_seed(seed);
  return at::randn(shape).to(dtype);
}

// The tensors' untyped data pointers as the kernel's T (typed pointers pass as they are).
template <typename T>
const T* as(const void* p) {
  return static_cast<const T*>(p);
}
template <typename T>
T* as(void* p) {
  return static_cast<T*>(p);
}
template <typename T, typename A>
A as(A a) {
  return a;
}

template <typename T>
struct Type {
  using type = T;
};
// Launches the kernel that pick(Type<T>{}) names for the dtype's T, on `blocks` blocks of 64
// threads (2 blocks: the grid-stride loops wrap around).
template <typename Pick, typename... Args>
void launch_for(at::ScalarType dtype, unsigned blocks, Pick pick, Args... args) {
  auto launch = [&](auto type) {
    using T = typename decltype(type)::type;
    cuda_emulation::emulate_launch(blocks, 64, pick(type), as<T>(args)...);
  };
  switch (dtype) {
    case at::kFloat: return launch(Type<float>{});
    case at::kBFloat16: return launch(Type<c10::BFloat16>{});
    default: return launch(Type<c10::Half>{});
  }
}
// got (in its dtype) within one rounding step of that dtype of want (fp32), relative to |want| +
// 1e-3: where the host's expf and ATen's exp differ in the last bit. fp32's step: `fp32_step`.
void expect_within_a_rounding_step(const at::Tensor& got, const at::Tensor& want, double fp32_step) {
  const auto dtype = got.scalar_type();
  const double step = dtype == at::kFloat ? fp32_step : (dtype == at::kBFloat16 ? 1.6e-2 : 2e-3);
  EXPECT_LE(((got.to(at::kFloat) - want).abs() / (want.abs() + 1e-3)).max().item<double>(), step) << dtype;
}

// The kernel template `name` of fused_kernels.cu as launch_for's pick.
#define S2D_KERNEL(name) [](auto type) { return cuda_kernels::name<typename decltype(type)::type>; }

}  // namespace

TEST(CudaEmulated, AddSquareGivesTheSumAndItsSquares) {
  for (const auto dtype : kDtypes) {
    const at::Tensor h = randn({3, 100}, dtype, 1), d = randn({3, 100}, dtype, 2);
    at::Tensor sum = at::empty_like(h), sq = at::empty({3, 100}, at::kFloat);
    launch_for(dtype, 2, S2D_KERNEL(add_square_kernel), h.const_data_ptr(), d.const_data_ptr(), sum.mutable_data_ptr(),
               sq.mutable_data_ptr<float>(), h.numel());
    EXPECT_TRUE(sum.equal(h + d)) << dtype;
    EXPECT_TRUE(sq.equal((h + d).to(at::kFloat).pow(2))) << dtype;
  }
}

TEST(CudaEmulated, RmsNormScaleFinishesTheChain) {
  for (const auto dtype : kDtypes) {
    const int64_t rows = 3, H = 200;
    const at::Tensor x = randn({rows, H}, dtype, 3), w = randn({H}, dtype, 4);
    const at::Tensor var = x.to(at::kFloat).pow(2).mean(-1).contiguous();
    at::Tensor out = at::empty_like(x);
    launch_for(dtype, rows, S2D_KERNEL(rms_norm_scale_kernel), x.const_data_ptr(), var.const_data_ptr<float>(),
               w.const_data_ptr(), out.mutable_data_ptr(), H, 1e-5f);
    EXPECT_TRUE(out.equal(testing::rms_norm_chain(x, w, 1e-5))) << dtype;
  }
}

TEST(CudaEmulated, SiluMulTakesTheGateAndUpHalves) {
  for (const auto dtype : kDtypes) {
    const int64_t rows = 3, I = 100;
    const at::Tensor gate_up = randn({rows, 2 * I}, dtype, 9) * 4;
    at::Tensor out = at::empty({rows, I}, gate_up.options());
    launch_for(dtype, 2, S2D_KERNEL(silu_mul_kernel), gate_up.const_data_ptr(), out.mutable_data_ptr(), rows, I);
    const at::Tensor want = testing::silu_mul_chain(gate_up, I).to(at::kFloat);
    expect_within_a_rounding_step(out, want, 1e-6);
  }
}

TEST(CudaEmulated, SiluMulBackwardGivesTheChainsGradient) {
  for (const auto dtype : kDtypes) {
    const int64_t rows = 3, I = 100;
    const at::Tensor gate_up = randn({rows, 2 * I}, dtype, 9) * 4, up_grad = randn({rows, I}, dtype, 10);
    const at::Tensor want = testing::silu_mul_run(gate_up, I, up_grad, false).grad.to(at::kFloat);
    at::Tensor got = at::empty({rows, 2 * I}, gate_up.options());
    launch_for(dtype, 2, S2D_KERNEL(silu_mul_backward_kernel), gate_up.const_data_ptr(), up_grad.const_data_ptr(),
               got.mutable_data_ptr(), rows, I);
    expect_within_a_rounding_step(got, want, 1e-5);
  }
}

TEST(CudaEmulated, RopeWithFp32TablesGivesTheChainAndItsGradient) {
  const int64_t B = 2, T = 5, NH = 4, KV = 2, D = 16, F = (NH + 2 * KV) * D;
  const auto [cos, sin] = testing::rope_tables(B, T, D, at::TensorOptions(at::kFloat));
  for (const auto dtype : kDtypes) {
    const at::Tensor qkv = randn({B, T, F}, dtype, 11);
    const testing::RopeRun want = testing::rope_run(qkv, cos, sin, NH, KV, false);
    const at::Tensor q = qkv.narrow(2, 0, NH * D).view({B, T, NH, D}).transpose(1, 2);  // strided, as attention's
    at::Tensor out = at::empty({B, T, NH, D}, at::kFloat);
    launch_for(dtype, 2, S2D_KERNEL(rope_fp32_tables_kernel), q.const_data_ptr(), q.stride(0), q.stride(1), q.stride(2),
               cos.const_data_ptr<float>(), sin.const_data_ptr<float>(), out.mutable_data_ptr<float>(), B, NH, T, D);
    EXPECT_TRUE(out.transpose(1, 2).equal(want.q)) << dtype;

    const at::Tensor up = want.q_up.transpose(1, 2).contiguous().transpose(1, 2);  // [B, NH, T, D], strided
    at::Tensor grad = at::empty({B, T, NH, D}, qkv.options());
    launch_for(dtype, 2, S2D_KERNEL(rope_fp32_tables_backward_kernel), up.const_data_ptr<float>(), up.stride(0),
               up.stride(1), up.stride(2), cos.const_data_ptr<float>(), sin.const_data_ptr<float>(),
               grad.mutable_data_ptr(), B, NH, T, D);
    EXPECT_TRUE(grad.view({B, T, NH * D}).equal(want.grad.narrow(2, 0, NH * D))) << dtype;
  }
}

TEST(CudaEmulated, RopeKernelsGiveTheChainAndWriteTheCache) {
  for (const auto dtype : kDtypes) {
    testing::DecodeRopeCase r = testing::decode_rope_case(dtype, at::kCPU, 16, 6);
    const int64_t B = r.B, NH = r.NH, KV = r.KV, D = r.D;
    at::Tensor q = at::empty({B, 1, NH, D}, r.qkv.options()), k = at::empty({B, 1, KV, D}, r.qkv.options());
    launch_for(dtype, 2, S2D_KERNEL(rope_qk_kernel), r.qkv.const_data_ptr(), r.cos.const_data_ptr(),
               r.sin.const_data_ptr(), q.mutable_data_ptr(), k.mutable_data_ptr(), B, NH, KV, D);
    EXPECT_TRUE(q.equal(r.q_want)) << dtype;
    for (int64_t b = 0; b + 1 < B; ++b)  // the rotated keys, as the append writes them
      EXPECT_TRUE(k[b][0].equal(r.k_want[b].select(1, r.pos[b].item<int64_t>()))) << dtype;

    at::Tensor q2 = at::empty_like(q);
    launch_for(dtype, 2, S2D_KERNEL(rope_qk_append_kernel), r.qkv.const_data_ptr(), r.cos.const_data_ptr(),
               r.sin.const_data_ptr(), r.pos.const_data_ptr<int64_t>(), q2.mutable_data_ptr(),
               r.k_cache.mutable_data_ptr(), r.v_cache.mutable_data_ptr(), B, NH, KV, D, r.C);
    EXPECT_TRUE(q2.equal(r.q_want)) << dtype;
    EXPECT_TRUE(r.k_cache.equal(r.k_want)) << dtype;
    EXPECT_TRUE(r.v_cache.equal(r.v_want)) << dtype;
  }
}

namespace {
cuda_kernels::DType kernel_dtype(at::ScalarType t) {
  return t == at::kFloat ? cuda_kernels::DType::F32
                         : (t == at::kBFloat16 ? cuda_kernels::DType::BF16 : cuda_kernels::DType::F16);
}
// A dtype's unit roundoff: the relative error of one rounding (fp32's allows for the kernel's
// row sums in another order than the exact ones).
double roundoff(at::ScalarType t) {
  return t == at::kFloat ? 1e-6 : std::ldexp(1.0, t == at::kBFloat16 ? -8 : -11) * 1.01;
}
}  // namespace

// Training's residual add and RMSNorm (add_rms_norm_forward/backward) against the exact norm and
// its gradients in fp64: s the ATen sum's bits, y one rounding from the exact value, the gradients
// within two roundings; fp32, autocast's mix (fp32 h and weight, bf16 d and y), bf16 and fp16;
// 7 rows on 3 blocks (the grid-stride loops and the weight partials' sum); with and without the
// residual's own gradient.
TEST(CudaEmulated, AddRmsNormTrainingKernelsGiveTheNormAndItsGradients) {
  struct Mix {
    at::ScalarType h, d, y;
  };
  const int64_t rows = 7, H = 200;
  const unsigned blocks = 3;
  const float eps = 1e-5f;
  int round = 0;
  for (const Mix m : {Mix{at::kFloat, at::kFloat, at::kFloat}, Mix{at::kFloat, at::kBFloat16, at::kBFloat16},
                      Mix{at::kBFloat16, at::kBFloat16, at::kBFloat16}, Mix{at::kHalf, at::kHalf, at::kHalf}}) {
    const bool with_gs = round++ % 2 == 0;
    const at::Tensor h = randn({rows, H}, m.h, 21) * 2, d = randn({rows, H}, m.d, 22);
    const at::Tensor w = (1 + 0.1 * randn({H}, at::kFloat, 23)).to(m.h);
    const at::Tensor gy = randn({rows, H}, m.y, 24), gs = randn({rows, H}, m.h, 25);
    at::Tensor s = at::empty({rows, H}, m.h), y = at::empty({rows, H}, m.y), rstd = at::empty({rows}, at::kFloat);
    cuda_emulation::emulate_launch(blocks, 64, cuda_kernels::add_rms_norm_forward_kernel<64>, h.const_data_ptr(),
                                   d.const_data_ptr(), w.const_data_ptr(), s.mutable_data_ptr(), y.mutable_data_ptr(),
                                   rstd.mutable_data_ptr<float>(), rows, H, eps, kernel_dtype(m.h), kernel_dtype(m.d),
                                   kernel_dtype(m.y));
    EXPECT_TRUE(s.equal(h + d)) << m.h << " + " << m.d;

    const at::Tensor s64 = s.to(at::kDouble).requires_grad_(true), w64 = w.to(at::kDouble).requires_grad_(true);
    const at::Tensor y64 = s64 * at::rsqrt(s64.pow(2).mean(-1, true) + eps) * w64;
    y64.backward(gy.to(at::kDouble));
    EXPECT_LE(testing::max_relative_error(y, y64.detach()), roundoff(m.y)) << m.h << " + " << m.d;

    at::Tensor gh = at::empty({rows, H}, m.h), gd = at::empty({rows, H}, m.d), partial = at::empty({blocks, H});
    const bool separate_gd = m.d != m.h;
    cuda_emulation::emulate_launch(blocks, 64, cuda_kernels::add_rms_norm_backward_kernel<64>, gy.const_data_ptr(),
                                   with_gs ? gs.const_data_ptr() : nullptr, s.const_data_ptr(), w.const_data_ptr(),
                                   rstd.const_data_ptr<float>(), gh.mutable_data_ptr(),
                                   separate_gd ? gd.mutable_data_ptr() : nullptr, partial.mutable_data_ptr<float>(),
                                   rows, H, kernel_dtype(m.h), kernel_dtype(m.d), kernel_dtype(m.y));
    const at::Tensor gh64 = with_gs ? s64.grad() + gs.to(at::kDouble) : s64.grad();
    EXPECT_LE(testing::max_scaled_error(gh, gh64), 2 * roundoff(m.h))
        << m.h << " + " << m.d << (with_gs ? ", with gs" : "");
    if (separate_gd) {
      EXPECT_LE(testing::max_scaled_error(gd, gh64), 2 * roundoff(m.d)) << m.h << " + " << m.d;
    }
    EXPECT_LE(testing::max_scaled_error(partial.sum(0), w64.grad()), 2 * roundoff(at::kFloat) + 1e-6)
        << m.h << " + " << m.d;
  }
}

TEST(CudaEmulated, CutSamplingKernelDrawsTheHostTwinsTokens) {
  expect_kernel_draws_host_twins_tokens<64>({1, 7, 64, 300, 2500}, {0, 1, 3, 50}, {2.0f, 0.9f, 0.5f, 1e-6f});
}

// Rows whose kept tokens weigh nothing in fixed point (no softmax gives them): token 0 from both.
TEST(CudaEmulated, CutSamplingRowsWithoutMassDrawTokenZero) {
  const at::Tensor probs = at::tensor(std::vector<float>{0.0f, 1e-13f, 0.0f, 1e-13f, 0.0f, 0.0f}).view({2, 3});
  const at::Tensor k = at::tensor(std::vector<int64_t>{3, 1}), p = at::tensor(std::vector<float>{0.9f, 2.0f});
  const at::Tensor u = at::full({2}, 0.5f), cut = at::ones({2}, at::kBool);
  at::Tensor out = at::full({2}, -1, at::kLong);
  cuda_emulation::emulate_launch(2, 64, cuda_kernels::sample_cut_rows_kernel<64>, probs.const_data_ptr<float>(),
                                 k.const_data_ptr<int64_t>(), p.const_data_ptr<float>(), u.const_data_ptr<float>(),
                                 cut.const_data_ptr<bool>(), out.mutable_data_ptr<int64_t>(), int64_t{3});
  EXPECT_TRUE(out.equal(at::zeros({2}, at::kLong)));
  EXPECT_TRUE(sample_cut_rows_host(probs, k, p, u, cut).equal(out));
}

TEST(CudaEmulated, CutSamplingKernelDrawsTheHostTwinsTokensAtTheLaunchersBlockSize) {
  expect_kernel_draws_host_twins_tokens<cuda_kernels::kThreads>({3000}, {0, 40}, {0.9f});
}

}  // namespace s2d
