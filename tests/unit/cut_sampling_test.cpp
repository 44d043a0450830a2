// Drawing from cut rows by selection (cut_sampling.h): the host twin against the cut's definition
// written out with a sort (ties, top-k with top-p, zero probabilities), its distribution against
// the host sampler's, and, on a GPU, the CUDA kernel against the host twin token for token, inside
// the device sampler too. scripts/gpu/run_all.sh runs the CUDA cases.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>

#include "cut_sampling_fixture.h"
#include "engine_fixture.h"
#include "fused_kernel_fixture.h"
#include "s2d/engine/cut_sampling.h"
#include "s2d/engine/device_sampling.h"
#include "s2d/engine/sampling.h"

namespace s2d {
using namespace s2d::testing;

namespace {

// The header's definition with a stable sort: rank by the fp32 bits of p (descending), ties by
// token id; keep the first k, then rank r while the fixed-point mass before it is under
// top_p * (their mass), rank 0 always; draw in token order at u * (the kept mass).
int64_t draw_by_sorting(const float* p, int64_t V, int64_t k, float top_p, float u) {
  auto bits = [](float x) {
    x = std::isnan(x) || x < 0 ? 0.0f : std::min(x, 1.0f);
    uint32_t b;
    std::memcpy(&b, &x, sizeof b);
    return b;
  };
  auto mass = [&](int64_t i) {
    const uint32_t b = bits(p[i]);
    float x;
    std::memcpy(&x, &b, sizeof x);
    return static_cast<uint64_t>(static_cast<double>(x) * 1099511627776.0);
  };
  std::vector<int64_t> order(static_cast<size_t>(V));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return bits(p[a]) > bits(p[b]); });
  const int64_t n = std::min(k, V);
  uint64_t set_mass = 0;
  for (int64_t r = 0; r < n; ++r) set_mass += mass(order[r]);
  const double target = top_p >= 1.0f ? std::numeric_limits<double>::infinity()
                                      : static_cast<double>(top_p) * static_cast<double>(set_mass);
  std::vector<bool> keep(static_cast<size_t>(V), false);
  uint64_t before = 0, total = 0;
  for (int64_t r = 0; r < n; ++r) {
    if (r == 0 || static_cast<double>(before) < target) keep[order[r]] = true, total += mass(order[r]);
    before += mass(order[r]);
  }
  const auto point = static_cast<uint64_t>(static_cast<double>(u) * static_cast<double>(total));
  uint64_t running = 0;
  for (int64_t i = 0; i < V; ++i)
    if (keep[i] && (running += mass(i)) > point) return i;
  return -1;
}

const std::vector<int64_t> kTopK = {0, 1, 2, 5, 40};
const std::vector<float> kTopP = {2.0f, 0.999f, 0.9f, 0.5f, 0.1f, 1e-6f};

}  // namespace

TEST(CutSampling, TheHostTwinDrawsTheSortedDefinitionsTokens) {
  std::mt19937 rng(5);
  for (const int64_t V : {1, 2, 7, 100, 3000}) {
    std::vector<std::vector<float>> shapes;
    for (int r = 0; r < 4; ++r) {
      shapes.push_back(make_row(V, 2.0, 0.0, 0, rng));       // continuous
      shapes.push_back(make_row(V, 2.0, 0.5, V / 10, rng));  // ties and zeros
      shapes.push_back(make_row(V, 0.05, 0.1, 0, rng));      // nearly flat, few distinct values
      shapes.push_back(make_row(V, 12.0, 0.0, V / 2, rng));  // one token takes almost all
    }
    for (int draw = 0; draw < 3; ++draw) {
      const Rows r = rows_for(shapes, kTopK, kTopP, rng);
      at::Tensor got = sample_cut_rows_host(r.probs, r.top_k, r.top_p, r.u, r.cut);
      for (int64_t b = 0; b < r.probs.size(0); ++b) {
        const int64_t want = draw_by_sorting(r.probs[b].data_ptr<float>(), V, r.top_k[b].item<int64_t>(),
                                             r.top_p[b].item<float>(), r.u[b].item<float>());
        ASSERT_EQ(got[b].item<int64_t>(), want) << "V " << V << ", row " << b << ", top-k "
                                                << r.top_k[b].item<int64_t>() << ", top-p " << r.top_p[b].item<float>();
      }
    }
  }
}

TEST(CutSampling, RowsNotCutDrawTokenZero) {
  std::mt19937 rng(1);
  Rows r = rows_for({make_row(50, 1.0, 0.0, 0, rng)}, {5}, {0.5f, 0.9f}, rng);
  r.cut[0] = false;
  at::Tensor got = sample_cut_rows_host(r.probs, r.top_k, r.top_p, r.u, r.cut);
  EXPECT_EQ(got[0].item<int64_t>(), 0);
  EXPECT_EQ(got[1].item<int64_t>(), draw_by_sorting(r.probs[1].data_ptr<float>(), 50, 5, 0.9f, r.u[1].item<float>()));
}

