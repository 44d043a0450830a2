// The HTTP teacher against a scripted in-process server (retries, n fallback, usage, key,
// concurrency), and the request batcher that feeds the engine from many server threads.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "s2d/api/http_backend.h"
#include "s2d/api/request_batcher.h"
#include "s2d/util/error.h"
#include "sp_fixture.h"
#include "test_util.h"

namespace s2d::api {
namespace {

using nlohmann::json;

// A fake OpenAI server on a free loopback port; `script` answers each POST.
struct FakeServer {
  httplib::Server svr;
  std::thread thread;
  int port = 0;
  std::atomic<int> posts{0}, in_flight{0}, max_in_flight{0};
  std::function<void(const json&, httplib::Response&, int call)> script;

  FakeServer() {
    auto handler = [this](const httplib::Request& req, httplib::Response& res) {
      const int now = ++in_flight;
      for (int m = max_in_flight.load(); now > m && !max_in_flight.compare_exchange_weak(m, now);) {
      }
      const int call = posts++;
      script(json::parse(req.body), res, call);
      if (req.has_header("Authorization")) res.set_header("X-Seen-Auth", req.get_header_value("Authorization"));
      --in_flight;
    };
    svr.Post("/v1/chat/completions", handler);
    svr.Post("/v1/completions", handler);
    svr.Get("/v1/models", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"object": "list", "data": [{"id": "served-name", "object": "model"}]})", "application/json");
    });
    port = svr.bind_to_any_port("127.0.0.1");
    thread = std::thread([this] { svr.listen_after_bind(); });
    while (!svr.is_running())
      std::this_thread::sleep_for(std::chrono::milliseconds(1));  // stop() before listen would be lost
  }
  ~FakeServer() {
    svr.stop();
    thread.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port) + "/v1"; }
};

// A well-formed chat reply: choice i says "<prefix> i", with usage unless `usage` is false.
void reply(httplib::Response& res, const json& body, const std::string& prefix, bool usage = true) {
  json choices = json::array();
  for (int i = 0; i < body.value("n", 1); ++i)
    choices.push_back({{"index", i},
                       {"message", {{"role", "assistant"}, {"content", prefix + " " + std::to_string(i)}}},
                       {"finish_reason", "stop"}});
  json out = {{"choices", choices}};
  if (usage) out["usage"] = {{"prompt_tokens", 11}, {"completion_tokens", 3 * body.value("n", 1)}};
  res.set_content(out.dump(), "application/json");
}

CompletionRequest chat(const std::string& id, std::vector<int> samples = {0}) {
  CompletionRequest r;
  r.id = id;
  r.messages = {{"user", "question " + id}};
  r.samples = std::move(samples);
  r.sampling.max_new_tokens = 8;
  return r;
}

std::vector<CompletionResult> run_all(Backend& b, const std::vector<CompletionRequest>& reqs) {
  std::vector<CompletionResult> out;
  b.complete(reqs, [&](CompletionResult&& r) { out.push_back(std::move(r)); });
  return out;
}

HttpBackendOptions fast(const FakeServer& s) {
  return {.endpoint = s.url(),
          .model_name = "m",
          .concurrency = 4,
          .timeout_s = 5,
          .max_retries = 4,
          .backoff_base_s = 0.01,
          .backoff_max_s = 0.05};
}

TEST(HttpBackend, RetriesOn429And5xxThenSucceeds) {
  FakeServer s;
  s.script = [](const json& body, httplib::Response& res, int call) {
    if (call == 0)
      res.status = 503;
    else if (call == 1) {
      res.status = 429;
      res.set_header("Retry-After", "0.01");
    } else
      reply(res, body, "ok");
  };
  auto o = fast(s);
  o.concurrency = 1;
  auto b = make_http_backend(o);
  const auto out = run_all(*b, {chat("q1")});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].choices[0].text, "ok 0");
  EXPECT_EQ(out[0].prompt_tokens, 11);
  EXPECT_EQ(out[0].choices[0].generated_tokens, 3);
  EXPECT_EQ(out[0].token_source, "usage");
  EXPECT_EQ(s.posts.load(), 3);
}

