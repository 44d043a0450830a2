#include "s2d/api/http_backend.h"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <regex>
#include <thread>

#include "s2d/api/openai_schema.h"
#include "s2d/text/tokenizer.h"
#include "s2d/util/error.h"
#include "s2d/util/json.h"
#include "s2d/util/log.h"

namespace s2d::api {

double backoff_seconds(int attempt, double base_s, double max_s, double retry_after_s, std::mt19937_64& rng) {
  if (retry_after_s > 0) return std::min(retry_after_s, max_s);
  const double cap = std::min(max_s, base_s * std::pow(2.0, std::min(attempt, 30)));
  return std::uniform_real_distribution<double>(0.0, cap)(rng);
}

bool is_retryable_status(int status) { return status == 408 || status == 429 || status >= 500; }

namespace {

struct Endpoint {
  std::string origin;  // scheme://host:port, what httplib::Client takes
  std::string base;    // path prefix up to and including /v1
};

Endpoint parse_endpoint(const std::string& url) {
  static const std::regex re(R"(^(https?://[^/\s]+)(/[^\s]*)?$)");
  std::smatch m;
  if (!std::regex_match(url, m, re)) {
    throw_input("malformed endpoint",
                {.field = "--endpoint", .expected = "http://HOST:PORT or http://HOST:PORT/v1", .found = url});
  }
  std::string path = m[2].str();
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (path.size() < 3 || path.compare(path.size() - 3, 3, "/v1") != 0) path += "/v1";
  return {m[1].str(), path};
}

// How a request is named in messages: the runner's "task-id|step" tag says more than its id.
std::string name_of(const CompletionRequest& r) { return r.tag.empty() ? r.id : r.tag; }

// A reply that is not a success after all retries, or a connection that never came up.
struct Failure {
  int status = 0;  // 0: no HTTP response (connection error, timeout, a reply past the limit)
  std::string message;
  std::string hint;  // where the status does not say it
};

class HttpBackend : public Backend {
 public:
  explicit HttpBackend(HttpBackendOptions o) : o_(std::move(o)), ep_(parse_endpoint(o_.endpoint)) {
    if (o_.concurrency < 1)
      throw_input("concurrency must be >= 1", {.field = "--concurrency", .found = std::to_string(o_.concurrency)});
    if (o_.max_retries < 0)
      throw_input("max retries must be >= 0", {.field = "--max-retries", .found = std::to_string(o_.max_retries)});
    if (o_.api_key.empty())
      if (const char* k = std::getenv("S2D_API_KEY")) o_.api_key = k;
    if (!o_.tokenizer_path.empty()) tokenizer_ = std::make_unique<Tokenizer>(Tokenizer::load(o_.tokenizer_path));
    {
      httplib::Client probe(ep_.origin);
      if (!probe.is_valid())
        throw_input("unsupported endpoint", {.field = "--endpoint",
                                             .expected = "http:// (https:// needs cpp-httplib with OpenSSL)",
                                             .found = o_.endpoint});
    }
    if (o_.model_name.empty()) o_.model_name = first_served_model();
  }

  void complete(const std::vector<CompletionRequest>& requests,
                const std::function<void(CompletionResult&&)>& on_result) override {
    complete_open(requests, on_result, {});
  }

