// The OpenAI wire format: request validation (status and param of each error), the client body
// round-tripping through the server's parser, and what streaming may send.
#include <gtest/gtest.h>

#include "s2d/api/openai_schema.h"
#include "s2d/text/chat_template.h"
#include "s2d/util/error.h"

namespace s2d::api {
namespace {

ServerLimits limits() { return {.served_model = "toy", .max_tokens_cap = 100, .max_n = 4}; }

// The status and param of the ApiError that parsing `body` throws (0 when it parses).
std::pair<int, std::string> error_of(Route route, const std::string& body) {
  try {
    parse_request(route, body, limits(), 7);
  } catch (const ApiError& e) {
    return {e.status, e.param};
  }
  return {0, ""};
}

TEST(OpenAiSchema, ParsesChatWithDefaultsAndContentParts) {
  const auto p = parse_request(Route::Chat, R"({"model": "toy", "messages": [{"role": "system", "content": "Be brief."},
      {"role": "user", "content": [{"type": "text", "text": "Hi "}, {"type": "text", "text": "there"}]}],
      "n": 3, "stop": "\n", "seed": -1, "top_k": -1})",
                               limits(), 7);
  ASSERT_EQ(p.request.messages.size(), 2u);
  EXPECT_EQ(p.request.messages[1].content, "Hi there");
  EXPECT_EQ(p.request.samples, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(p.request.sampling.stop, (std::vector<std::string>{"\n"}));
  EXPECT_EQ(p.request.sampling.seed, UINT64_MAX);     // -1 read back as its 64 bits
  EXPECT_EQ(p.request.sampling.top_k, 0);             // vLLM's -1 = off
  EXPECT_EQ(p.request.sampling.temperature, 1.0);     // OpenAI's default
  EXPECT_EQ(p.request.sampling.max_new_tokens, 100);  // chat: up to the cap
  EXPECT_FALSE(p.stream);
}

TEST(OpenAiSchema, ChatTemplateKwargsPassThroughAsVllmTakesThem) {
  const auto p = parse_request(Route::Chat, R"({"messages": [{"role": "user", "content": "hi"}],
      "chat_template_kwargs": {"enable_thinking": false}})",
                               limits(), 7);
  EXPECT_EQ(p.request.template_kwargs, nlohmann::json({{"enable_thinking", false}}));
  try {
    parse_request(Route::Chat, R"({"messages": [{"role": "user", "content": "hi"}], "chat_template_kwargs": [1]})",
                  limits(), 7);
    ADD_FAILURE() << "expected 422";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 422);
    EXPECT_EQ(e.param, "chat_template_kwargs");
  }
}

TEST(OpenAiSchema, CompletionsDefaultToSixteenTokensAndTheServedModel) {
  const auto p = parse_request(Route::Completions, R"({"prompt": ["Once"], "stream": true,
      "stream_options": {"include_usage": true}})",
                               limits(), 7);
  EXPECT_EQ(*p.request.prompt, "Once");
  EXPECT_EQ(p.request.sampling.max_new_tokens, 16);
  EXPECT_EQ(p.request.sampling.seed, 7u);  // no seed: the server's random one
  EXPECT_FALSE(p.request.sampling.ignore_eos);
  EXPECT_EQ(p.model, "toy");
  EXPECT_TRUE(p.stream);
  EXPECT_TRUE(p.include_usage);
}

TEST(OpenAiSchema, EachBadRequestGetsItsStatusAndParam) {
  using E = std::pair<int, std::string>;
  EXPECT_EQ(error_of(Route::Chat, R"({"messages": [)"), E(400, ""));
  EXPECT_EQ(error_of(Route::Chat, R"([1, 2])"), E(400, ""));
  EXPECT_EQ(error_of(Route::Chat, R"({"model": "toy"})"), E(422, "messages"));
  EXPECT_EQ(error_of(Route::Chat, R"({"messages": []})"), E(422, "messages"));
  EXPECT_EQ(error_of(Route::Chat, R"({"messages": [{"role": "robot", "content": "x"}]})"), E(422, "messages[0].role"));
  EXPECT_EQ(error_of(Route::Chat, R"({"messages": [{"role": "user"}]})"), E(422, "messages[0].content"));
  EXPECT_EQ(error_of(Route::Chat, R"({"messages": [{"role": "system", "content": "x"}]})"), E(422, "messages"));
  EXPECT_EQ(error_of(Route::Completions, R"({"prompt": ""})"), E(422, "prompt"));
  EXPECT_EQ(error_of(Route::Completions, R"({"prompt": ["a", "b"]})"), E(422, "prompt"));
  EXPECT_EQ(error_of(Route::Completions, R"({"prompt": "a", "max_tokens": 101})"), E(422, "max_tokens"));
  EXPECT_EQ(error_of(Route::Completions, R"({"prompt": "a", "max_tokens": 0})"), E(422, "max_tokens"));
  EXPECT_EQ(error_of(Route::Completions, R"({"prompt": "a", "max_tokens": 1e9})"), E(422, "max_tokens"));
  EXPECT_EQ(error_of(Route::Completions, R"({"prompt": "a", "temperature": "hot"})"), E(422, "temperature"));
  EXPECT_EQ(error_of(Route::Completions, R"({"prompt": "a", "top_p": 0})"), E(422, "top_p"));
  EXPECT_EQ(error_of(Route::Completions, R"({"prompt": "a", "n": 5})"), E(422, "n"));
  EXPECT_EQ(error_of(Route::Completions, R"({"prompt": "a", "stop": [""]})"), E(422, "stop"));
  EXPECT_EQ(error_of(Route::Completions, R"({"prompt": "a", "stream": "yes"})"), E(422, "stream"));
  EXPECT_EQ(error_of(Route::Completions, R"({"prompt": "a", "model": "gpt-4"})"), E(404, "model"));
  EXPECT_EQ(error_of(Route::Completions, R"({"prompt": "a", "ignore_eos": 1})"), E(422, "ignore_eos"));
  EXPECT_EQ(error_of(Route::Completions, R"({"prompt": "a", "max_tokens": 100})"), E(0, ""));
}