TEST(HttpBackend, GivesUpAfterMaxRetriesNamingTheEndpointAndStatus) {
  FakeServer s;
  s.script = [](const json&, httplib::Response& res, int) {
    res.status = 500;
    res.set_content(R"({"error": {"message": "CUDA out of memory"}})", "application/json");
  };
  auto o = fast(s);
  o.max_retries = 2;
  auto b = make_http_backend(o);
  EXPECT_S2D_ERROR(run_all(*b, {chat("q1")}), ErrorKind::Runtime, "request q1", "HTTP 500", "CUDA out of memory",
                   "/v1");
  EXPECT_EQ(s.posts.load(), 3);  // first try + 2 retries
}

// A reply is held only up to the limit: past it (here 4 KiB; by default 64 MiB) the request fails
// at once, without a retry, naming the limit. A reply within it still reads whole.
TEST(HttpBackend, RefusesAReplyPastTheLimitWithoutHoldingIt) {
  FakeServer s;
  s.script = [](const json& body, httplib::Response& res, int) {
    reply(res, body, body["messages"][0]["content"] == "question long" ? std::string(5000, 'x') : "short");
  };
  auto o = fast(s);
  o.max_response_bytes = 4096;
  auto b = make_http_backend(o);
  EXPECT_EQ(run_all(*b, {chat("ok")})[0].choices[0].text, "short 0");
  EXPECT_S2D_ERROR(run_all(*b, {chat("long")}), ErrorKind::Runtime, "request long", "longer than 4096 bytes",
                   "OpenAI-compatible");
  EXPECT_EQ(s.posts.load(), 2);  // not retried
}

TEST(HttpBackend, ClientErrorsAreNotRetried) {
  FakeServer s;
  s.script = [](const json&, httplib::Response& res, int) {
    res.status = 400;
    res.set_content(R"({"error": {"message": "prompt is too long"}})", "application/json");
  };
  auto b = make_http_backend(fast(s));
  EXPECT_S2D_ERROR(run_all(*b, {chat("q1")}), ErrorKind::Runtime, "HTTP 400", "prompt is too long");
  EXPECT_EQ(s.posts.load(), 1);
}

TEST(HttpBackend, ServerDownIsAConnectionErrorAfterRetries) {
  int port;
  {
    FakeServer gone;  // a port that was free a moment ago and now has no listener
    port = gone.port;
  }
  auto b = make_http_backend({.endpoint = "http://127.0.0.1:" + std::to_string(port),
                              .model_name = "m",
                              .max_retries = 1,
                              .backoff_base_s = 0.01,
                              .backoff_max_s = 0.01});
  EXPECT_S2D_ERROR(run_all(*b, {chat("q1")}), ErrorKind::Runtime, "no response", "is the server up?");
}

TEST(HttpBackend, SamplesGoAsNAndFallBackToOneRequestEachWhenRefused) {
  FakeServer s;
  std::mutex mu;
  std::vector<int64_t> seeds;
  s.script = [&](const json& body, httplib::Response& res, int) {
    if (body["n"] != 1) {
      res.status = 400;
      res.set_content(R"({"error": {"message": "n must be 1", "param": "n"}})", "application/json");
      return;
    }
    std::lock_guard<std::mutex> lk(mu);
    seeds.push_back(body["seed"].get<int64_t>());
    reply(res, body, "seed " + std::to_string(body["seed"].get<int64_t>()));
  };
  auto o = fast(s);
  o.concurrency = 1;
  auto b = make_http_backend(o);
  auto r = chat("q1", {0, 1, 2});
  r.sampling.seed = 42;
  const auto out = run_all(*b, {r});
  ASSERT_EQ(out[0].choices.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(out[0].choices[static_cast<size_t>(i)].sample, i);
    EXPECT_EQ(out[0].choices[static_cast<size_t>(i)].text,
              "seed " + std::to_string(static_cast<int64_t>(sample_seed(42, i))) + " 0");  // each sample its own stream
  }
  EXPECT_EQ(s.posts.load(), 4);  // the refused n=3, then three n=1
  run_all(*b, {chat("q2", {0, 1})});
  EXPECT_EQ(s.posts.load(), 6);  // remembered: no second refusal
}

