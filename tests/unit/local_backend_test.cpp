// The in-process backend: newcomers joining a run, reused prompt tokens, fairness to long
// requests, and its input checks and context policy.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <chrono>
#include <limits>
#include <map>

#include "engine_fixture.h"
#include "s2d/engine/local_backend.h"
#include "s2d/model/checkpoint.h"
#include "s2d/util/error.h"
#include "sp_fixture.h"
#include "test_util.h"

namespace s2d {
using namespace s2d::testing;

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

}  // namespace s2d