TEST(OpenAiSchema, ErrorBodyIsOpenAiShaped) {
  const auto j = error_body(ApiError(422, "bad", "n"));
  EXPECT_EQ(j["error"]["message"], "bad");
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  EXPECT_EQ(j["error"]["param"], "n");
  EXPECT_TRUE(j["error"]["code"].is_null());
}

TEST(OpenAiSchema, ClientBodyRoundTripsThroughTheServerParser) {
  CompletionRequest r;
  r.messages = {{"system", "S"}, {"user", "U"}};
  r.sampling = {.max_new_tokens = 50,
                .temperature = 0.7,
                .top_p = 0.9,
                .top_k = 40,
                .seed = 0xF00DF00DF00DF00DULL,
                .stop = {"###", "\n\n"}};
  const auto p = parse_request(Route::Chat, request_body(r, "toy", 2, r.sampling.seed).dump(), limits(), 7);
  EXPECT_EQ(p.request.messages[0].content, "S");
  EXPECT_EQ(p.request.messages[1].role, "user");
  EXPECT_EQ(p.request.sampling.max_new_tokens, 50);
  EXPECT_DOUBLE_EQ(p.request.sampling.temperature, 0.7);
  EXPECT_DOUBLE_EQ(p.request.sampling.top_p, 0.9);
  EXPECT_EQ(p.request.sampling.top_k, 40);
  EXPECT_EQ(p.request.sampling.seed, 0xF00DF00DF00DF00DULL);  // all 64 bits survive
  EXPECT_EQ(p.request.sampling.stop, r.sampling.stop);
  EXPECT_EQ(p.request.samples, (std::vector<int>{0, 1}));
  EXPECT_TRUE(p.request.template_kwargs.is_null() || p.request.template_kwargs.empty());
  // --chat-template-kwargs travel as vLLM's chat_template_kwargs; a request's own take precedence.
  const nlohmann::json thinking_off = {{"enable_thinking", false}};
  EXPECT_EQ(parse_request(Route::Chat, request_body(r, "toy", 1, 1, thinking_off).dump(), limits(), 7)
                .request.template_kwargs,
            thinking_off);
  r.template_kwargs = {{"enable_thinking", true}};
  EXPECT_EQ(parse_request(Route::Chat, request_body(r, "toy", 1, 1, thinking_off).dump(), limits(), 7)
                .request.template_kwargs,
            r.template_kwargs);
}

TEST(OpenAiSchema, TemplateVariablesKeepTheirKeyOrderBothWays) {
  // A tool schema that a chat template prints with tojson must read as the client wrote it (vLLM
  // and transformers keep Python's dict order); json would sort its keys.
  const std::string body =
      R"({"messages": [{"role": "user", "content": "hi"}], "chat_template_kwargs": {"tools": [{"type": "function",)"
      R"( "function": {"name": "f", "description": "d", "parameters": {"z": 1, "a": 2}}}], "b": 1, "a": 2}})";
  const auto p = parse_request(Route::Chat, body, limits(), 7);
  const std::string in_order =
      R"({"tools":[{"type":"function","function":{"name":"f","description":"d","parameters":{"z":1,"a":2}}}],"b":1,"a":2})";
  EXPECT_EQ(p.request.template_kwargs.dump(), in_order);
  // And out again, as a client (HttpBackend) sends them to a server.
  EXPECT_EQ(request_body(p.request, "toy", 1, 1)["chat_template_kwargs"].dump(), in_order);
  EXPECT_EQ(template_kwargs(R"({"b": 1, "a": {"z": 0, "y": 1}})", "--chat-template-kwargs").dump(),
            R"({"b":1,"a":{"z":0,"y":1}})");
}