  // `concurrency` workers take requests from one queue. After each result, `more` is asked for
  // newcomers and they join the queue, so a method's next steps go out while this step's last
  // requests are still in flight, and the server's batch stays full.
  void complete_open(const std::vector<CompletionRequest>& requests,
                     const std::function<void(CompletionResult&&)>& on_result, const Intake& more) override {
    for (const auto& r : requests) validate_sampling(r.sampling);
    std::mutex mu;
    std::condition_variable cv;
    std::deque<CompletionRequest> queue(requests.begin(), requests.end());
    std::deque<CompletionResult> ready;
    std::exception_ptr error;  // a request failed: no new one is sent
    int in_flight = 0;
    bool closed = false;  // the work is over: workers leave
    auto worker = [&] {
      auto cli = make_client();
      std::unique_lock<std::mutex> lk(mu);
      while (true) {
        cv.wait(lk, [&] { return closed || error || !queue.empty(); });
        if (closed || error) break;
        CompletionRequest r = std::move(queue.front());
        queue.pop_front();
        ++in_flight;
        lk.unlock();
        try {
          CompletionResult res = run_one(*cli, r);
          lk.lock();
          ready.push_back(std::move(res));
        } catch (...) {
          lk.lock();
          if (!error) error = std::current_exception();
        }
        --in_flight;
        cv.notify_all();
      }
    };
    // Newcomers, checked here; a failure (theirs or the caller's) stops new requests like a
    // failed one does.
    std::exception_ptr caller_error;
    auto take_more = [&](std::unique_lock<std::mutex>& lk) {
      if (!more || caller_error || error) return false;
      lk.unlock();
      std::vector<CompletionRequest> extra;
      try {
        extra = more();
        for (const auto& r : extra) validate_sampling(r.sampling);
      } catch (...) {
        caller_error = std::current_exception();
        extra.clear();
      }
      lk.lock();
      for (auto& r : extra) queue.push_back(std::move(r));
      cv.notify_all();
      return !extra.empty();
    };
    const size_t n_workers = more ? static_cast<size_t>(o_.concurrency)
                                  : std::min<size_t>(static_cast<size_t>(o_.concurrency), requests.size());
    std::vector<std::thread> threads;
    for (size_t w = 0; w < n_workers; ++w) threads.emplace_back(worker);
    // Results are handed over on this thread, as the Backend contract says; after a failure the
    // requests in flight still deliver (their records get written) before it throws.
    {
      std::unique_lock<std::mutex> lk(mu);
      while (true) {
        cv.wait(lk, [&] { return !ready.empty() || (in_flight == 0 && (queue.empty() || error)); });
        while (!ready.empty()) {
          CompletionResult r = std::move(ready.front());
          ready.pop_front();
          lk.unlock();
          try {
            if (!caller_error) on_result(std::move(r));
          } catch (...) {
            caller_error = std::current_exception();
          }
          lk.lock();
          take_more(lk);
          if (caller_error) queue.clear();
        }
        if (in_flight == 0 && (queue.empty() || error) && !take_more(lk)) break;
      }
      closed = true;
    }
    cv.notify_all();
    for (auto& t : threads) t.join();
    if (caller_error) std::rethrow_exception(caller_error);
    if (error) std::rethrow_exception(error);
  }

  std::string describe() const override {
    return o_.endpoint + " (model " + o_.model_name + ", " + std::to_string(o_.concurrency) + " in flight, API key " +
           (o_.api_key.empty() ? "none" : "from S2D_API_KEY") + ")";
  }
  // The served model, not the address: a run resumed against the same model behind another host
  // or port (a restarted server, another replica) is the same run.
  std::string identity() const override { return "served model " + o_.model_name; }
  int64_t generated_tokens() const override { return generated_.load(); }
  // From usage.prompt_tokens_details.cached_tokens: each reply's prompt counts once, computed but
  // for its cached tokens. Replies without the field are not counted ({0, 0} where none has it).
  std::pair<int64_t, int64_t> prefilled_and_computed_tokens() const override {
    return {prefilled_.load(), computed_.load()};
  }
  int64_t decode_slots() const override { return o_.concurrency; }

 private:
  std::unique_ptr<httplib::Client> make_client() const {
    auto cli = std::make_unique<httplib::Client>(ep_.origin);
    cli->set_connection_timeout(10, 0);
    const auto t = static_cast<time_t>(o_.timeout_s);
    cli->set_read_timeout(t, static_cast<time_t>((o_.timeout_s - static_cast<double>(t)) * 1e6));
    cli->set_write_timeout(60, 0);
    cli->set_keep_alive(true);
    if (!o_.api_key.empty()) cli->set_bearer_token_auth(o_.api_key);
    return cli;
  }

