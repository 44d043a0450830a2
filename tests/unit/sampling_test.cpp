// The host sampler: its distribution under temperature, top-k and top-p, the nucleus against a full
// sort, batched draws against at::multinomial, and rows it must refuse.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <limits>
#include <numeric>

#include "engine_fixture.h"
#include "s2d/engine/sampling.h"
#include "s2d/util/error.h"

namespace s2d {
using namespace s2d::testing;

TEST(Sampling, TemperatureAndTopPDrawTheRightDistribution) {
  const std::vector<float> logits_v = {2.0f, 1.0f, 0.5f, 0.0f, -1.0f, -3.0f};
  at::Tensor logits = at::tensor(logits_v).view({1, 6});
  SamplingParams p;
  p.temperature = 0.7;
  p.top_p = 0.9;
  // Expected, computed here independently: softmax(l / T), then the smallest prefix (by
  // probability) reaching 0.9, renormalised.
  std::vector<double> q(6);
  double z = 0;
  for (size_t i = 0; i < 6; ++i) z += q[i] = std::exp(logits_v[i] / 0.7);
  for (auto& x : q) x /= z;
  std::vector<double> expected(6, 0.0);
  double mass = 0, kept = 0;
  for (size_t i = 0; i < 6 && mass < 0.9; ++i) {  // logits are sorted descending already
    expected[i] = q[i];
    mass += q[i];
  }
  for (auto x : expected) kept += x;
  for (auto& x : expected) x /= kept;
  // Probabilities .70 .17 .08 .04 ...: three tokens reach 0.9.
  ASSERT_EQ(std::count_if(expected.begin(), expected.end(), [](double x) { return x > 0; }), 3);

  at::Generator gen = make_cpu_generator(1234);
  const int64_t n = 20000;
  std::vector<int64_t> counts(6, 0);
  for (int64_t i = 0; i < n; ++i) ++counts[static_cast<size_t>(sample_tokens(logits, {&p}, {&gen})[0])];
  EXPECT_EQ(counts[3] + counts[4] + counts[5], 0) << "drew a token outside the nucleus";
  // df = 2; the 0.1% critical value is 13.82.
  EXPECT_LT(chi_square(counts, expected, n), 13.82);
  // The sampler's own distribution agrees with the independent computation.
  at::Tensor d = sampling_distribution(logits[0], p);
  for (size_t i = 0; i < 6; ++i) EXPECT_NEAR(d[static_cast<int64_t>(i)].item<double>(), expected[i], 1e-6);
}

TEST(Sampling, TopKKeepsTheKMostLikely) {
  at::Tensor logits = at::tensor(std::vector<float>{0.1f, 3.0f, 2.0f, -1.0f}).view({1, 4});
  SamplingParams p;
  p.temperature = 1.0;
  p.top_k = 2;
  at::Generator gen = make_cpu_generator(7);
  std::vector<int64_t> counts(4, 0);
  const int64_t n = 20000;
  for (int64_t i = 0; i < n; ++i) ++counts[static_cast<size_t>(sample_tokens(logits, {&p}, {&gen})[0])];
  EXPECT_EQ(counts[0] + counts[3], 0);
  const double p1 = std::exp(3.0) / (std::exp(3.0) + std::exp(2.0));
  EXPECT_LT(chi_square(counts, {0, p1, 1 - p1, 0}, n), 10.83);  // df = 1
  SamplingParams greedy;
  EXPECT_EQ(sample_tokens(logits, {&greedy}, {&gen})[0], 1);
}

// The nucleus is found among the top k tokens (k growing from 64); over a vocabulary of 1,000 it
// must keep the same tokens with the same probabilities as a full sort of the row does, whether
// the nucleus is a handful of tokens (peaked logits) or most of the vocabulary (flat ones).
TEST(Sampling, TopPOverALargeVocabularyEqualsAFullSort) {
  at::Generator g = make_cpu_generator(5);
  for (const double scale : {0.2, 1.0, 6.0})
    for (const double top_p : {0.5, 0.9, 0.999}) {
      at::Tensor logits = at::randn({1000}, g) * scale;
      SamplingParams p;
      p.temperature = 0.7, p.top_p = top_p;
      at::Tensor l = logits / p.temperature;
      auto [sorted, order] = l.sort(-1, /*descending=*/true);
      at::Tensor probs = sorted.softmax(-1);
      at::Tensor drop = (probs.cumsum(-1) - probs) >= top_p;
      at::Tensor want = l.index_put({order.masked_select(drop)}, at::scalar_tensor(-INFINITY)).softmax(-1);
      at::Tensor got = sampling_distribution(logits, p);
      EXPECT_TRUE(((got > 0) == (want > 0)).all().item<bool>()) << "scale " << scale << ", top_p " << top_p;
      EXPECT_LT((got - want).abs().max().item<double>(), 1e-6) << "scale " << scale << ", top_p " << top_p;
    }
}

// What the host sampler's nucleus must be (sampling_rows.h), by a full stable sort: the row's
// probabilities [V], 0 outside the nucleus.
static at::Tensor nucleus_definition(const at::Tensor& l, double top_p) {  // l [V] fp32, already / T
  const int64_t V = l.size(0);
  const at::Tensor e_row = (l - l.max()).exp();
  const float* e = e_row.const_data_ptr<float>();
  auto mass = [&](int64_t i) { return static_cast<uint64_t>(e[i] * 1099511627776.0f); };  // e * 2^40
  uint64_t total = 0;
  for (int64_t i = 0; i < V; ++i) total += mass(i);
  const double target = static_cast<double>(static_cast<float>(top_p)) * static_cast<double>(total);
  std::vector<int64_t> order(static_cast<size_t>(V));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return e[a] > e[b]; });
  std::vector<int64_t> kept;
  uint64_t before = 0;
  for (int64_t i : order) {
    if (!kept.empty() && static_cast<double>(before) >= target) break;
    kept.push_back(i);
    before += mass(i);
  }
  std::sort(kept.begin(), kept.end());
  double kept_mass = 0;  // the kept tokens' probabilities: their e over its sum, in double
  for (int64_t i : kept) kept_mass += e[i];
  std::vector<float> probs;
  for (int64_t i : kept) probs.push_back(static_cast<float>(e[i] / kept_mass));
  return at::zeros({V}).index_put_({at::tensor(kept, at::kLong)}, at::tensor(probs));
}