TEST(HttpBackend, NChoicesShareUsageByLength) {
  FakeServer s;
  s.script = [](const json& body, httplib::Response& res, int) {
    EXPECT_EQ(body["n"], 2);
    res.set_content(R"({"choices": [{"index": 0, "message": {"content": "aaa"}, "finish_reason": "stop"},
                                    {"index": 1, "message": {"content": "a"}, "finish_reason": "length"}],
                        "usage": {"prompt_tokens": 5, "completion_tokens": 8}})",
                    "application/json");
  };
  auto b = make_http_backend(fast(s));
  const auto out = run_all(*b, {chat("q", {0, 1})});
  EXPECT_EQ(out[0].choices[0].text, "aaa");
  EXPECT_EQ(out[0].choices[0].generated_tokens, 6);
  EXPECT_EQ(out[0].choices[1].generated_tokens, 2);
  EXPECT_EQ(out[0].choices[1].finish_reason, "length");
  EXPECT_EQ(b->generated_tokens(), 8);
}

TEST(HttpBackend, ReportsThePromptTokensTheServerTookFromItsCache) {
  // usage.prompt_tokens_details.cached_tokens: 0, 8, an impossible 12 (more than the prompt) and
  // none. Only the first two count: 22 prompt tokens, 11 + 3 computed.
  FakeServer s;
  s.script = [](const json& body, httplib::Response& res, int call) {
    reply(res, body, "ok");
    json out = json::parse(res.body);
    if (call < 3) out["usage"]["prompt_tokens_details"] = {{"cached_tokens", std::vector<int>{0, 8, 12}[call]}};
    res.set_content(out.dump(), "application/json");
  };
  auto o = fast(s);
  o.concurrency = 1;
  auto b = make_http_backend(o);
  EXPECT_EQ(b->prefilled_and_computed_tokens(), (std::pair<int64_t, int64_t>{0, 0}));
  const auto out = run_all(*b, {chat("a"), chat("b"), chat("c"), chat("d")});
  std::multiset<int64_t> cached;
  for (const auto& r : out) cached.insert(r.cached_prompt_tokens);
  EXPECT_EQ(cached, (std::multiset<int64_t>{0, 0, 0, 8}));
  EXPECT_EQ(b->prefilled_and_computed_tokens(), (std::pair<int64_t, int64_t>{22, 14}));
}

TEST(HttpBackend, WithoutUsageCountsWithTheLocalTokenizerAndSaysSo) {
  FakeServer s;
  s.script = [](const json& body, httplib::Response& res, int) { reply(res, body, "yes no", /*usage=*/false); };
  auto bare = make_http_backend(fast(s));
  EXPECT_S2D_ERROR(run_all(*bare, {chat("q")}), ErrorKind::Input, "no token usage", "--tokenizer");
  auto o = fast(s);
  o.tokenizer_path = s2d::testing::tiny_tokenizer_path();
  auto b = make_http_backend(o);
  const auto out = run_all(*b, {chat("q")});
  EXPECT_EQ(out[0].token_source, "local-tokenizer");
  const auto expected = s2d::testing::tiny_tokenizer().encode("yes no 0").size();
  EXPECT_EQ(out[0].choices[0].generated_tokens, static_cast<int64_t>(expected));
}

TEST(HttpBackend, SendsTheKeyFromTheEnvironmentAndFindsTheModelName) {
  FakeServer s;
  std::string seen_auth, seen_model;
  s.script = [&](const json& body, httplib::Response& res, int) {
    seen_model = body["model"];
    reply(res, body, "ok");
  };
  httplib::Server* svr = &s.svr;
  svr->set_pre_routing_handler([&](const httplib::Request& req, httplib::Response&) {
    if (req.method == "POST") seen_auth = req.get_header_value("Authorization");
    return httplib::Server::HandlerResponse::Unhandled;
  });
  ::setenv("S2D_API_KEY", "sk-test-123", 1);
  auto o = fast(s);
  o.model_name.clear();
  auto b = make_http_backend(o);
  ::unsetenv("S2D_API_KEY");
  run_all(*b, {chat("q")});
  EXPECT_EQ(seen_auth, "Bearer sk-test-123");
  EXPECT_EQ(seen_model, "served-name");
  EXPECT_EQ(b->describe().find("sk-test"), std::string::npos);  // never shown
}

