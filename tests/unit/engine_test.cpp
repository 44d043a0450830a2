// The generation engine: sampling distribution, exactness under batching, seeds, stops,
// continuous batching, memory, and the local backend's input checks.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <limits>

#include <array>
#include <chrono>

#include <unistd.h>
#include <fstream>
#include <map>
#include <numeric>

#include "engine_fixture.h"
#include "s2d/engine/cache_sizing.h"
#include "s2d/engine/generator.h"
#include "s2d/engine/local_backend.h"
#include "s2d/engine/sampling.h"
#include "s2d/model/checkpoint.h"
#include "s2d/util/error.h"
#include "sp_fixture.h"
#include "test_util.h"

namespace s2d {
using namespace s2d::testing;

namespace {

int64_t rss_kb() {
  std::ifstream f("/proc/self/statm");
  int64_t size = 0, resident = 0;
  f >> size >> resident;
  return resident * (::sysconf(_SC_PAGESIZE) / 1024);
}

}  // namespace

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

TEST(Generator, GreedyInAMixedBatchEqualsAlone) {
  std::vector<GenRequest> reqs = {req({1, 5, 9, 13}, 12), req({1, 7}, 20), req({1, 30, 31, 32, 33, 34, 35, 36}, 5),
                                  req({1, 100, 200}, 16), req({1, 3}, 9),  req({1, 44, 45, 46, 47}, 14)};
  auto batched = run(reqs, 4);  // 6 requests through 4 slots: slots are reused mid-run
  for (size_t i = 0; i < reqs.size(); ++i) {
    auto alone = run({reqs[i]}, 1);
    EXPECT_EQ(batched[i].samples.at(0).tokens, alone[0].samples.at(0).tokens) << "request " << i;
    EXPECT_EQ(static_cast<int64_t>(batched[i].samples[0].tokens.size()), reqs[i].sampling.max_new_tokens);
    EXPECT_EQ(batched[i].samples[0].finish_reason, "length");
  }
}

// Prompts that start alike are prefilled together with their common tokens computed once (a
// chain: the third shares 6 tokens with the first, the fourth 7 with the third); each still
// decodes as it does alone.
TEST(Generator, PromptsThatStartAlikeDecodeAsTheyDoAlone) {
  std::vector<GenRequest> reqs = {req({1, 5, 9, 13, 17, 21, 25}, 10), req({1, 5, 9, 40}, 12),
                                  req({1, 5, 9, 13, 17, 21, 60, 61}, 8), req({1, 5, 9, 13, 17, 21, 60, 70, 71}, 9),
                                  req({1, 5, 9, 13, 17, 21, 25}, 11)};
  auto batched = run(reqs, 8);
  for (size_t i = 0; i < reqs.size(); ++i) {
    auto alone = run({reqs[i]}, 1);
    EXPECT_EQ(batched[i].samples.at(0).tokens, alone[0].samples.at(0).tokens) << "request " << i;
  }
}

// Newcomers whose prompts start as a busy slot's does take those tokens' keys and values from the
// slot's columns instead of computing them, and still decode as they do alone. With either
// sampler: the device sampler's loop runs one step ahead of the host.
TEST(Generator, PromptsThatStartABusySlotsPromptTakeItsColumnsAndDecodeAsAlone) {
  for (const auto sampler : {EngineOptions::Sampler::Host, EngineOptions::Sampler::Device}) {
    SCOPED_TRACE(sampler == EngineOptions::Sampler::Host ? "host sampler" : "device sampler");
    Generator g(tiny_lm(), tiny_tokenizer(), {.batch_size = 4, .sampler = sampler});
    const GenRequest busy = req({1, 5, 9, 13, 17, 21, 25, 29}, 30);
    // 6 tokens of the busy prompt; all 8 of it (more than the 6 it shares with the first
    // newcomer); 1, no more than it shares with the first newcomer, which it takes from there.
    const std::vector<GenRequest> newcomers = {req({1, 5, 9, 13, 17, 21, 40, 41}, 6),
                                               req({1, 5, 9, 13, 17, 21, 25, 29, 33}, 7), req({1, 2}, 5)};
    int calls = 0;
    std::vector<GenResult> out(4);
    g.run(
        {busy}, [&](GenResult&& r) { out[r.index] = std::move(r); },
        [&](int64_t) { return ++calls == 3 ? newcomers : std::vector<GenRequest>{}; });
    EXPECT_EQ(g.prefill_counts().tokens, 8 + 8 + 9 + 2);
    EXPECT_EQ(g.prefill_counts().computed, 8 + 2 + 1 + 1);
    const std::vector<int64_t> cached = {0, 6, 8, 1};  // the last one from the first newcomer, in its group
    for (size_t i = 0; i < out.size(); ++i) EXPECT_EQ(out[i].cached_prompt_tokens, cached[i]) << "request " << i;
    EXPECT_EQ(out[0].samples.at(0).tokens, run({busy}, 1, sampler)[0].samples.at(0).tokens);
    for (size_t i = 0; i < newcomers.size(); ++i)
      EXPECT_EQ(out[i + 1].samples.at(0).tokens, run({newcomers[i]}, 1, sampler)[0].samples.at(0).tokens)
          << "newcomer " << i;
  }
}

// A prompt that starts as one of an earlier run did takes those tokens from the prefix cache, and
// decodes as it does alone; with the cache off it computes them again.
TEST(Generator, APromptThatStartsAsAnEarlierRunsTakesItFromThePrefixCache) {
  const GenRequest first = req({1, 5, 9, 13, 17, 21, 25, 29}, 6);
  const std::vector<GenRequest> later = {req({1, 5, 9, 13, 17, 21, 25, 29, 33, 37}, 7),  // all 8 tokens
                                         req({1, 5, 9, 13, 60}, 5)};                     // 4 of them
  for (const int64_t budget : {int64_t{-1}, int64_t{0}}) {
    SCOPED_TRACE(budget == 0 ? "prefix cache off" : "prefix cache on");
    Generator g(tiny_lm(), tiny_tokenizer(), {.batch_size = 4, .prefix_cache_bytes = budget});
    std::vector<GenResult> out(2);
    g.run({first}, [](GenResult&&) {});
    for (size_t i = 0; i < later.size(); ++i)  // a run each: nothing is busy when they prefill
      g.run({later[i]}, [&](GenResult&& r) { out[i] = std::move(r); });
    EXPECT_EQ(g.prefill_counts().tokens, 8 + 10 + 5);
    EXPECT_EQ(g.prefill_counts().computed, budget == 0 ? 8 + 10 + 5 : 8 + 2 + 1);
    for (size_t i = 0; i < later.size(); ++i)
      EXPECT_EQ(out[i].samples.at(0).tokens, run({later[i]}, 1)[0].samples.at(0).tokens) << "request " << i;
    EXPECT_EQ(out[0].cached_prompt_tokens, budget == 0 ? 0 : 8);
    EXPECT_EQ(out[1].cached_prompt_tokens, budget == 0 ? 0 : 4);
  }
  EXPECT_THROW(Generator(tiny_lm(), tiny_tokenizer(), {.prefix_cache_bytes = -2}), Error);
}

// With cache_answers (s2d serve), a finished sample's prompt and answer stay in the prefix cache:
// a chat's next turn, which starts with both, computes only its new tokens and decodes as alone.
// Without it, only the prompt is kept. Both samplers: the device one retires a step later.
TEST(Generator, ANextTurnTakesThePreviousPromptAndAnswerFromThePrefixCache) {
  for (const auto sampler : {EngineOptions::Sampler::Host, EngineOptions::Sampler::Device}) {
    for (const bool answers : {true, false}) {
      SCOPED_TRACE(std::string(sampler == EngineOptions::Sampler::Host ? "host" : "device") + " sampler, answers " +
                   (answers ? "kept" : "not kept"));
      Generator g(tiny_lm(), tiny_tokenizer(), {.batch_size = 2, .sampler = sampler, .cache_answers = answers});
      const GenRequest first = req({1, 5, 9, 13}, 6);
      GenResult a;
      g.run({first}, [&](GenResult&& r) { a = std::move(r); });
      const std::vector<int>& answer = a.samples.at(0).tokens;
      ASSERT_EQ(answer.size(), 6u);
      std::vector<int> next = first.prompt_ids;
      next.insert(next.end(), answer.begin(), answer.end());
      next.insert(next.end(), {7, 11});
      const GenRequest second = req(next, 5);
      GenResult b;
      g.run({second}, [&](GenResult&& r) { b = std::move(r); });
      EXPECT_EQ(g.prefill_counts().tokens, 4 + 12);
      // The answer's last token was sampled, never fed: 4 + 5 of the 12 are cached.
      EXPECT_EQ(g.prefill_counts().computed, answers ? 4 + 3 : 4 + 8);
      EXPECT_EQ(a.cached_prompt_tokens, 0);
      EXPECT_EQ(b.cached_prompt_tokens, answers ? 9 : 4);
      EXPECT_EQ(b.samples.at(0).tokens, run({second}, 1, sampler)[0].samples.at(0).tokens);
    }
  }
}

TEST(Generator, SameSeedSameSamplesAndSamplesDiffer) {
  std::vector<GenRequest> reqs = {req({1, 5, 9}, 16, 1.0, 42, {0, 1, 2}), req({1, 8}, 16, 1.0, 43, {0, 1, 2})};
  auto a = run(reqs, 4), b = run(reqs, 4);
  for (size_t i = 0; i < reqs.size(); ++i)
    for (size_t s = 0; s < 3; ++s) EXPECT_EQ(a[i].samples[s].tokens, b[i].samples[s].tokens);
  EXPECT_NE(a[0].samples[0].tokens, a[0].samples[1].tokens) << "samples of one prompt should differ";
  // A resumed run asking only for sample 2 redraws exactly sample 2.
  auto only2 = run({req({1, 5, 9}, 16, 1.0, 42, {2})}, 4);
  EXPECT_EQ(only2[0].samples[0].sample, 2);
  EXPECT_EQ(only2[0].samples[0].tokens, a[0].samples[2].tokens);
}

TEST(Generator, StopStringAcrossTokenBoundariesAndStopIds) {
  auto free_run = run({req({1, 20, 21}, 24)}, 1)[0].samples[0];
  const auto& tok = tiny_tokenizer();
  // A stop string that starts inside token 3 and ends inside token 4.
  const std::string before = tok.decode({free_run.tokens.begin(), free_run.tokens.begin() + 3});
  const std::string through = tok.decode({free_run.tokens.begin(), free_run.tokens.begin() + 5});
  ASSERT_GT(through.size(), before.size() + 2);
  const std::string stop = through.substr(before.size() - 1, through.size() - before.size());
  GenRequest r = req({1, 20, 21}, 24);
  r.sampling.stop = {stop};
  auto stopped = run({r}, 1)[0].samples[0];
  EXPECT_EQ(stopped.finish_reason, "stop");
  EXPECT_EQ(stopped.text, free_run.text.substr(0, free_run.text.find(stop)));
  EXPECT_LE(stopped.tokens.size(), 5u);

  GenRequest e = req({1, 20, 21}, 24);
  e.sampling.ignore_eos = false;
  e.stop_ids = {free_run.tokens[6]};
  auto eos = run({e}, 1)[0].samples[0];
  EXPECT_EQ(eos.finish_reason, "stop");
  const auto first = std::find(free_run.tokens.begin(), free_run.tokens.end(), free_run.tokens[6]);
  EXPECT_EQ(eos.tokens, std::vector<int>(free_run.tokens.begin(), first));
}

TEST(Generator, ContinuousBatchingLetsShortRequestsFinishFirst) {
  std::vector<GenRequest> reqs = {req({1, 5}, 60), req({1, 6}, 3), req({1, 7}, 3), req({1, 8}, 3), req({1, 9}, 3)};
  Generator g(tiny_lm(), tiny_tokenizer(), {.batch_size = 2});
  std::vector<size_t> order;
  g.run(reqs, [&](GenResult&& r) { order.push_back(r.index); });
  ASSERT_EQ(order.size(), 5u);
  EXPECT_EQ(order.back(), 0u) << "the long request should finish last, the short ones streaming past it";
  EXPECT_EQ(g.generated_tokens(), 60 + 4 * 3);
}

TEST(Generator, RequestsFromASourceJoinTheRunningBatch) {
  // A long request runs; two short ones arrive (from the source) a few steps in. They must join
  // the run (finish before the long one), give what they give alone, and a request too long for
  // what the run's cache can grow to (the model's context) must be refused by the source's
  // contract. With either sampler: the device sampler's loop admits newcomers one step behind.
  for (const auto sampler : {EngineOptions::Sampler::Host, EngineOptions::Sampler::Device}) {
    SCOPED_TRACE(sampler == EngineOptions::Sampler::Host ? "host sampler" : "device sampler");
    Generator g(tiny_lm(), tiny_tokenizer(), {.batch_size = 4, .sampler = sampler});
    const auto long_req = req({1, 5, 9}, 40);
    const std::vector<GenRequest> newcomers = {req({1, 7, 7}, 4), req({1, 8}, 5, 1.0, 3, {0, 1})};
    int calls = 0;
    int64_t seen_capacity = 0;
    std::vector<GenResult> out(3);
    std::vector<size_t> order;
    g.run(
        {long_req},
        [&](GenResult&& r) {
          order.push_back(r.index);
          out[r.index] = std::move(r);
        },
        [&](int64_t capacity) {
          seen_capacity = capacity;
          return ++calls == 5 ? newcomers : std::vector<GenRequest>{};
        });
    EXPECT_EQ(seen_capacity, tiny_lm().config().max_context()) << "the cache may grow to the context";
    EXPECT_GE(calls, 6) << "the source is asked again until it has nothing";
    ASSERT_EQ(order.size(), 3u);
    EXPECT_EQ(order.back(), 0u) << "the newcomers joined the running batch and finished first";
    EXPECT_EQ(out[0].samples[0].tokens, run({long_req}, 1, sampler)[0].samples[0].tokens);
    EXPECT_EQ(out[1].samples[0].tokens, run({newcomers[0]}, 1, sampler)[0].samples[0].tokens);
    const auto alone = run({newcomers[1]}, 2, sampler)[0];
    ASSERT_EQ(out[2].samples.size(), 2u);
    for (size_t s = 0; s < 2; ++s)  // seeded streams do not depend on company
      EXPECT_EQ(out[2].samples[s].tokens, alone.samples[s].tokens);
    EXPECT_EQ(g.generated_tokens(), 40 + 4 + 2 * 5);
  }

  Generator g2(tiny_lm(), tiny_tokenizer(), {.batch_size = 2});
  bool given = false;
  EXPECT_THROW(g2.run(
                   {req({1, 5}, 4)}, [](GenResult&&) {},
                   [&](int64_t) {
                     if (given) return std::vector<GenRequest>{};
                     given = true;
                     return std::vector<GenRequest>{req({1, 5}, tiny_lm().config().max_context())};
                   }),
               Error);
}

TEST(Generator, AJoiningRequestLongerThanTheCacheGrowsIt) {
  // The run's cache holds 3 + 12 columns; a request needing 4 + 70 arrives while the first is
  // decoding. It joins (the cache grows, every slot's columns copied) instead of waiting, and
  // both give what they give alone; with growth off it is refused. Either sampler, and sampled.
  for (const auto sampler : {EngineOptions::Sampler::Host, EngineOptions::Sampler::Device}) {
    SCOPED_TRACE(sampler == EngineOptions::Sampler::Host ? "host sampler" : "device sampler");
    const auto first = req({1, 5, 9}, 12, 0.9, 7);
    const auto longer = req({1, 7, 7, 3}, 70);
    for (const bool grow : {true, false}) {
      Generator g(tiny_lm(), tiny_tokenizer(), {.batch_size = 2, .sampler = sampler, .grow_cache = grow});
      std::vector<GenResult> out(2);
      int calls = 0;
      auto source = [&](int64_t capacity) {
        if (++calls != 3) return std::vector<GenRequest>{};
        EXPECT_EQ(capacity, grow ? tiny_lm().config().max_context() : 3 + 12);
        return std::vector<GenRequest>{longer};
      };
      auto done = [&](GenResult&& r) { out[r.index] = std::move(r); };
      if (!grow) {
        EXPECT_THROW(g.run({first}, done, source), Error) << "the source's contract: at most what it was told";
        continue;
      }
      g.run({first}, done, source);
      EXPECT_EQ(out[0].samples.at(0).tokens, run({first}, 1, sampler)[0].samples[0].tokens)
          << "the first request's columns survived the copy";
      EXPECT_EQ(out[1].samples.at(0).tokens, run({longer}, 1, sampler)[0].samples[0].tokens);
      EXPECT_EQ(out[1].samples.at(0).tokens.size(), 70u);
    }
  }
}

TEST(Generator, ARunsSlotsStartAtItsFirstRequestsSamplesAndGrowAsOthersJoin) {
  // --batch-size 64 on a quiet server: one request makes a one-slot cache. Newcomers that the
  // free slots cannot take grow it (every busy slot's columns copied), to twice the slots or as
  // many as wait, at most 64, and every sample gives what it gives alone. Either sampler, sampled,
  // with top-p rows (the host sampler draws them in parallel, alone in sequence).
  auto top_p = [](GenRequest r) {
    r.sampling.top_p = 0.8;
    return r;
  };
  for (const auto sampler : {EngineOptions::Sampler::Host, EngineOptions::Sampler::Device}) {
    SCOPED_TRACE(sampler == EngineOptions::Sampler::Host ? "host sampler" : "device sampler");
    const auto first = top_p(req({1, 5, 9}, 30, 0.9, 7));
    const std::vector<GenRequest> second = {top_p(req({1, 6}, 12, 0.8, 3, {0, 1}))};  // 1 + 2 > 2 slots: 3
    const std::vector<GenRequest> third = {req({1, 7}, 6), top_p(req({1, 8, 2}, 8, 1.0, 5, {0, 1, 2})),
                                           req({1, 9}, 5)};  // 3 busy + 5 > 2 x 3 slots: 8
    std::vector<GenResult> out(5);
    int calls = 0;
    Generator g(tiny_lm(), tiny_tokenizer(), {.batch_size = 64, .sampler = sampler});
    g.run(
        {first}, [&](GenResult&& r) { out[r.index] = std::move(r); },
        [&](int64_t) {
          ++calls;
          return calls == 3 ? second : calls == 6 ? third : std::vector<GenRequest>{};
        });
    EXPECT_EQ(g.most_slots(), 8);
    const std::vector<GenRequest> all = {first, second[0], third[0], third[1], third[2]};
    for (size_t i = 0; i < all.size(); ++i) {
      const GenResult alone = run({all[i]}, 1, sampler)[0];
      ASSERT_EQ(out[i].samples.size(), alone.samples.size()) << "request " << i;
      for (size_t s = 0; s < alone.samples.size(); ++s)
        EXPECT_EQ(out[i].samples[s].tokens, alone.samples[s].tokens) << "request " << i << ", sample " << s;
    }
    Generator quiet(tiny_lm(), tiny_tokenizer(), {.batch_size = 64, .sampler = sampler});
    quiet.run({first}, [](GenResult&&) {}, [](int64_t) { return std::vector<GenRequest>{}; });
    EXPECT_EQ(quiet.most_slots(), 1) << "no one joined: one slot";
  }
}

TEST(CacheSizing, SlotsDoubleOrTakeWhatWaitsWithinTheMostAndTheMemory) {
  const ModelConfig& c = tiny_lm().config();
  const uint64_t unknown = std::numeric_limits<uint64_t>::max();
  EXPECT_EQ(slots_to_grow_to(1, 1, 64, 50, c, at::kFloat, unknown), 1) << "nothing waits";
  EXPECT_EQ(slots_to_grow_to(1, 2, 64, 50, c, at::kFloat, unknown), 2);
  EXPECT_EQ(slots_to_grow_to(3, 4, 64, 50, c, at::kFloat, unknown), 6) << "twice as many";
  EXPECT_EQ(slots_to_grow_to(3, 20, 64, 50, c, at::kFloat, unknown), 20) << "as many as wait";
  EXPECT_EQ(slots_to_grow_to(40, 41, 64, 50, c, at::kFloat, unknown), 64) << "at most the most";
  EXPECT_EQ(slots_to_grow_to(64, 90, 64, 50, c, at::kFloat, unknown), 64);
  EXPECT_EQ(slots_to_grow_to(1, 9, std::numeric_limits<int64_t>::max(), 50, c, at::kFloat, unknown), 9);
  const uint64_t slot = kv_bytes_per_token(c, at::kFloat) * 50,
                 table = rope_table_bytes_per_position(c, at::kFloat) * 50;
  // The new cache beside the old one: 4 old slots and their table, then 7 slots and a table.
  EXPECT_EQ(slots_to_grow_to(4, 20, 64, 50, c, at::kFloat, 11 * slot + 2 * table), 7) << "what fits beside the copy";
  EXPECT_EQ(slots_to_grow_to(4, 20, 64, 50, c, at::kFloat, 8 * slot + 2 * table), 4) << "none more fit";
  EXPECT_EQ(slots_to_grow_to(4, 20, 64, 50, c, at::kFloat, 1), 4);
}

TEST(Generator, ABatchTooLargeForTheMemoryRunsAsManySlotsAsHalfOfItHolds) {
  // One long request and four short ones; the cache is 2 + 60 columns a slot. A budget just short
  // of the five slots wanted gives two (half of it), so the short ones stream past the long one; a
  // budget of 1 byte gives one slot, in order. A --batch-size of a billion (a server's, with a
  // source) is cut the same way instead of failing the run, and its cache does not grow.
  const std::vector<GenRequest> reqs = {req({1, 5}, 60), req({1, 6}, 3), req({1, 7}, 3), req({1, 8}, 3),
                                        req({1, 9}, 3)};
  const uint64_t per_slot = kv_bytes_per_token(tiny_lm().config(), at::kFloat) * 62;
  const uint64_t table = rope_table_bytes_per_position(tiny_lm().config(), at::kFloat) * 62;  // shared by the slots
  ASSERT_LT(table + 1, per_slot) << "the budgets below assume it";
  auto order_with = [&](int64_t batch, uint64_t budget, bool source) {
    Generator g(tiny_lm(), tiny_tokenizer(), {.batch_size = batch, .kv_cache_bytes = budget});
    std::vector<size_t> order;
    std::vector<GenResult> out(reqs.size());
    int64_t seen = 0;
    auto done = [&](GenResult&& r) {
      order.push_back(r.index);
      out[r.index] = std::move(r);
    };
    if (source) {
      g.run(reqs, done, [&](int64_t capacity) {
        seen = capacity;
        return std::vector<GenRequest>{};
      });
      EXPECT_EQ(seen, 62) << "a cut run keeps its cache's size";
    } else {
      g.run(reqs, done);
    }
    for (size_t i = 0; i < reqs.size(); ++i)
      EXPECT_EQ(out[i].samples.at(0).tokens, run({reqs[i]}, 1)[0].samples[0].tokens) << "request " << i;
    return order;
  };
  EXPECT_EQ(order_with(5, 5 * per_slot + table, false).back(), 0u) << "five slots fit: all at once";
  // Half of it, less the table, holds two slots.
  EXPECT_EQ(order_with(5, 4 * per_slot + 2 * table + 1, false).back(), 0u)
      << "two slots: the short ones pass the long one";
  EXPECT_EQ(order_with(5, 1, false), (std::vector<size_t>{0, 1, 2, 3, 4})) << "one slot: in order";
  EXPECT_EQ(order_with(1'000'000'000, 4 * per_slot + 2 * table + 1, true).back(), 0u);
}

TEST(Generator, ResidentMemoryStaysFlatOverAThousandRequests) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer keeps freed memory in its quarantine (256 MB), so RSS grows by design";
#endif
  Generator g(tiny_lm(), tiny_tokenizer(), {.batch_size = 8});
  auto batch = [](int n) {
    std::vector<GenRequest> v;
    for (int i = 0; i < n; ++i)
      v.push_back(req({1, 10 + i % 50, 20 + i % 7}, 4 + i % 5, 0.8, static_cast<uint64_t>(i)));
    return v;
  };
  int64_t done = 0;
  g.run(batch(200), [&](GenResult&&) { ++done; });  // warm up allocator caches
  const int64_t before = rss_kb();
  for (int round = 0; round < 5; ++round) g.run(batch(200), [&](GenResult&&) { ++done; });
  const int64_t growth = rss_kb() - before;
  EXPECT_EQ(done, 1200);
  EXPECT_LT(growth, 16 * 1024) << "RSS grew by " << growth << " KiB over 1000 requests";
  std::cout << "RSS growth over 1000 requests: " << growth << " KiB\n";
}

namespace {
// A local backend over the tiny model, saved in a fresh directory.
std::unique_ptr<Backend> tiny_local_backend(bool grow_cache = true) {
  const auto dir = fresh_dir("d");
  save_model(dir + "/m", tiny_lm(), {.tokenizer_path = tiny_tokenizer_path()});
  return make_local_backend(
      {.model_dir = dir + "/m", .device = "cpu", .chat_template = "llama-2", .grow_cache = grow_cache});
}
// The same prompt, exactly max_new new tokens.
CompletionRequest coin_request(const std::string& id, int64_t max_new) {
  CompletionRequest r{.id = id, .prompt = std::string("a coin is heads up")};
  r.sampling.max_new_tokens = max_new;
  r.sampling.ignore_eos = true;
  return r;
}
}  // namespace

TEST(LocalBackend, OpenIntakeJoinsOrDefersNewcomersAndAnswersAll) {
  for (const bool grow : {true, false}) {
    SCOPED_TRACE(grow ? "the cache grows" : "the cache keeps its size");
    auto backend = tiny_local_backend(grow);
    const auto make = coin_request;
    // "fits" joins the run of "first" (same length); "long" needs more cache than that run has: it
    // joins too where the cache grows, else it runs next. Every one answers as it does alone.
    std::vector<std::vector<CompletionRequest>> arrivals = {{make("fits", 6), make("long", 30)}};
    std::map<std::string, CompletionResult> got;
    backend->complete_open(
        {make("first", 6)}, [&](CompletionResult&& r) { got[r.id] = std::move(r); },
        [&] {
          if (arrivals.empty()) return std::vector<CompletionRequest>{};
          auto next = std::move(arrivals.back());
          arrivals.pop_back();
          return next;
        });
    ASSERT_EQ(got.size(), 3u);
    for (const auto& [id, r] : got) {
      std::vector<CompletionResult> alone;
      backend->complete({make(id, id == "long" ? 30 : 6)},
                        [&](CompletionResult&& c) { alone.push_back(std::move(c)); });
      EXPECT_EQ(r.choices.at(0).text, alone.at(0).choices.at(0).text) << id;
      EXPECT_EQ(r.choices.at(0).generated_tokens, id == "long" ? 30 : 6) << id;
    }
  }
}

// The backend reports each request's reused prompt tokens, and its prefill counts: a prompt sent
// again computes only its last token (the one whose logits start the answer).
TEST(LocalBackend, ReportsThePromptTokensItReused) {
  auto backend = tiny_local_backend();
  std::vector<CompletionResult> got;
  for (const char* id : {"first", "again"})
    backend->complete({coin_request(id, 4)}, [&](CompletionResult&& r) { got.push_back(std::move(r)); });
  ASSERT_EQ(got.size(), 2u);
  const int64_t T = got[0].prompt_tokens;
  ASSERT_GT(T, 2);
  EXPECT_EQ(got[0].cached_prompt_tokens, 0);
  EXPECT_EQ(got[1].cached_prompt_tokens, T - 1);
  EXPECT_EQ(backend->prefilled_and_computed_tokens(), std::make_pair(2 * T, T + 1));
}

TEST(LocalBackend, APrefixCacheSizeOutOfRangeIsRefused) {
  const auto dir = fresh_dir("pc");
  save_model(dir + "/m", tiny_lm(), {.tokenizer_path = tiny_tokenizer_path()});
  for (const int64_t bad : {int64_t{-2}, int64_t{1} << 40}) {
    const LocalBackendOptions o{.model_dir = dir + "/m", .device = "cpu", .prefix_cache_mb = bad};
    const std::string found = "found " + std::to_string(bad);
    EXPECT_S2D_ERROR(make_local_backend(o), ErrorKind::Input, "--prefix-cache-mb", found.c_str());
  }
}

TEST(LocalBackend, AStreamOfShortRequestsDoesNotStarveALongOne) {
  // A cache that keeps its size (as on CUDA), so that "long" has to wait for a run of its own.
  auto backend = tiny_local_backend(/*grow_cache=*/false);
  const auto make = coin_request;
  // One arrival per intake call: "long" (too long for the first run's cache), then 200 short ones.
  int arrived = 0, arrived_when_long_done = -1;
  backend->complete_open(
      {make("first", 6)},
      [&](CompletionResult&& r) {
        if (r.id == "long") arrived_when_long_done = arrived;
      },
      [&] {
        if (arrived > 200) return std::vector<CompletionRequest>{};
        ++arrived;
        return std::vector<CompletionRequest>{arrived == 1 ? make("long", 30) : make("short", 6)};
      });
  // The first run stops taking newcomers once "long" waits, so it ends and "long" runs next, while
  // short requests are still arriving (a run that kept admitting them would end with the stream).
  EXPECT_GE(arrived_when_long_done, 1);
  std::cout << "long answered after " << arrived_when_long_done << " arrivals\n";
  EXPECT_LT(arrived_when_long_done, 100) << "long answered after " << arrived_when_long_done << " arrivals";
}

TEST(LocalBackend, BadInputsAndContextPolicy) {
  auto backend = tiny_local_backend();
  auto complete = [&](CompletionRequest r) {
    std::vector<CompletionResult> out;
    backend->complete({std::move(r)}, [&](CompletionResult&& c) { out.push_back(std::move(c)); });
    return out;
  };
  CompletionRequest empty{.id = "t1", .messages = {{"user", "   "}}};
  EXPECT_S2D_ERROR(complete(empty), ErrorKind::Input, "request t1", "empty prompt");

  std::string long_text;
  for (int i = 0; i < 300; ++i) long_text += "coin ";
  CompletionRequest too_long{.id = "t2", .messages = {{"user", long_text}}};
  EXPECT_S2D_ERROR(complete(too_long), ErrorKind::Input, "request t2", "does not fit the context", "< 256 tokens");

  CompletionRequest bad_p{.id = "t3", .messages = {{"user", "hi"}}};
  bad_p.sampling.top_p = 1.5;
  EXPECT_S2D_ERROR(complete(bad_p), ErrorKind::Input, "--top-p");
  bad_p.sampling.top_p = 1.0;
  bad_p.sampling.temperature = -1;
  EXPECT_S2D_ERROR(complete(bad_p), ErrorKind::Input, "--temperature");
  bad_p.sampling.temperature = std::numeric_limits<double>::infinity();
  EXPECT_S2D_ERROR(complete(bad_p), ErrorKind::Input, "--temperature", "finite", "inf");

  CompletionRequest clamp{.id = "t4", .messages = {{"user", "Is the coin still heads up?"}}};
  clamp.sampling.max_new_tokens = 100000;
  clamp.sampling.ignore_eos = true;
  auto res = complete(clamp);
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0].prompt_tokens + res[0].choices[0].generated_tokens, 256) << "clamped to the context";
  EXPECT_EQ(res[0].choices[0].finish_reason, "length");
  clamp.sampling.max_new_tokens = INT64_MAX;  // prompt + this overflowed, and the engine failed inside ATen
  res = complete(clamp);
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0].prompt_tokens + res[0].choices[0].generated_tokens, 256) << "clamped to the context";
}

