// The device sampler (device_sampling.h): its random stream against a scalar reference of the
// hash, the distributions it draws against the host sampler's (sampling_distribution), and rows
// that do not depend on their batch. Run on the CPU here; scripts/gpu/run_all.sh runs it on CUDA.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "engine_fixture.h"
#include "s2d/engine/device_sampling.h"
#include "s2d/engine/sampling.h"

namespace s2d {
using namespace s2d::testing;

namespace {

// The stream's hash in plain uint32 arithmetic, written from its description in the header.
uint32_t mix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x2c1b3c6du;
  return x ^ (x >> 16);
}
float reference_uniform(uint64_t key, int64_t draw) {
  uint32_t h = mix32(static_cast<uint32_t>(draw) ^ 0x5bd1e995u);
  h = mix32((h ^ static_cast<uint32_t>(key >> 32)) + 0x3c6ef372u);
  h = mix32((h ^ static_cast<uint32_t>(key)) + 0x1b873593u);
  return (static_cast<float>(h >> 9) + 0.5f) / 8388608.0f;
}

// n draws of one row: either one key at draws 0..n-1 (a sample's tokens) or keys 0..n-1 at draw 0
// (the first tokens of n samples). Returns the counts per token.
std::vector<int64_t> draw_counts(const at::Tensor& logits, const SamplingParams& p, int64_t n, bool across_keys) {
  const int64_t V = logits.size(0);
  std::vector<const SamplingParams*> params(static_cast<size_t>(n), &p);
  std::vector<uint64_t> keys(static_cast<size_t>(n));
  std::vector<int64_t> draws(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    keys[i] = across_keys ? sample_seed(77, static_cast<int>(i)) : 0x9e3779b97f4a7c15ull;
    draws[i] = across_keys ? 0 : i;
  }
  const c10::Device dev = test_device();
  at::Tensor rows_logits = logits.to(dev).unsqueeze(0).expand({n, V}).contiguous();  // [n, V]
  at::Tensor tokens = sample_on_device(rows_logits, device_sampling_rows(params, keys, draws, V, dev)).cpu();
  std::vector<int64_t> counts(static_cast<size_t>(V), 0);
  const int64_t* t = tokens.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) ++counts[static_cast<size_t>(t[i])];
  return counts;
}

}  // namespace

TEST(DeviceSampling, TheStreamIsTheHashItDescribes) {
  std::vector<int64_t> keys, draws;
  for (const uint64_t k : {0ull, 1ull, 42ull, 0xffffffffull, 0x100000000ull, 0x9e3779b97f4a7c15ull, ~0ull})
    for (const int64_t d : {0, 1, 2, 1000, 123456789}) {
      keys.push_back(static_cast<int64_t>(k));
      draws.push_back(d);
    }
  const c10::Device dev = test_device();
  at::Tensor u = stream_uniform(at::tensor(keys).to(dev), at::tensor(draws).to(dev)).cpu();
  for (size_t i = 0; i < keys.size(); ++i)
    EXPECT_EQ(u[static_cast<int64_t>(i)].item<float>(), reference_uniform(static_cast<uint64_t>(keys[i]), draws[i]))
        << "key " << keys[i] << ", draw " << draws[i];
}

TEST(DeviceSampling, TheStreamIsUniform) {
  const int64_t n = 64000, bins = 64;
  at::Tensor draw = at::arange(n, at::kLong);
  for (const int64_t key : {int64_t{3}, static_cast<int64_t>(0xdeadbeefcafef00dull)}) {
    at::Tensor u = stream_uniform(at::full({n}, key, at::kLong), draw);
    EXPECT_GT(u.min().item<float>(), 0.0f);
    EXPECT_LT(u.max().item<float>(), 1.0f);
    at::Tensor counts = (u * bins).to(at::kLong).bincount({}, bins);
    std::vector<int64_t> c(counts.data_ptr<int64_t>(), counts.data_ptr<int64_t>() + bins);
    // df = 63; the 0.1% critical value is 103.4.
    EXPECT_LT(chi_square(c, std::vector<double>(bins, 1.0 / bins), n), 103.4) << "key " << key;
  }
}