// The nucleus found through bins of e = exp(l - max) by binary exponent, sorted where they hold few
// tokens and by selection where they hold many (flat rows), is the one a full stable sort gives
// (e descending, ties by token id; a token stays while the mass before it, e * 2^40 truncated to
// an integer, is short of top_p of the row's), with the same probabilities (each kept e over their
// sum in double, in token order): over rows of 49,152 tokens peaked and flat, bf16-rounded rows
// full of ties, a row of one value, 0 where top-k cut, and top_p near 0 and near 1.
TEST(Sampling, TheNucleusIsTheFullSortsWithTiesById) {
  at::Generator g = make_cpu_generator(17);
  std::vector<std::pair<std::string, at::Tensor>> rows;
  for (const double scale : {0.3, 2.0, 8.0})
    rows.emplace_back("randn x " + std::to_string(scale), at::randn({49152}, g) * scale);
  rows.emplace_back("bf16 ties", (at::randn({5000}, g) * 3).to(at::kBFloat16).to(at::kFloat));
  rows.emplace_back("one value", at::zeros({1000}));
  rows.emplace_back("two tokens", at::tensor(std::vector<float>{1.0f, 1.0f}));
  for (const auto& [name, logits] : rows)
    for (const double top_p : {0.01, 0.3, 0.9, 0.999})
      for (const int64_t top_k : {0, 40}) {
        SamplingParams p;
        p.temperature = 0.7, p.top_p = top_p, p.top_k = top_k;
        at::Tensor l = logits / p.temperature;
        if (cuts_top_k(p, l.size(0))) {
          const float kth = std::get<0>(l.topk(top_k)).min().item<float>();
          l = l.masked_fill(l < kth, -INFINITY);
        }
        const at::Tensor want = nucleus_definition(l, top_p), got = sampling_distribution(logits, p);
        SCOPED_TRACE(name + ", top_p " + std::to_string(top_p) + ", top_k " + std::to_string(top_k));
        EXPECT_TRUE(at::equal(got > 0, want > 0))
            << (got > 0).sum().item<int64_t>() << " tokens kept, want " << (want > 0).sum().item<int64_t>();
        EXPECT_TRUE(at::equal(got, want));
      }
}