TEST(LocalBackend, HugeInputsAreRefusedBeforeTheWork) {
  auto backend = tiny_local_backend();
  // 50 MB took minutes to tokenize before being refused; now its length alone refuses it.
  CompletionRequest huge{.id = "0",
                         .messages = {{"user", std::string(50u << 20, 'a')}},
                         .tag = "ll-7|answer",
                         .source_file = "tasks.jsonl",
                         .source_line = 12};
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_S2D_ERROR(backend->complete({huge}, [](CompletionResult&&) {}), ErrorKind::Input, "tasks.jsonl:12",
                   "task ll-7", "does not fit the context", "at least");
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 5.0);
  EXPECT_GT(backend->context_length(), 0);
  EXPECT_LE(backend->context_length(), tiny_lm().config().max_context());
}

TEST(KVCache, ASizeBeyondMemoryIsAnInputErrorNotAnAllocation) {
  ModelConfig c = tiny_lm().config();
  c.max_position_embeddings = kMaxPositions;
  const auto opts = at::TensorOptions().dtype(at::kFloat);
  EXPECT_S2D_ERROR(KVCache(c, 1 << 20, kMaxPositions, opts), ErrorKind::Input, "KV cache does not fit in memory", "GB");
  EXPECT_NO_THROW(KVCache(c, 2, 16, opts));
}

