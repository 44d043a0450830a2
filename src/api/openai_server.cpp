#include "s2d/api/openai_server.h"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <ctime>
#include <random>
#include <thread>

#include "s2d/api/request_batcher.h"
#include "s2d/util/error.h"
#include "s2d/util/log.h"

namespace s2d::api {

namespace {

std::atomic<bool> g_stop_requested{false};
extern "C" void on_stop_signal(int) { g_stop_requested.store(true); }

using nlohmann::json;

// Replies are dumped with invalid UTF-8 replaced (U+FFFD), never thrown on: an error message may
// quote a client's bytes, and a sampled text may end inside a character.
std::string dump_reply(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

void reply_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  res.set_content(dump_reply(error_body(e)), "application/json");
}

// Constant-time comparison: the time taken does not tell how much of a guessed key was right.
bool same_secret(const std::string& given, const std::string& key) {
  if (key.empty()) return false;
  unsigned char diff = given.size() == key.size() ? 0 : 1;
  for (size_t i = 0; i < given.size(); ++i) diff |= static_cast<unsigned char>(given[i] ^ key[i % key.size()]);
  return diff == 0;
}

// An engine error as an API error: the user's fault (InputError: prompt too long, ...) is 400.
ApiError api_error_of(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const Error& err) {
    if (err.kind() == ErrorKind::Input) return ApiError(400, err.what(), "", "invalid_request_error");
    return ApiError(500, err.what(), "", "server_error");
  } catch (const std::exception& err) {
    return ApiError(500, err.what(), "", "server_error");
  }
}

std::string sse(const json& j) { return "data: " + dump_reply(j) + "\n\n"; }

class OpenAiServer {
 public:
  OpenAiServer(Backend& backend, const ServeOptions& o)
      : o_(o),
        batcher_(backend, o.max_batch, std::chrono::milliseconds(o.batch_window_ms)),
        rng_(std::random_device{}()) {
    const int threads = o_.threads;  // check_serve_options: 1..4096
    svr_.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
    svr_.set_payload_max_length(o_.max_body_bytes);
    // httplib sets SO_REUSEPORT on Linux, which lets a second server bind a port already in use
    // and silently split its connections. SO_REUSEADDR alone still rebinds over TIME_WAIT (a quick
    // restart) but refuses a port another socket listens on.
    svr_.set_socket_options([](socket_t sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    svr_.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (o_.api_key.empty() || req.path.rfind("/v1/", 0) != 0) return httplib::Server::HandlerResponse::Unhandled;
      const std::string auth = req.get_header_value("Authorization");
      const std::string prefix = "Bearer ";
      if (auth.rfind(prefix, 0) == 0 && same_secret(auth.substr(prefix.size()), o_.api_key))
        return httplib::Server::HandlerResponse::Unhandled;
      reply_error(res, ApiError(401, "Incorrect or missing API key (send \"Authorization: Bearer KEY\")", "",
                                "invalid_request_error", "invalid_api_key"));
      return httplib::Server::HandlerResponse::Handled;
    });
    svr_.Get("/health", [](const httplib::Request&, httplib::Response& res) { res.set_content("ok\n", "text/plain"); });
    svr_.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
      const json m = {{"id", o_.limits.served_model}, {"object", "model"}, {"created", started_}, {"owned_by", "s2d"}};
      res.set_content(dump_reply(json{{"object", "list"}, {"data", json::array({m})}}), "application/json");
    });
    svr_.Post("/v1/chat/completions",
              [this](const httplib::Request& q, httplib::Response& r) { handle(Route::Chat, q, r); });
    svr_.Post("/v1/completions",
              [this](const httplib::Request& q, httplib::Response& r) { handle(Route::Completions, q, r); });
    // Statuses httplib sets itself (404 no route, 413 body too large, ...) get an OpenAI body too.
    svr_.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return;
      const std::string what = res.status == 404   ? "no route " + req.method + " " + req.path
                               : res.status == 413 ? "request body too large"
                                                   : "HTTP " + std::to_string(res.status);
      reply_error(res, ApiError(res.status, what));
    });
    // Access log at debug level (-v): method, path, status, body size. Never headers: they hold the key.
    svr_.set_logger([](const httplib::Request& req, const httplib::Response& res) {
      if (log::enabled(log::Level::debug))
        log::debug(req.method + " " + req.path + " " + std::to_string(res.status) + " (" +
                   std::to_string(req.body.size()) + " bytes in)");
    });
    svr_.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
      reply_error(res, api_error_of(ep));
    });
  }

  void run(const std::function<void(int)>& on_listening) {
    const int port =
        o_.port == 0 ? svr_.bind_to_any_port(o_.host) : (svr_.bind_to_port(o_.host, o_.port) ? o_.port : -1);
    if (port < 0) {
      throw_input("cannot listen", {.field = "--host/--port",
                                    .expected = "a free local address",
                                    .found = o_.host + ":" + std::to_string(o_.port),
                                    .hint = "is another server on that port?"});
    }
    g_stop_requested.store(false);
    struct sigaction sa{};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    struct sigaction old_term{}, old_int{};
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGINT, &sa, &old_int);
    std::signal(SIGPIPE, SIG_IGN);  // a client that hangs up mid-stream must not kill the server
    std::atomic<bool> listening_done{false};
    std::thread watcher([&] {
      while (!listening_done.load()) {
        if (g_stop_requested.load()) {
          log::info("stop signal: finishing requests in flight, then exiting");
          svr_.stop();
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    });
    on_listening(port);
    svr_.listen_after_bind();  // returns after stop(), once handler threads are done
    listening_done.store(true);
    watcher.join();
    batcher_.shutdown();
    sigaction(SIGTERM, &old_term, nullptr);
    sigaction(SIGINT, &old_int, nullptr);
  }

 private:
  std::string new_id(const char* prefix) {
    std::lock_guard<std::mutex> lk(rng_mu_);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng_()));
    return prefix + std::string(buf);
  }
  uint64_t new_seed() {
    std::lock_guard<std::mutex> lk(rng_mu_);
    return rng_();
  }

  void handle(Route route, const httplib::Request& req, httplib::Response& res) {
    ParsedRequest p;
    try {
      p = parse_request(route, req.body, o_.limits, new_seed());
    } catch (const ApiError& e) {
      reply_error(res, e);
      return;
    }
    const std::string id = new_id(route == Route::Chat ? "chatcmpl-" : "cmpl-");
    p.request.id = id;
    const auto created = static_cast<int64_t>(std::time(nullptr));
    auto job = batcher_.submit(p.request, p.stream);
    if (!p.stream) {
      try {
        const CompletionResult r = job->wait();
        res.set_content(dump_reply(response_json(p, r, id, created)), "application/json");
      } catch (...) {
        reply_error(res, api_error_of(std::current_exception()));
      }
      return;
    }
    // SSE: one chunk per text change, held back where a stop string may still begin; then each
    // choice's finish reason, usage if asked, and [DONE].
    auto sent = std::make_shared<std::vector<size_t>>(p.request.samples.size(), 0);
    auto seen = std::make_shared<uint64_t>(0);
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider("text/event-stream", [job, p, id, created, sent, seen](size_t,
                                                                                            httplib::DataSink& sink) {
      std::string out;
      bool finished = false;
      {
        std::unique_lock<std::mutex> lk(job->mu);
        job->cv.wait_for(lk, std::chrono::seconds(1), [&] { return job->version != *seen; });
        *seen = job->version;
        finished = job->done;
        for (size_t i = 0; i < sent->size(); ++i) {
          const std::string& text = finished && !job->error ? job->result.choices[i].text : job->partial[i];
          const size_t safe = finished ? text.size() : stream_safe_length(text, p.request.sampling.stop);
          const bool first = (*sent)[i] == 0;
          if (safe > (*sent)[i] && text.size() >= safe) {
            out += sse(
                chunk_json(p, id, created, static_cast<int>(i), text.substr((*sent)[i], safe - (*sent)[i]), "", first));
            (*sent)[i] = safe;
          }
        }
        if (finished) {
          if (job->error) {
            out += sse(error_body(api_error_of(job->error)));
          } else {
            int64_t generated = 0;
            for (size_t i = 0; i < sent->size(); ++i) {
              const Completion& c = job->result.choices[i];
              generated += c.generated_tokens;
              out += sse(chunk_json(p, id, created, static_cast<int>(i), "", c.finish_reason, (*sent)[i] == 0));
            }
            if (p.include_usage)
              out += sse(usage_chunk_json(
                  p, id, created, usage_json(job->result.prompt_tokens, generated, job->result.cached_prompt_tokens)));
          }
          out += "data: [DONE]\n\n";
        }
      }
      if (!out.empty() && !sink.write(out.data(), out.size())) return false;  // the client hung up
      if (finished) sink.done();
      return true;
    });
  }

  ServeOptions o_;
  RequestBatcher batcher_;
  httplib::Server svr_;
  std::mutex rng_mu_;
  std::mt19937_64 rng_;
  int64_t started_ = static_cast<int64_t>(std::time(nullptr));
};

}  // namespace