TEST(HttpBackend, IdentityIsTheServedModelNotTheAddress) {
  // generate resumes a run only with the same backend identity: a teacher restarted on another
  // port, or reached through another replica, serves the same samples; another model does not.
  auto at = [](const std::string& endpoint, const std::string& model) {
    return make_http_backend({.endpoint = endpoint, .model_name = model})->identity();
  };
  EXPECT_EQ(at("http://127.0.0.1:8000/v1", "teacher"), at("http://10.0.0.7:9001", "teacher"));
  EXPECT_NE(at("http://127.0.0.1:8000/v1", "teacher"), at("http://127.0.0.1:8000/v1", "other"));
}

TEST(HttpBackend, KeepsConcurrencyRequestsInFlightAndDeliversEveryResult) {
  FakeServer s;
  s.script = [](const json& body, httplib::Response& res, int) {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    reply(res, body, body["messages"][0]["content"].get<std::string>());
  };
  auto o = fast(s);
  o.concurrency = 4;
  auto b = make_http_backend(o);
  std::vector<CompletionRequest> reqs;
  for (int i = 0; i < 16; ++i) reqs.push_back(chat("q" + std::to_string(i)));
  const auto out = run_all(*b, reqs);
  ASSERT_EQ(out.size(), 16u);
  std::set<std::string> ids;
  for (const auto& r : out) {
    ids.insert(r.id);
    EXPECT_EQ(r.choices[0].text, "question " + r.id + " 0");
  }
  EXPECT_EQ(ids.size(), 16u);
  EXPECT_EQ(s.max_in_flight.load(), 4);
  // What generate and eval size their tasks in flight by (tasks_to_fill): a --concurrency of 256
  // must not be held to the 64 tasks a backend that cannot tell gets.
  o.concurrency = 256;
  EXPECT_EQ(make_http_backend(o)->decode_slots(), 256);
}

TEST(HttpBackend, NewcomersGoOutWhileEarlierRequestsAreStillInFlight) {
  FakeServer s;
  std::mutex mu;
  std::map<std::string, int> in_flight_at_arrival;  // prompt -> requests in flight as it arrived, itself included
  s.script = [&](const json& body, httplib::Response& res, int) {
    const std::string prompt = body["messages"][0]["content"];
    {
      std::lock_guard<std::mutex> lk(mu);
      in_flight_at_arrival[prompt] = s.in_flight.load();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(prompt == "question fast" ? 5 : 300));
    reply(res, body, prompt);
  };
  auto b = make_http_backend(fast(s));
  std::vector<std::string> delivered;
  bool asked = false;
  b->complete_open(
      {chat("fast"), chat("slow1"), chat("slow2")}, [&](CompletionResult&& r) { delivered.push_back(r.id); },
      [&] {  // the fast request's answer brings one newcomer
        std::vector<CompletionRequest> extra;
        if (!asked && !delivered.empty()) extra.push_back(chat("next"));
        asked = asked || !extra.empty();
        return extra;
      });
  ASSERT_EQ(delivered.size(), 4u);
  EXPECT_EQ(delivered.front(), "fast");
  // Sent while both slow requests were still running, not after them (a round-by-round backend).
  EXPECT_EQ(in_flight_at_arrival.at("question next"), 3);
}

TEST(HttpBackend, MalformedEndpointIsAnInputError) {
  EXPECT_S2D_ERROR(make_http_backend({.endpoint = "localhost:8000", .model_name = "m"}), ErrorKind::Input,
                   "--endpoint");
}

