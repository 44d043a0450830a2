// A Backend over any OpenAI-compatible server (vLLM, SGLang, TGI, llama.cpp, `s2d serve`):
// chat requests go to /v1/chat/completions, prompt requests to /v1/completions.
//   * K requests in flight (--concurrency), each on its own keep-alive connection.
//   * Retries with exponential backoff and full jitter on 408, 429, 5xx and connection errors,
//     honouring Retry-After; then the error names the endpoint, the status and the server's message.
//   * A request's samples go as the API's `n`; a server that refuses n > 1 (4xx) or answers with
//     fewer choices gets one request per sample from then on, each with its own seed.
//   * Tokens come from the response's `usage`; without it they are counted with --tokenizer and
//     results say so (token_source "local-tokenizer").
//   * The API key comes from S2D_API_KEY and is never logged.
//   * A reply is read up to max_response_bytes (64 MiB): a server that sends more gets an error,
//     not the memory.
// The header is httplib-free.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "s2d/engine/backend.h"

namespace s2d::api {

struct HttpBackendOptions {
  std::string endpoint;         // http://host:port or http://host:port/v1 (https when built with OpenSSL)
  std::string model_name;       // the "model" field; empty: the first id from /v1/models
  int concurrency = 8;          // requests in flight
  double timeout_s = 600;       // read timeout per request (connect: 10 s)
  int max_retries = 6;          // per request, after the first try
  double backoff_base_s = 0.5;  // first retry waits up to this, doubling each time
  double backoff_max_s = 30;    // one wait is never longer
  std::string tokenizer_path;   // tokenizer.model for counting when the server sends no usage
  std::string api_key;          // default: $S2D_API_KEY
  nlohmann::ordered_json chat_template_kwargs;   // sent as vLLM's chat_template_kwargs on chat requests that set none
  size_t max_response_bytes = size_t{64} << 20;  // a longer reply is refused as it arrives, not retried
};

// The HTTP teacher's flags (see util/option_set.h); the backoff bounds, the key and the reply limit
// are not flags.
template <OptionsOf<HttpBackendOptions> O, class F>
void visit_options(O& o, F&& f) {
  f("--endpoint", "", o.endpoint, "OpenAI-compatible server instead of --model, e.g. http://localhost:8000/v1");
  f("--model-name", "", o.model_name, "The request's \"model\" (default: the first of the server's /v1/models)");
  f("--concurrency", "", o.concurrency, "Requests in flight");
  f("--request-timeout", "", o.timeout_s, "Seconds to wait for one response");
  f("--max-retries", "", o.max_retries, "Retries on 408/429/5xx/connection errors (exponential backoff, jitter)");
  f("--tokenizer", "", o.tokenizer_path,
    "tokenizer.json or tokenizer.model to count tokens with when the server sends no usage");
}

// The wait before retry `attempt` (0-based): uniform in [0, min(max, base * 2^attempt)] ("full
// jitter"), or Retry-After seconds when the server sent one (capped at max).
double backoff_seconds(int attempt, double base_s, double max_s, double retry_after_s, std::mt19937_64& rng);
bool is_retryable_status(int status);

// InputError for a malformed endpoint; does not connect (the first request does).
std::unique_ptr<Backend> make_http_backend(HttpBackendOptions opts);

}  // namespace s2d::api