  // POST (or GET when body is empty) with retries; the body of a 2xx reply, else throws Failure.
  std::string call(httplib::Client& cli, const std::string& path, const std::string& body, const std::string& what) {
    thread_local std::mt19937_64 rng(std::random_device{}());
    for (int attempt = 0;; ++attempt) {
      httplib::Request req;
      req.method = body.empty() ? "GET" : "POST";
      req.path = path;
      if (!body.empty()) req.set_header("Content-Type", "application/json"), req.body = body;
      std::string reply;  // read as it arrives, so that its size is checked before it is held
      bool too_long = false;
      req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
        too_long = n > o_.max_response_bytes - reply.size();
        if (!too_long) reply.append(data, n);
        return !too_long;
      };
      httplib::Response res;
      httplib::Error error = httplib::Error::Success;
      const bool answered = cli.send(req, res, error);
      Failure f;
      double retry_after = 0;
      bool retryable = true;
      if (too_long) {
        f.message = "a reply longer than " + std::to_string(o_.max_response_bytes) + " bytes";
        f.hint = "is the endpoint an OpenAI-compatible completions server?";
        retryable = false;
      } else if (!answered) {
        f.message = "no response (" + httplib::to_string(error) + ")";
      } else if (res.status >= 200 && res.status < 300) {
        return reply;
      } else {
        f.status = res.status;
        f.message = "HTTP " + std::to_string(res.status) + ": " + error_message_of(reply);
        if (res.has_header("Retry-After")) retry_after = std::atof(res.get_header_value("Retry-After").c_str());
        retryable = is_retryable_status(f.status);
      }
      if (!retryable || attempt >= o_.max_retries) throw f;
      const double wait = backoff_seconds(attempt, o_.backoff_base_s, o_.backoff_max_s, retry_after, rng);
      log::warn(what + ": " + f.message + "; retry " + std::to_string(attempt + 1) + "/" +
                std::to_string(o_.max_retries) + " in " + std::to_string(wait).substr(0, 4) + " s");
      std::this_thread::sleep_for(std::chrono::duration<double>(wait));
      cli.stop();  // a fresh connection for the retry
    }
  }

  [[noreturn]] void fail(const std::string& what, const Failure& f) const {
    throw_runtime(what + " failed",
                  {.field = o_.endpoint,
                   .expected = "a successful response",
                   .found = f.message,
                   .hint = !f.hint.empty() ? f.hint
                           : f.status == 0 ? "is the server up? (retried " + std::to_string(o_.max_retries) +
                                                 " times; a rerun resumes where this stopped)"
                                           : "see the server's log"});
  }

  std::string first_served_model() {
    auto cli = make_client();
    std::string body;
    try {
      body = call(*cli, ep_.base + "/models", "", "GET /v1/models");
    } catch (const Failure& f) {
      fail("GET " + ep_.base + "/models (to find the model name; or pass --model-name)", f);
    }
    const auto j = parse_json_or_discarded(body);
    if (j.is_discarded() || !j.contains("data") || !j["data"].is_array() || j["data"].empty() ||
        !j["data"][0].contains("id") || !j["data"][0]["id"].is_string())
      throw_runtime("unexpected /v1/models response", {.field = o_.endpoint,
                                                       .expected = "{\"data\": [{\"id\": ...}]}",
                                                       .found = printable_excerpt(body, 200),
                                                       .hint = "pass --model-name"});
    return j["data"][0]["id"].get<std::string>();
  }

  // One HTTP request for `n` choices; throws Failure.
  WireResponse post(httplib::Client& cli, const CompletionRequest& r, int n, uint64_t seed) {
    const Route route = r.prompt ? Route::Completions : Route::Chat;
    const std::string path = ep_.base + (route == Route::Chat ? "/chat/completions" : "/completions");
    const std::string what = "request " + name_of(r) + " (" + path + ")";
    return parse_response(route, call(cli, path,
                                      request_body(r, o_.model_name, n, seed, o_.chat_template_kwargs)
                                          .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                                      what));
  }

  CompletionResult run_one(httplib::Client& cli, const CompletionRequest& r) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto k = static_cast<int>(r.samples.size());
    bool contiguous = true;  // samples {0..k-1}: one request with n = k reproduces an s2d server's streams
    for (int i = 0; i < k; ++i) contiguous = contiguous && r.samples[static_cast<size_t>(i)] == i;