TEST(KVCache, TheRopeTableCountsInTheMemoryCheck) {
  // With no layers the keys and values take nothing, and RoPE's table is all the cache allocates.
  ModelConfig c = tiny_lm().config();
  c.num_hidden_layers = 0;
  EXPECT_S2D_ERROR(KVCache(c, 1, int64_t{1} << 40, at::TensorOptions().dtype(at::kFloat)), ErrorKind::Input,
                   "KV cache does not fit in memory");
}

// A CPU cache holds zeros, but takes memory only for the pages its slots write: a cache sized for
// the longest request costs what the requests fill (here 128 MiB of keys and values, of which one
// slot's first column is written).
TEST(KVCache, ACpuCacheIsZerosThatTakeMemoryOnlyWhereWritten) {
  auto resident_bytes = [] {
    std::ifstream statm("/proc/self/statm");
    int64_t size = 0, resident = 0;
    statm >> size >> resident;
    return resident * static_cast<int64_t>(sysconf(_SC_PAGESIZE));
  };
  ModelConfig c = tiny_lm().config();  // 2 layers
  c.max_position_embeddings = 1 << 16;
  const int64_t slots = 32, columns = int64_t{1} << 14;
  const int64_t before = resident_bytes();
  KVCache cache(c, slots, columns, at::TensorOptions().dtype(at::kFloat));
  const int64_t layer_bytes = cache.k[0].numel() * 4, total = 2 * c.num_hidden_layers * layer_bytes;
  ASSERT_GE(total, int64_t{128} << 20);
  EXPECT_LT(resident_bytes() - before, total / 16) << "the cache was written when it was made";
  for (const at::Tensor& t : cache.k) {
    EXPECT_TRUE(t.is_contiguous());
    t.select(0, 3).select(1, 0).fill_(1.5);  // slot 3, column 0 of every head
    EXPECT_EQ(t.sum().item<double>(), 1.5 * static_cast<double>(t.size(1) * t.size(3)));
  }
  for (const at::Tensor& t : cache.v) EXPECT_EQ(t.abs().max().item<float>(), 0.0f);
}

}  // namespace s2d