TEST(OpenAiSchema, ResponsesParseBackInIndexOrderWithUsage) {
  ParsedRequest p;
  p.route = Route::Completions;
  p.model = "toy";
  CompletionResult r{"x", {{0, "a", "stop", 3}, {1, "bb", "length", 4}}, 9, 0.1};
  const auto w = parse_response(Route::Completions, response_json(p, r, "cmpl-1", 0).dump());
  ASSERT_EQ(w.choices.size(), 2u);
  EXPECT_EQ(w.choices[1].text, "bb");
  EXPECT_EQ(w.choices[1].finish_reason, "length");
  EXPECT_EQ(*w.prompt_tokens, 9);
  EXPECT_EQ(*w.completion_tokens, 7);

  const auto shuffled = parse_response(Route::Chat, R"({"choices": [
      {"index": 1, "message": {"role": "assistant", "content": "second"}, "finish_reason": "stop"},
      {"index": 0, "message": {"role": "assistant", "content": "first"}, "finish_reason": "stop"}]})");
  EXPECT_EQ(shuffled.choices[0].text, "first");
  EXPECT_FALSE(shuffled.prompt_tokens.has_value());
  EXPECT_FALSE(shuffled.cached_tokens.has_value());
  auto cached = [](const std::string& details) {
    return parse_response(Route::Chat, R"({"choices": [{"index": 0, "message": {"content": "x"}}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 1, "prompt_tokens_details": )" +
                                           details + "}}")
        .cached_tokens;
  };
  EXPECT_EQ(cached(R"({"cached_tokens": 7})"), 7);
  EXPECT_EQ(cached(R"({"cached_tokens": 9})"), 9);
  EXPECT_FALSE(cached(R"({"cached_tokens": 10})").has_value()) << "more than the prompt";
  EXPECT_FALSE(cached(R"({"cached_tokens": -1})").has_value());
  EXPECT_FALSE(cached(R"({"cached_tokens": "7"})").has_value());
  EXPECT_FALSE(cached("null").has_value()) << "vLLM without --enable-prompt-tokens-details";
  auto counts = [](const std::string& prompt, const std::string& completion) {
    const auto parsed = parse_response(Route::Chat, R"({"choices": [{"index": 0, "message": {"content": "x"}}],
        "usage": {"prompt_tokens": )" + prompt + R"(, "completion_tokens": )" +
                                                        completion + "}}");
    return std::pair{parsed.prompt_tokens, parsed.completion_tokens};
  };
  EXPECT_EQ(counts("0", "2147483648"),
            (std::pair<std::optional<int64_t>, std::optional<int64_t>>{0, kMostUsageTokens}));
  for (const std::string bad : {"-1", "2147483649", "9223372036854775807", "18446744073709551615", "1.5", "\"3\""}) {
    EXPECT_FALSE(counts(bad, "1").first.has_value()) << bad;
    EXPECT_FALSE(counts("1", bad).second.has_value()) << bad;
  }
  EXPECT_THROW(parse_response(Route::Chat, R"({"object": "error"})"), Error);
  EXPECT_THROW(parse_response(Route::Chat, "<html>bad gateway</html>"), Error);
}

TEST(OpenAiSchema, ErrorMessageOfKnowsTheCommonShapes) {
  EXPECT_EQ(error_message_of(R"({"error": {"message": "too long"}})"), "too long");
  EXPECT_EQ(error_message_of(R"({"message": "vllm says"})"), "vllm says");
  EXPECT_EQ(error_message_of("plain text"), "plain text");
}

TEST(OpenAiSchema, StreamingHoldsBackAPossibleStopAndHalfACharacter) {
  EXPECT_EQ(stream_safe_length("Hello wor", {"world"}), 6u);  // "wor" may become "world"
  EXPECT_EQ(stream_safe_length("Hello wox", {"world"}), 9u);
  EXPECT_EQ(stream_safe_length("a#", {"##", "#!"}), 1u);
  EXPECT_EQ(stream_safe_length("abc", {}), 3u);
  const std::string e_acute = "caf\xC3\xA9";
  EXPECT_EQ(stream_safe_length(e_acute, {}), 5u);                        // whole character
  EXPECT_EQ(stream_safe_length(e_acute.substr(0, 4), {}), 3u);           // lead byte alone: held
  EXPECT_EQ(stream_safe_length("ok \xEF\xBF\xBD\xEF\xBF\xBD", {}), 3u);  // U+FFFD: bytes of one still to come
  EXPECT_EQ(stream_safe_length("\xF0\x9F\x98", {}), 0u);                 // 3 of an emoji's 4 bytes
}

TEST(OpenAiSchema, ChatChunksCarryTheRoleFirstAndTheFinishReasonLast) {
  ParsedRequest p;
  p.model = "toy";
  const auto first = chunk_json(p, "id", 0, 0, "He", "", true);
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(first["choices"][0]["delta"]["content"], "He");
  EXPECT_TRUE(first["choices"][0]["finish_reason"].is_null());
  const auto last = chunk_json(p, "id", 0, 0, "", "stop", false);
  EXPECT_FALSE(last["choices"][0]["delta"].contains("content"));
  EXPECT_EQ(last["choices"][0]["finish_reason"], "stop");
  const auto usage = usage_chunk_json(p, "id", 0, usage_json(4, 6, 3))["usage"];
  EXPECT_EQ(usage["total_tokens"], 10);
  EXPECT_EQ(usage["prompt_tokens_details"]["cached_tokens"], 3);
}

}  // namespace
}  // namespace s2d::api
