// The OpenAI wire format, both directions, with no HTTP in it (unit-testable):
//   server side: a /v1/chat/completions or /v1/completions body -> a CompletionRequest (validated,
//                ApiError on anything wrong), and a CompletionResult -> response or SSE chunk JSON;
//   client side: a CompletionRequest -> request body, and a response body -> choices and usage.
// Reference: the OpenAI API reference (chat/completions, completions, models) and vLLM's
// extensions (top_k, seed as a signed 64-bit integer).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "s2d/engine/backend.h"

namespace s2d::api {

enum class Route { Chat, Completions };
const char* route_path(Route r);  // "/v1/chat/completions" | "/v1/completions"

// An error the server answers with: HTTP status and OpenAI's {"error": {...}} body.
// Status policy: 400 the body is not JSON (or not an object); 422 a field is missing, has the
// wrong type or is out of range (max_tokens over the cap included); 401 bad key; 404 unknown model
// or route; 413 body too large; 500 the engine failed.
struct ApiError : std::runtime_error {
  ApiError(int status, std::string message, std::string param = "", std::string type = "invalid_request_error",
           std::string code = "");
  int status;
  std::string param, type, code;
};
nlohmann::json error_body(const ApiError& e);

struct ServerLimits {
  std::string served_model;       // the name /v1/models lists; requests naming another model get 404
  int64_t max_tokens_cap = 4096;  // a request asking for more is refused (422), not clamped
  int max_n = 16;
};

struct ParsedRequest {
  Route route = Route::Chat;
  CompletionRequest request;  // samples = {0, ..., n-1}
  std::string model;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage: a last chunk carries usage
};

// Parses and validates a request body (ApiError naming the field otherwise). `random_seed` is the
// seed used when the body has none (OpenAI: sampling is not reproducible unless a seed is given).
ParsedRequest parse_request(Route route, const std::string& body, const ServerLimits& limits, uint64_t random_seed);

// OpenAI's usage object; prompt_tokens_details.cached_tokens counts the prompt tokens whose keys
// and values came from earlier prompts (OpenAI's and vLLM's prompt caching report the same).
nlohmann::json usage_json(int64_t prompt_tokens, int64_t completion_tokens, int64_t cached_tokens = 0);
// The non-streaming response for one finished request.
nlohmann::json response_json(const ParsedRequest& p, const CompletionResult& r, const std::string& id, int64_t created);
// One SSE chunk: a text delta of choice `index` (chat: the first chunk of a choice also carries
// role "assistant"), or its finish reason when `finish_reason` is non-empty.
nlohmann::json chunk_json(const ParsedRequest& p, const std::string& id, int64_t created, int index,
                          const std::string& delta, const std::string& finish_reason, bool first);
// The trailing usage chunk of stream_options.include_usage (choices is empty); `usage` from usage_json.
nlohmann::json usage_chunk_json(const ParsedRequest& p, const std::string& id, int64_t created, nlohmann::json usage);

// How many bytes of a sample's text so far may be streamed: everything except a tail that could
// still turn into a stop string (the final text is cut before it), an unfinished UTF-8 character,
// and trailing U+FFFD (a character whose remaining bytes are in tokens still to come).
size_t stream_safe_length(const std::string& text, const std::vector<std::string>& stops);

// --- client side -------------------------------------------------------------------------------
// The body for `request` asking for `n` choices (seed sent as a signed 64-bit integer, the range
// vLLM accepts; an s2d server reads the same 64 bits back).
// A chat request carries the request's template_kwargs as chat_template_kwargs, else `default_template_kwargs`.
// Ordered, so that template variables go out in the order they came in.
nlohmann::ordered_json request_body(const CompletionRequest& request, const std::string& model, int n, uint64_t seed,
                                    const nlohmann::ordered_json& default_template_kwargs = {});

struct WireChoice {
  int index = 0;
  std::string text;
  std::string finish_reason;
};
// The most tokens a reply's usage may count, far past any context: a larger count is taken for
// garbage, and keeps the arithmetic on counts (shares of text bytes) inside int64.
constexpr int64_t kMostUsageTokens = int64_t{1} << 31;
struct WireResponse {
  std::vector<WireChoice> choices;  // sorted by index
  // Absent when the server sent no usage, or a count outside 0..kMostUsageTokens.
  std::optional<int64_t> prompt_tokens, completion_tokens;
  // usage.prompt_tokens_details.cached_tokens: prompt tokens the server took from its prefix cache
  // (vLLM, OpenAI, s2d serve); absent when not sent, or not an integer in 0..prompt_tokens.
  std::optional<int64_t> cached_tokens;
};
// RuntimeError naming the field when the body is not a completion response.
WireResponse parse_response(Route route, const std::string& body);
// The message of an OpenAI-style error body, or the body itself (shortened) when it is not one.
std::string error_message_of(const std::string& body);

}  // namespace s2d::api
