// `s2d serve`: an OpenAI-compatible HTTP server over a Backend (usually the in-process engine).
// Routes: GET /v1/models, POST /v1/completions and /v1/chat/completions (non-streaming, or SSE
// with "stream": true), GET /health. Concurrent requests are batched through the engine
// (request_batcher.h). Errors are OpenAI-style JSON (status policy in openai_schema.h).
// The header is httplib-free.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include "s2d/api/openai_schema.h"
#include "s2d/engine/backend.h"
#include "s2d/util/option_set.h"

namespace s2d::api {

struct ServeOptions {
  std::string host = "127.0.0.1";  // loopback unless asked otherwise
  int port = 8000;                 // 0: any free port (printed)
  std::string api_key;             // non-empty: "Authorization: Bearer KEY" required (401 otherwise)
  ServerLimits limits;
  size_t max_body_bytes = 1 << 20;  // larger bodies get 413
  int threads = 128;                // connections served at once (keep-alive holds one each)
  size_t max_batch = 64;            // requests per engine batch
  int batch_window_ms = 5;          // an idle engine waits this long for more requests to batch
};

// `s2d serve`'s flags beyond the model's (util/option_set.h); a server has no run identity.
template <OptionsOf<ServeOptions> O, class F>
void visit_options(O& o, F&& f) {
  f("--host", "", o.host, "Address to bind (loopback by default; 0.0.0.0 exposes it)");
  f("--port", "", o.port, "Port (0: any free port, printed)");
  f("--api-key", "", o.api_key, "Require \"Authorization: Bearer KEY\" (401 otherwise)");
  f("--served-model-name", "", o.limits.served_model,
    "Name in /v1/models and requests (default: the model folder's name)");
  f("--max-tokens", "", o.limits.max_tokens_cap,
    "Largest max_tokens a request may ask for (more: 422); unset: the model's context, or this when it declares none");
  f("--max-n", "", o.limits.max_n, "Largest n (choices per request)");
  f("--max-body-bytes", "", o.max_body_bytes, "Largest request body, 1024 to 4294967296 (more: 413)");
  f("--max-batch", "", o.max_batch, "Requests run together in one engine batch");
  f("--batch-window-ms", "", o.batch_window_ms, "An idle engine waits this long for more requests to batch");
  f("--threads", "", o.threads, "Connections served at once");
}

// InputError naming the first flag out of range (--port, --threads, --max-n, --max-batch, ...);
// serve_openai checks them too, the CLI before it loads the model.
void check_serve_options(const ServeOptions& opts);

// Serves until SIGTERM or SIGINT, then stops accepting, finishes the requests in flight and
// returns. `on_listening(port)` is called once the socket is bound. InputError when the address
// cannot be bound.
void serve_openai(Backend& backend, const ServeOptions& opts, const std::function<void(int port)>& on_listening);

}  // namespace s2d::api
