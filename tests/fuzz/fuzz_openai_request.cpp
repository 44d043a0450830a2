// s2d serve's request validation (both routes), and the client's reading of a server's reply.
#include "fuzz_util.h"
#include "s2d/api/openai_schema.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  const s2d::api::ServerLimits limits{.served_model = "m", .max_tokens_cap = 4096, .max_n = 16};
  for (auto route : {s2d::api::Route::Chat, s2d::api::Route::Completions}) {
    try {
      const auto p = s2d::api::parse_request(route, body, limits, 7);
      (void)s2d::api::request_body(p.request, p.model, static_cast<int>(p.request.samples.size()), 1).dump();
    } catch (const s2d::api::ApiError& e) {
      // What the server sends back must always serialise.
      (void)s2d::api::error_body(e).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    s2d::fuzz::expect_clean([&] { (void)s2d::api::parse_response(route, body); });
  }
  (void)s2d::api::error_message_of(body);
  (void)s2d::api::stream_safe_length(body, {"\n\n", "</s>"});
  return 0;
}