TEST(HttpBackend, BackoffIsJitteredCappedAndHonoursRetryAfter) {
  std::mt19937_64 rng(1);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double cap = std::min(30.0, 0.5 * std::pow(2.0, attempt));
    for (int i = 0; i < 50; ++i) {
      const double w = backoff_seconds(attempt, 0.5, 30, 0, rng);
      EXPECT_GE(w, 0.0);
      EXPECT_LE(w, cap);
    }
  }
  EXPECT_EQ(backoff_seconds(0, 0.5, 30, 7, rng), 7);
  EXPECT_EQ(backoff_seconds(0, 0.5, 30, 99, rng), 30);
  EXPECT_TRUE(is_retryable_status(429));
  EXPECT_TRUE(is_retryable_status(502));
  EXPECT_TRUE(is_retryable_status(408));
  EXPECT_FALSE(is_retryable_status(400));
  EXPECT_FALSE(is_retryable_status(401));
}

// --- the batcher ---------------------------------------------------------------------------------

// Echoes each request's user message; throws InputError for the message "bad". Records batch sizes.
class EchoBackend : public Backend {
 public:
  std::mutex mu;
  std::vector<size_t> batch_sizes;
  void complete(const std::vector<CompletionRequest>& reqs,
                const std::function<void(CompletionResult&&)>& cb) override {
    {
      std::lock_guard<std::mutex> lk(mu);
      batch_sizes.push_back(reqs.size());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(reqs[0].messages.at(0).content == "slow" ? 200 : 5));
    for (const auto& r : reqs)
      if (r.messages.at(0).content == "bad")
        throw_input("prompt does not fit the context", {.field = "request " + r.id});
    for (const auto& r : reqs) {
      if (r.on_text) r.on_text(0, r.messages[0].content.substr(0, 2));
      CompletionResult res{r.id, {}, 1, 0.0};
      for (int s : r.samples) res.choices.push_back({s, r.messages[0].content, "stop", 1});
      cb(std::move(res));
    }
  }
  std::string describe() const override { return "echo"; }
  int64_t generated_tokens() const override { return 0; }
};

TEST(RequestBatcher, SixtyFourThreadsTimesTenAllGetTheirOwnAnswers) {
  EchoBackend echo;
  RequestBatcher batcher(echo, 64);
  std::atomic<int> wrong{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 64; ++c)
    clients.emplace_back([&, c] {
      for (int k = 0; k < 10; ++k) {
        const std::string text = "client " + std::to_string(c) + " request " + std::to_string(k);
        auto r = chat("x");  // the same id for all: results must not mix up
        r.messages[0].content = text;
        if (batcher.submit(r, false)->wait().choices.at(0).text != text) ++wrong;
      }
    });
  for (auto& t : clients) t.join();
  batcher.shutdown();
  EXPECT_EQ(wrong.load(), 0);
  size_t total = 0, largest = 0;
  for (size_t n : echo.batch_sizes) total += n, largest = std::max(largest, n);
  EXPECT_EQ(total, 64u * 10u);
  EXPECT_GT(largest, 1u) << "concurrent requests should share batches";
}

TEST(RequestBatcher, OneBadRequestFailsAloneAndStreamingSeesPartialText) {
  EchoBackend echo;
  RequestBatcher batcher(echo, 64);
  auto good_req = chat("g");
  good_req.messages[0].content = "good answer";
  auto bad_req = chat("b");
  bad_req.messages[0].content = "bad";
  auto gate_req = chat("slow");
  gate_req.messages[0].content = "slow";
  auto gate = batcher.submit(gate_req, false);  // holds the engine while the next two queue up together
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  auto bad = batcher.submit(bad_req, false);
  auto good = batcher.submit(good_req, true);
  EXPECT_EQ(good->wait().choices[0].text, "good answer");
  EXPECT_EQ(good->partial.at(0), "go");
  EXPECT_S2D_ERROR(bad->wait(), ErrorKind::Input, "does not fit");
  gate->wait();
  batcher.shutdown();
  // gate alone, then bad + good together (which failed), then each alone.
  EXPECT_EQ(echo.batch_sizes, (std::vector<size_t>{1, 2, 1, 1}));
}

}  // namespace
}  // namespace s2d::api