// Where a decision falls within the error of the row's mass in double, the sampler takes the
// integer mass exactly. Every e but the top two is just under 2^-40, so truncated to 0: the double
// mass exceeds the integer one by 1.2e-7 of it, more than the gap between top_p's target and the
// top token's mass, and an estimate from it would keep the second token (sorted: two tokens in the
// bins). Then a row of such tokens alone past the top one, which the selection decides.
TEST(Sampling, TheNucleusTakesTheExactMassWhereTheEstimateCannotDecide) {
  const float below_two_thirds = std::nextafter(2.0f / 3.0f, 0.0f);
  for (const auto& [second, top_p] : {std::pair<float, double>{std::log(0.5f), below_two_thirds},
                                      std::pair<float, double>{std::log(9e-13f), 1.0 - std::ldexp(1.0, -24)}}) {
    at::Tensor logits = at::full({200002}, std::log(9e-13f));  // e just under 2^-40 = 9.09e-13
    logits[0] = 0.0f;
    logits[1] = second;
    SamplingParams p;
    p.temperature = 1.0, p.top_p = top_p;
    const at::Tensor want = nucleus_definition(logits, p.top_p), got = sampling_distribution(logits, p);
    SCOPED_TRACE("top_p " + std::to_string(top_p));
    EXPECT_EQ((want > 0).sum().item<int64_t>(), 1);
    EXPECT_TRUE(at::equal(got, want)) << (got > 0).sum().item<int64_t>() << " tokens kept";
  }
}

// A batch draws each row as at::multinomial(sampling_distribution(row), 1) with that row's
// generator would, step after step (so the generator also ends where multinomial leaves it): the
// batched scaling, the race that skips the logarithm where a token cannot win, and the rows drawn
// on parallel threads change nothing a seed promises. Mixed rows (plain, another temperature,
// greedy, top-k, top-p), vocabularies up to SmolLM2's 49,152.
static void expect_batched_draws_equal_multinomial(int64_t V, at::ScalarType dtype, SamplingScratch& scratch) {
  at::Generator seed_gen = make_cpu_generator(99);
  at::Tensor logits = (at::randn({5, V}, seed_gen) * 3).to(dtype);  // [B, V]
  SamplingParams hot, cool, greedy, topk, topp;
  hot.temperature = 1.0, cool.temperature = 0.7, topk.temperature = 0.9, topk.top_k = 5;
  topp.temperature = 0.7, topp.top_p = 0.9;
  for (const std::vector<const SamplingParams*>& params :
       {std::vector<const SamplingParams*>{&hot, &cool, &hot, &cool, &hot},
        std::vector<const SamplingParams*>{&cool, &greedy, &topk, &hot, &greedy},
        std::vector<const SamplingParams*>{&topp, &cool, &topp, &greedy, &topk}}) {
    std::vector<at::Generator> mine, ref;
    for (int b = 0; b < 5; ++b)
      mine.push_back(make_cpu_generator(1000 + b)), ref.push_back(make_cpu_generator(1000 + b));
    std::vector<at::Generator*> mine_ptrs;
    for (auto& g : mine) mine_ptrs.push_back(&g);
    for (int step = 0; step < 50; ++step) {
      const std::vector<int64_t> got = sample_tokens(logits, params, mine_ptrs, &scratch);
      for (int64_t b = 0; b < 5; ++b) {
        const SamplingParams& p = *params[static_cast<size_t>(b)];
        const int64_t want =
            p.temperature == 0.0
                ? logits[b].argmax().item<int64_t>()
                : at::multinomial(sampling_distribution(logits[b], p), 1, false, ref[b]).item<int64_t>();
        ASSERT_EQ(got[static_cast<size_t>(b)], want)
            << "V " << V << ", " << dtype << ", step " << step << ", row " << b;
      }
    }
  }
}

TEST(Sampling, BatchedDrawEqualsMultinomialPerRow) {
  SamplingScratch scratch;  // one, as a decode loop keeps, through rows of every width
  for (const int64_t V : {49152, 50, 5000}) expect_batched_draws_equal_multinomial(V, at::kFloat, scratch);
  expect_batched_draws_equal_multinomial(5000, at::kBFloat16, scratch);  // rows copied to fp32 first
}

// Logits with NaN or inf have no distribution (at::multinomial refuses them too): a sampled row
// with one is a runtime error naming the logits, whether its draw is the whole row or a nucleus.
TEST(Sampling, RowsWithNaNOrInfAreAnErrorNotADraw) {
  SamplingParams plain, nucleus;
  plain.temperature = 0.7, nucleus.temperature = 0.7, nucleus.top_p = 0.9;
  for (const float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()})
    for (const SamplingParams* p : {&plain, &nucleus}) {
      at::Tensor logits = at::randn({3, 5000}, make_cpu_generator(1));
      logits[1][4321] = bad;
      std::vector<at::Generator> gens = {make_cpu_generator(1), make_cpu_generator(2), make_cpu_generator(3)};
      try {
        sample_tokens(logits, {p, p, p}, {&gens[0], &gens[1], &gens[2]});
        ADD_FAILURE() << "drew from a row holding " << bad;
      } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::Runtime);
        EXPECT_NE(std::string(e.what()).find("logits"), std::string::npos) << e.what();
      }
      EXPECT_THROW(sampling_distribution(logits[1], *p), Error);
    }
}

}  // namespace s2d