// The drawn tokens follow the host sampler's distribution (itself checked against an independent
// computation in sampling_test.cpp), along one sample's stream and across samples' first draws.
TEST(DeviceSampling, DrawsTheHostSamplersDistribution) {
  at::Tensor six = at::tensor(std::vector<float>{2.0f, 1.0f, 0.5f, 0.0f, -1.0f, -3.0f});
  at::Tensor fifty = at::randn({50}, make_cpu_generator(3)) * 2;
  struct Case {
    const char* name;
    at::Tensor logits;
    double temperature, top_p;
    int64_t top_k;
  };
  const std::vector<Case> cases = {{"plain", six, 0.7, 1.0, 0},
                                   {"top-p", six, 0.7, 0.9, 0},
                                   {"top-k", six, 1.0, 1.0, 2},
                                   {"top-k and top-p", six, 0.9, 0.8, 3},
                                   {"wide vocabulary", fifty, 1.3, 1.0, 0},
                                   {"wide top-p", fifty, 0.8, 0.95, 0}};
  const int64_t n = 30000;
  for (const Case& c : cases)
    for (const bool across_keys : {false, true}) {
      SamplingParams p;
      p.temperature = c.temperature, p.top_p = c.top_p, p.top_k = c.top_k;
      at::Tensor want = sampling_distribution(c.logits, p);
      std::vector<double> expected(want.data_ptr<float>(), want.data_ptr<float>() + want.numel());
      const std::vector<int64_t> counts = draw_counts(c.logits, p, n, across_keys);
      int64_t outside = 0, df = -1;
      for (size_t i = 0; i < expected.size(); ++i) expected[i] == 0 ? outside += counts[i] : ++df;
      EXPECT_EQ(outside, 0) << c.name << ": drew a token the distribution excludes";
      // About 4.5 standard deviations above the mean of a chi-square with df degrees of freedom.
      const double bound = static_cast<double>(df) + 4.5 * std::sqrt(2.0 * static_cast<double>(df));
      EXPECT_LT(chi_square(counts, expected, n), bound) << c.name << (across_keys ? ", across keys" : ", one key");
    }
}

// A row's token depends on its logits, parameters, key and draw index only: the same in any batch,
// and the same on a second call. Greedy rows take the argmax.
TEST(DeviceSampling, ARowDrawsTheSameInAnyBatch) {
  const c10::Device dev = test_device();
  at::Tensor logits = (at::randn({6, 40}, make_cpu_generator(9)) * 3).to(dev);  // [B, V]
  SamplingParams hot, greedy, topk, topp, both;
  hot.temperature = 1.0, topk.temperature = 0.9, topk.top_k = 5, topp.temperature = 0.7, topp.top_p = 0.9;
  both.temperature = 0.8, both.top_k = 10, both.top_p = 0.7;
  const std::vector<const SamplingParams*> params = {&hot, &greedy, &topk, &topp, &both, &hot};
  for (int64_t draw = 0; draw < 40; ++draw) {
    const std::vector<uint64_t> keys = {11, 12, 13, 14, 15, 11};
    const std::vector<int64_t> draws(6, draw);
    at::Tensor batch = sample_on_device(logits, device_sampling_rows(params, keys, draws, 40, dev)).cpu();
    EXPECT_TRUE(batch.equal(sample_on_device(logits, device_sampling_rows(params, keys, draws, 40, dev)).cpu()));
    for (int64_t b = 0; b < 6; ++b) {
      const auto i = static_cast<size_t>(b);
      at::Tensor alone =
          sample_on_device(logits.narrow(0, b, 1), device_sampling_rows({params[i]}, {keys[i]}, {draw}, 40, dev));
      ASSERT_EQ(batch[b].item<int64_t>(), alone.item<int64_t>()) << "draw " << draw << ", row " << b;
    }
    EXPECT_EQ(batch[1].item<int64_t>(), logits[1].argmax().item<int64_t>());
  }
}

TEST(DeviceSampling, HalfPrecisionLogitsDrawTheirFloatTwinsTokens) {
  const c10::Device dev = test_device();
  at::Tensor logits = (at::randn({4, 64}, make_cpu_generator(4)) * 2).to(at::kBFloat16);
  SamplingParams p;
  p.temperature = 0.7, p.top_p = 0.9;
  const std::vector<const SamplingParams*> params(4, &p);
  for (int64_t draw = 0; draw < 20; ++draw) {
    const auto rows = device_sampling_rows(params, {1, 2, 3, 4}, std::vector<int64_t>(4, draw), 64, dev);
    EXPECT_TRUE(sample_on_device(logits.to(dev), rows).equal(sample_on_device(logits.to(dev).to(at::kFloat), rows)));
  }
}

}  // namespace s2d