void check_serve_options(const ServeOptions& o) {
  auto in_range = [](const char* flag, int64_t v, int64_t lo, int64_t hi, const char* why) {
    if (v < lo || v > hi)
      throw_input(
          std::string("out of range: ") + why,
          {.field = flag, .expected = std::to_string(lo) + ".." + std::to_string(hi), .found = std::to_string(v)});
  };
  in_range("--port", o.port, 0, 65535, "a TCP port");
  in_range("--threads", o.threads, 1, 4096, "one thread per connection");
  in_range("--max-n", o.limits.max_n, 1, 1024, "a request's choices are held at once");
  in_range("--max-tokens", o.limits.max_tokens_cap, 1, INT64_MAX, "new tokens per request");
  in_range("--max-batch", static_cast<int64_t>(std::min<size_t>(o.max_batch, INT64_MAX)), 1, 1 << 20,
           "requests per engine batch");
  in_range("--batch-window-ms", o.batch_window_ms, 0, 60000, "an idle engine's wait");
  in_range("--max-body-bytes", static_cast<int64_t>(std::min<size_t>(o.max_body_bytes, INT64_MAX)), 1024,
           int64_t{1} << 32, "a request's body is held whole");
}

void serve_openai(Backend& backend, const ServeOptions& opts, const std::function<void(int port)>& on_listening) {
  check_serve_options(opts);
  OpenAiServer server(backend, opts);
  server.run(on_listening);
}

}  // namespace s2d::api
