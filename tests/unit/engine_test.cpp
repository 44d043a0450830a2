// The generation engine: exactness under batching, prefix reuse, seeds, stops, continuous
// batching, slots and cache growth, and memory.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <limits>

#include "engine_fixture.h"
#include "s2d/engine/cache_sizing.h"
#include "s2d/engine/generator.h"
#include "s2d/util/error.h"
#include "test_util.h"

namespace s2d {
using namespace s2d::testing;

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
  const int64_t before = resident_bytes() / 1024;
  for (int round = 0; round < 5; ++round) g.run(batch(200), [&](GenResult&&) { ++done; });
  const int64_t growth = resident_bytes() / 1024 - before;
  EXPECT_EQ(done, 1200);
  EXPECT_LT(growth, 16 * 1024) << "RSS grew by " << growth << " KiB over 1000 requests";
  std::cout << "RSS growth over 1000 requests: " << growth << " KiB\n";
}

}  // namespace s2d