    CompletionResult out;
    out.id = r.id;
    std::vector<WireResponse> replies;  // one, or one per sample
    if (contiguous && (k == 1 || n_supported_.load())) {
      try {
        WireResponse w = post(cli, r, k, r.sampling.seed);
        if (static_cast<int>(w.choices.size()) < k) {
          if (n_supported_.exchange(false))
            log::warn("the server answered n=" + std::to_string(k) + " with " + std::to_string(w.choices.size()) +
                      " choice(s); sending one request per sample from now on");
        } else {
          w.choices.resize(static_cast<size_t>(k));
          replies.push_back(std::move(w));
        }
      } catch (const Failure& f) {
        const bool refused = f.status >= 400 && f.status < 500 && !is_retryable_status(f.status);  // a 4xx about n
        if (k == 1 || !refused) fail("request " + name_of(r), f);
        if (n_supported_.exchange(false))
          log::warn("the server refused n=" + std::to_string(k) + " (" + f.message +
                    "); sending one request per sample from now on");
      }
    }
    if (replies.empty()) {
      for (int s : r.samples) {
        try {
          replies.push_back(post(cli, r, 1, contiguous && k == 1 ? r.sampling.seed : sample_seed(r.sampling.seed, s)));
        } catch (const Failure& f) {
          fail("request " + name_of(r) + " sample " + std::to_string(s), f);
        }
        if (replies.back().choices.empty()) fail("request " + name_of(r), {200, "the response has no choices"});
        replies.back().choices.resize(1);
      }
    }
    for (const auto& w : replies)
      for (const auto& c : w.choices)
        out.choices.push_back({r.samples[out.choices.size()], c.text, c.finish_reason, 0});
    account_tokens(r, replies, out);
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return out;
  }

  // Token counts of out.choices (one per choice of `replies`, in order): from usage when every
  // reply has it (several choices in one reply share its completion_tokens by text length), else
  // from the local tokenizer.
  void account_tokens(const CompletionRequest& r, const std::vector<WireResponse>& replies, CompletionResult& out) {
    const bool have_usage = std::all_of(replies.begin(), replies.end(), [](const WireResponse& w) {
      return w.prompt_tokens.has_value() && w.completion_tokens.has_value();
    });
    if (have_usage) {
      out.token_source = "usage";
      out.prompt_tokens = *replies.front().prompt_tokens;
      out.cached_prompt_tokens = replies.front().cached_tokens.value_or(0);
      for (const auto& w : replies)
        if (w.cached_tokens) {
          prefilled_ += *w.prompt_tokens;
          computed_ += *w.prompt_tokens - *w.cached_tokens;
        }
      auto into = out.choices.begin();
      for (const auto& w : replies) {
        const auto k = static_cast<int64_t>(w.choices.size());
        int64_t bytes = 0;
        for (const auto& c : w.choices) bytes += static_cast<int64_t>(c.text.size());
        int64_t left = *w.completion_tokens;
        for (int64_t i = 0; i < k; ++i, ++into) {
          const auto len = static_cast<int64_t>(w.choices[static_cast<size_t>(i)].text.size());
          const int64_t share = i + 1 == k   ? left
                                : bytes == 0 ? *w.completion_tokens / k
                                             : *w.completion_tokens * len / bytes;
          into->generated_tokens = share;
          left -= share;
        }
      }
    } else {
      if (!tokenizer_)
        throw_input("the server sent no token usage",
                    {.field = o_.endpoint,
                     .expected = "a \"usage\" object in responses",
                     .hint = "pass --tokenizer PATH/tokenizer.model to count tokens locally"});
      if (!warned_local_count_.exchange(true))
        log::warn("the server sends no usage: tokens are counted with " + o_.tokenizer_path +
                  " (chat prompts without the server's template); records say token_source local-tokenizer");
      out.token_source = "local-tokenizer";
      std::string prompt = r.prompt.value_or("");
      for (const auto& m : r.messages) prompt += m.content;
      out.prompt_tokens = static_cast<int64_t>(tokenizer_->encode(prompt).size());
      for (auto& c : out.choices) c.generated_tokens = static_cast<int64_t>(tokenizer_->encode(c.text).size());
    }
    for (const auto& c : out.choices) generated_ += c.generated_tokens;
  }

  HttpBackendOptions o_;
  Endpoint ep_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::atomic<bool> n_supported_{true};
  std::atomic<bool> warned_local_count_{false};
  std::atomic<int64_t> generated_{0};
  std::atomic<int64_t> prefilled_{0}, computed_{0};  // prefilled_and_computed_tokens
};

}  // namespace

std::unique_ptr<Backend> make_http_backend(HttpBackendOptions opts) {
  return std::make_unique<HttpBackend>(std::move(opts));
}

}  // namespace s2d::api