// Stratified draws (u at the midpoints of n equal steps) land on each token about n times its
// probability under the host sampler's distribution, to within the fixed point's rounding.
TEST(CutSampling, DrawsTheHostSamplersDistribution) {
  struct Case {
    double temperature, top_p;
    int64_t top_k;
  };
  const at::Tensor logits = at::randn({300}, make_cpu_generator(3)) * 2;
  const int64_t n = 20000, V = logits.numel();
  for (const Case c : {Case{0.7, 0.9, 0}, Case{1.0, 1.0, 20}, Case{0.9, 0.8, 40}, Case{1.3, 0.5, 0}}) {
    SamplingParams sp;
    sp.temperature = c.temperature, sp.top_p = c.top_p, sp.top_k = c.top_k;
    const at::Tensor want = sampling_distribution(logits, sp);
    const at::Tensor probs = (logits / c.temperature).softmax(-1).unsqueeze(0).expand({n, V}).contiguous();
    const at::Tensor u = (at::arange(n, at::kFloat) + 0.5f) / static_cast<float>(n);
    at::Tensor got = sample_cut_rows_host(probs, at::full({n}, c.top_k > 0 ? c.top_k : V, at::kLong),
                                          at::full({n}, c.top_p < 1 ? static_cast<float>(c.top_p) : 2.0f), u,
                                          at::ones({n}, at::kBool));
    const at::Tensor counts = got.bincount({}, V).to(at::kDouble);
    const double worst = (counts - want.to(at::kDouble) * n).abs().max().item<double>();
    EXPECT_LE(worst, 2.0) << "temperature " << c.temperature << ", top-p " << c.top_p << ", top-k " << c.top_k;
  }
}

// The CUDA kernel (S2D_CUDA_FUSED=1): the host twin's tokens from the same probabilities, and the
// device sampler's cut rows through it.
using CutSamplingCuda = FusedKernelsOnGpu;

TEST_F(CutSamplingCuda, TheKernelDrawsTheHostTwinsTokens) {
  std::mt19937 rng(8);
  for (const int64_t V : {1, 7, 1000, 32000, 128256}) {
    std::vector<std::vector<float>> shapes;
    shapes.push_back(make_row(V, 2.0, 0.0, 0, rng));
    shapes.push_back(make_row(V, 3.0, 0.125, V / 10, rng));
    shapes.push_back(make_row(V, 0.05, 0.1, 0, rng));
    const Rows r = rows_for(shapes, {0, 1, 50, V - 1}, kTopP, rng);
    at::Tensor on_gpu = sample_cut_rows_cuda(r.probs.cuda(), r.top_k.cuda(), r.top_p.cuda(), r.u.cuda(), r.cut.cuda());
    ASSERT_TRUE(on_gpu.defined());
    at::Tensor want = sample_cut_rows_host(r.probs, r.top_k, r.top_p, r.u, r.cut);
    const at::Tensor differ = at::nonzero(on_gpu.cpu() != want);
    ASSERT_EQ(differ.numel(), 0) << "V " << V << ": " << differ.numel() << " of " << want.numel()
                                 << " rows differ, first row " << differ.view(-1)[0].item<int64_t>();
  }
}

TEST_F(CutSamplingCuda, TheDeviceSamplerDrawsCutRowsThroughTheKernel) {
  const int64_t V = 128256, B = 16;
  at::Tensor logits = (at::randn({B, V}, make_cpu_generator(6)) * 3).to(at::kCUDA, at::kBFloat16);
  SamplingParams topp, both, plain;
  topp.temperature = 0.7, topp.top_p = 0.9, both.temperature = 0.8, both.top_k = 40, both.top_p = 0.7;
  plain.temperature = 1.0;
  std::vector<const SamplingParams*> params;
  std::vector<uint64_t> keys;
  for (int64_t b = 0; b < B; ++b)
    params.push_back(b % 3 == 0 ? &topp : (b % 3 == 1 ? &both : &plain)), keys.push_back(100 + b);
  for (int64_t draw = 0; draw < 4; ++draw) {
    const auto rows = device_sampling_rows(params, keys, std::vector<int64_t>(B, draw), V, at::kCUDA);
    at::Tensor got = sample_on_device(logits, rows).cpu();
    EXPECT_TRUE(got.equal(sample_on_device(logits, rows).cpu())) << "the same rows drew twice differently";
    const at::Tensor probs = (logits.to(at::kFloat) * rows.inv_temperature.unsqueeze(-1)).softmax(-1).cpu();
    at::Tensor want = sample_cut_rows_host(probs, rows.top_k.cpu(), rows.top_p.cpu(),
                                           stream_uniform(rows.key, rows.draw).cpu(), rows.cut.cpu());
    const at::Tensor differ = at::nonzero((got != want).logical_and_(rows.cut.cpu()));
    EXPECT_EQ(differ.numel(), 0) << "draw " << draw << ": cut rows drew other tokens than the host twin";
  }
}

}  // namespace s2d
