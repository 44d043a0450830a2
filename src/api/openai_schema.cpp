#include "s2d/api/openai_schema.h"

#include <algorithm>

#include "s2d/util/error.h"
#include "s2d/util/json.h"

namespace s2d::api {

using nlohmann::json;

const char* route_path(Route r) { return r == Route::Chat ? "/v1/chat/completions" : "/v1/completions"; }

ApiError::ApiError(int status_, std::string message, std::string param_, std::string type_, std::string code_)
    : std::runtime_error(std::move(message)),
      status(status_),
      param(std::move(param_)),
      type(std::move(type_)),
      code(std::move(code_)) {}

json error_body(const ApiError& e) {
  return {{"error",
           {{"message", e.what()},
            {"type", e.type},
            {"param", e.param.empty() ? json(nullptr) : json(e.param)},
            {"code", e.code.empty() ? json(nullptr) : json(e.code)}}}};
}

namespace {

[[noreturn]] void bad_field(const std::string& field, const std::string& expected, const json& found) {
  const std::string f = printable_excerpt(found.dump(-1, ' ', false, json::error_handler_t::replace), 80);
  throw ApiError(422, "'" + field + "': expected " + expected + ", found " + f, field);
}

double number_in(const json& body, const char* key, double fallback, double lo, double hi, bool lo_open,
                 const std::string& range) {
  if (!body.contains(key) || body[key].is_null()) return fallback;
  const json& v = body[key];
  if (!v.is_number()) bad_field(key, "a number " + range, v);
  const double x = v.get<double>();
  if (x > hi || x < lo || (lo_open && x == lo)) bad_field(key, "a number " + range, v);
  return x;
}

int64_t integer_in(const json& body, const char* key, int64_t fallback, int64_t lo, int64_t hi) {
  if (!body.contains(key) || body[key].is_null()) return fallback;
  const json& v = body[key];
  const std::string range = "integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
  if (!v.is_number_integer()) bad_field(key, "an " + range, v);
  const auto x =
      v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX : v.get<int64_t>();
  if (x < lo || x > hi) bad_field(key, "an " + range, v);
  return x;
}

// Message content: a string, or an array of {"type": "text", "text": ...} parts (joined).
std::string content_of(const json& m, const std::string& where) {
  if (!m.contains("content") || m["content"].is_null()) bad_field(where + ".content", "a string", json(nullptr));
  const json& c = m["content"];
  if (c.is_string()) return c.get<std::string>();
  if (!c.is_array()) bad_field(where + ".content", "a string or an array of text parts", c);
  std::string out;
  for (const auto& part : c) {
    if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") || !part["text"].is_string())
      bad_field(where + ".content", "text parts {\"type\": \"text\", \"text\": ...} (only text is supported)", part);
    out += part["text"].get<std::string>();
  }
  return out;
}

std::vector<ChatMessage> messages_of(const json& body) {
  if (!body.contains("messages")) bad_field("messages", "a non-empty array of messages", json(nullptr));
  const json& ms = body["messages"];
  if (!ms.is_array() || ms.empty()) bad_field("messages", "a non-empty array of messages", ms);
  std::vector<ChatMessage> out;
  for (size_t i = 0; i < ms.size(); ++i) {
    const std::string where = "messages[" + std::to_string(i) + "]";
    const json& m = ms[i];
    if (!m.is_object()) bad_field(where, "an object {\"role\": ..., \"content\": ...}", m);
    const std::string role = m.contains("role") && m["role"].is_string() ? m["role"].get<std::string>() : "";
    if (role != "system" && role != "user" && role != "assistant")
      bad_field(where + ".role", "\"system\", \"user\" or \"assistant\"", m.value("role", json(nullptr)));
    out.push_back({role, content_of(m, where)});
  }
  if (std::none_of(out.begin(), out.end(), [](const ChatMessage& m) { return m.role == "user"; }))
    bad_field("messages", "at least one user message", ms);
  return out;
}

std::string prompt_of(const json& body) {
  if (!body.contains("prompt")) bad_field("prompt", "a non-empty string", json(nullptr));
  const json& p = body["prompt"];
  if (p.is_string() && !p.get<std::string>().empty()) return p.get<std::string>();
  if (p.is_array() && p.size() == 1 && p[0].is_string() && !p[0].get<std::string>().empty())
    return p[0].get<std::string>();
  bad_field("prompt", "a non-empty string (or an array holding one; send several prompts as several requests)", p);
}

std::vector<std::string> stops_of(const json& body) {
  if (!body.contains("stop") || body["stop"].is_null()) return {};
  const json& s = body["stop"];
  std::vector<std::string> out;
  if (s.is_string())
    out.push_back(s.get<std::string>());
  else if (s.is_array() && s.size() <= 16) {
    for (const auto& x : s) {
      if (!x.is_string()) bad_field("stop", "a string or an array of at most 16 strings", s);
      out.push_back(x.get<std::string>());
    }
  } else {
    bad_field("stop", "a string or an array of at most 16 strings", s);
  }
  for (const auto& x : out)
    if (x.empty()) bad_field("stop", "non-empty strings", s);
  return out;
}

}  // namespace

namespace {
ParsedRequest parse_request_fields(Route route, const json& body, const ServerLimits& limits, uint64_t random_seed);
}  // namespace

ParsedRequest parse_request(Route route, const std::string& body_text, const ServerLimits& limits,
                            uint64_t random_seed) {
  json body;
  try {
    body = parse_json(body_text, {.field = "(body)"});  // depth, syntax, UTF-8 and range checked
  } catch (const Error& e) {
    throw ApiError(400, std::string("request body is not valid JSON: ") + e.what());
  }
  if (!body.is_object())
    throw ApiError(400, std::string("request body must be a JSON object, found ") + body.type_name());
  try {
    ParsedRequest p = parse_request_fields(route, body, limits, random_seed);
    // Template variables keep the client's key order (json sorts keys): a tool schema that the
    // template prints with tojson must read as written, as it does in vLLM and transformers.
    if (!p.request.template_kwargs.empty())
      p.request.template_kwargs = parse_ordered_json(body_text, {.field = "(body)"})["chat_template_kwargs"];
    return p;
  } catch (const json::exception& e) {  // a field of the wrong type that a check above missed: still the client's
    throw ApiError(422, printable_excerpt(e.what(), 200));
  }
}

namespace {
ParsedRequest parse_request_fields(Route route, const json& body, const ServerLimits& limits, uint64_t random_seed) {
  ParsedRequest p;
  p.route = route;
  p.model = limits.served_model;
  if (body.contains("model") && !body["model"].is_null()) {
    if (!body["model"].is_string()) bad_field("model", "a string", body["model"]);
    p.model = body["model"].get<std::string>();
    if (p.model != limits.served_model)
      throw ApiError(404,
                     "The model '" + p.model + "' does not exist; this server serves '" + limits.served_model + "'",
                     "model", "invalid_request_error", "model_not_found");
  }
  CompletionRequest& r = p.request;
  if (route == Route::Chat)
    r.messages = messages_of(body);
  else
    r.prompt = prompt_of(body);
  if (route == Route::Chat && body.contains("chat_template_kwargs") &&
      !body["chat_template_kwargs"].is_null()) {  // vLLM's field
    if (!body["chat_template_kwargs"].is_object())
      bad_field("chat_template_kwargs", "an object of template variables", body["chat_template_kwargs"]);
    r.template_kwargs = body["chat_template_kwargs"];
  }

  SamplingParams& s = r.sampling;
  // Chat's max_tokens defaults to "as long as the context allows" (the cap); completions' to 16, as OpenAI's.
  const char* max_key =
      route == Route::Chat && body.contains("max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
  s.max_new_tokens =
      integer_in(body, max_key, route == Route::Chat ? limits.max_tokens_cap : 16, 1, limits.max_tokens_cap);
  s.temperature = number_in(body, "temperature", 1.0, 0.0, 2.0, false, "in [0, 2]");
  s.top_p = number_in(body, "top_p", 1.0, 0.0, 1.0, true, "in (0, 1]");
  const int64_t top_k = integer_in(body, "top_k", 0, -1, 1 << 20);  // vLLM: -1 = off
  s.top_k = top_k < 0 ? 0 : top_k;
  s.stop = stops_of(body);
  if (body.contains("seed") && !body["seed"].is_null()) {
    if (!body["seed"].is_number_integer()) bad_field("seed", "an integer", body["seed"]);
    s.seed = body["seed"].is_number_unsigned() ? body["seed"].get<uint64_t>()
                                               : static_cast<uint64_t>(body["seed"].get<int64_t>());
  } else {
    s.seed = random_seed;
  }
  if (body.contains("ignore_eos") && !body["ignore_eos"].is_null()) {  // vLLM's extension, for benchmarks
    if (!body["ignore_eos"].is_boolean()) bad_field("ignore_eos", "true or false", body["ignore_eos"]);
    s.ignore_eos = body["ignore_eos"].get<bool>();
  }
  const int64_t n = integer_in(body, "n", 1, 1, limits.max_n);
  r.samples.clear();
  for (int i = 0; i < n; ++i) r.samples.push_back(i);

  if (body.contains("stream") && !body["stream"].is_null()) {
    if (!body["stream"].is_boolean()) bad_field("stream", "true or false", body["stream"]);
    p.stream = body["stream"].get<bool>();
  }
  if (body.contains("stream_options") && body["stream_options"].is_object())
    p.include_usage = body["stream_options"].value("include_usage", false);
  return p;
}
}  // namespace

json usage_json(int64_t prompt_tokens, int64_t completion_tokens, int64_t cached_tokens) {
  return {{"prompt_tokens", prompt_tokens},
          {"completion_tokens", completion_tokens},
          {"total_tokens", prompt_tokens + completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", cached_tokens}}}};
}

json response_json(const ParsedRequest& p, const CompletionResult& r, const std::string& id, int64_t created) {
  const bool chat = p.route == Route::Chat;
  json choices = json::array();
  int64_t completion_tokens = 0;
  for (size_t i = 0; i < r.choices.size(); ++i) {
    const Completion& c = r.choices[i];
    completion_tokens += c.generated_tokens;
    json choice = {{"index", i}, {"finish_reason", c.finish_reason}, {"logprobs", nullptr}};
    if (chat)
      choice["message"] = {{"role", "assistant"}, {"content", c.text}};
    else
      choice["text"] = c.text;
    choices.push_back(std::move(choice));
  }
  return {{"id", id},
          {"object", chat ? "chat.completion" : "text_completion"},
          {"created", created},
          {"model", p.model},
          {"choices", std::move(choices)},
          {"usage", usage_json(r.prompt_tokens, completion_tokens, r.cached_prompt_tokens)}};
}

json chunk_json(const ParsedRequest& p, const std::string& id, int64_t created, int index, const std::string& delta,
                const std::string& finish_reason, bool first) {
  const bool chat = p.route == Route::Chat;
  json choice = {{"index", index},
                 {"logprobs", nullptr},
                 {"finish_reason", finish_reason.empty() ? json(nullptr) : json(finish_reason)}};
  if (chat) {
    json d = json::object();
    if (first) d["role"] = "assistant";
    if (!delta.empty() || finish_reason.empty()) d["content"] = delta;
    choice["delta"] = std::move(d);
  } else {
    choice["text"] = delta;
  }
  return {{"id", id},
          {"object", chat ? "chat.completion.chunk" : "text_completion"},
          {"created", created},
          {"model", p.model},
          {"choices", json::array({std::move(choice)})}};
}

json usage_chunk_json(const ParsedRequest& p, const std::string& id, int64_t created, json usage) {
  return {{"id", id},
          {"object", p.route == Route::Chat ? "chat.completion.chunk" : "text_completion"},
          {"created", created},
          {"model", p.model},
          {"choices", json::array()},
          {"usage", std::move(usage)}};
}

size_t stream_safe_length(const std::string& text, const std::vector<std::string>& stops) {
  size_t safe = text.size();
  // A suffix of the text that is a proper prefix of a stop string may still become that stop.
  for (const auto& stop : stops) {
    for (size_t k = std::min(stop.size() - 1, text.size()); k > 0; --k) {
      if (text.compare(text.size() - k, k, stop, 0, k) == 0) {
        safe = std::min(safe, text.size() - k);
        break;
      }
    }
  }
  // Do not split a UTF-8 character: step back over continuation bytes to a lead byte and keep
  // the character only if all its bytes are there.
  size_t i = safe;
  int cont = 0;
  while (i > 0 && cont < 3 && (static_cast<unsigned char>(text[i - 1]) & 0xC0) == 0x80) --i, ++cont;
  if (i > 0) {
    const auto lead = static_cast<unsigned char>(text[i - 1]);
    const int need = lead >= 0xF0 ? 3 : lead >= 0xE0 ? 2 : lead >= 0xC0 ? 1 : 0;
    if (need > cont) safe = i - 1;
  }
  // A byte-level BPE decodes the first bytes of a character split over tokens to U+FFFD, which
  // the next token turns into the character: hold trailing replacement characters back (the
  // final text, sent at the end, keeps any that stay).
  static const std::string kReplacement = "\xEF\xBF\xBD";
  while (safe >= 3 && text.compare(safe - 3, 3, kReplacement) == 0) safe -= 3;
  return safe;
}

// --- client side -------------------------------------------------------------------------------

nlohmann::ordered_json request_body(const CompletionRequest& r, const std::string& model, int n, uint64_t seed,
                                    const nlohmann::ordered_json& default_template_kwargs) {
  const SamplingParams& s = r.sampling;
  nlohmann::ordered_json body = {{"model", model},
                                 {"max_tokens", s.max_new_tokens},
                                 {"temperature", s.temperature},
                                 {"top_p", s.top_p},
                                 {"n", n},
                                 {"seed", static_cast<int64_t>(seed)},
                                 {"stream", false}};
  if (s.top_k > 0) body["top_k"] = s.top_k;
  if (!s.stop.empty()) body["stop"] = s.stop;
  if (r.prompt) {
    body["prompt"] = *r.prompt;
  } else {
    nlohmann::ordered_json ms = nlohmann::ordered_json::array();
    for (const auto& m : r.messages) ms.push_back({{"role", m.role}, {"content", m.content}});
    body["messages"] = std::move(ms);
    const nlohmann::ordered_json& kwargs =
        r.template_kwargs.is_object() && !r.template_kwargs.empty() ? r.template_kwargs : default_template_kwargs;
    if (kwargs.is_object() && !kwargs.empty()) body["chat_template_kwargs"] = kwargs;
  }
  return body;
}

namespace {
WireResponse read_response(Route route, const std::string& body_text);
}  // namespace

WireResponse parse_response(Route route, const std::string& body_text) {
  try {
    return read_response(route, body_text);
  } catch (const json::exception& e) {  // a field of the wrong type ("index": "0"): the server's fault
    throw_runtime("unexpected response from the server",
                  {.expected = "an OpenAI completion", .found = printable_excerpt(e.what(), 200)});
  }
}

namespace {
WireResponse read_response(Route route, const std::string& body_text) {
  const json body = parse_json_or_discarded(body_text);
  auto fail = [&](const std::string& field, const std::string& expected) {
    std::string found = printable_excerpt(body_text, 200);
    throw_runtime("unexpected response from the server", {.field = field, .expected = expected, .found = found});
  };
  if (body.is_discarded() || !body.is_object()) fail("(body)", "a JSON object");
  if (!body.contains("choices") || !body["choices"].is_array()) fail("choices", "an array");
  WireResponse out;
  for (const auto& c : body["choices"]) {
    WireChoice w;
    w.index = c.value("index", static_cast<int>(out.choices.size()));
    if (route == Route::Chat) {
      if (!c.contains("message") || !c["message"].is_object()) fail("choices[].message", "an object");
      const json& content = c["message"].value("content", json(nullptr));
      w.text = content.is_string() ? content.get<std::string>() : "";
    } else {
      if (!c.contains("text") || !c["text"].is_string()) fail("choices[].text", "a string");
      w.text = c["text"].get<std::string>();
    }
    const json& fr = c.value("finish_reason", json(nullptr));
    w.finish_reason = fr.is_string() ? fr.get<std::string>() : "stop";
    out.choices.push_back(std::move(w));
  }
  std::sort(out.choices.begin(), out.choices.end(),
            [](const WireChoice& a, const WireChoice& b) { return a.index < b.index; });
  if (body.contains("usage") && body["usage"].is_object()) {
    const json& u = body["usage"];
    auto count = [&](const char* name) -> std::optional<int64_t> {
      const json& v = u.value(name, json(nullptr));
      if (v.is_number_unsigned() && v.get<uint64_t>() <= static_cast<uint64_t>(kMostUsageTokens))
        return v.get<int64_t>();
      return std::nullopt;  // missing, negative, fractional, a string or out of range
    };
    out.prompt_tokens = count("prompt_tokens");
    out.completion_tokens = count("completion_tokens");
    const json& details = u.value("prompt_tokens_details", json(nullptr));
    if (out.prompt_tokens && details.is_object() && details.contains("cached_tokens") &&
        details["cached_tokens"].is_number_integer()) {
      const auto cached = details["cached_tokens"].get<int64_t>();
      if (cached >= 0 && cached <= *out.prompt_tokens) out.cached_tokens = cached;
    }
  }
  return out;
}
}  // namespace

std::string error_message_of(const std::string& body) {
  const json j = parse_json_or_discarded(body);
  if (!j.is_discarded() && j.is_object()) {
    if (j.contains("error") && j["error"].is_object() && j["error"].contains("message") &&
        j["error"]["message"].is_string())
      return j["error"]["message"].get<std::string>();
    if (j.contains("message") && j["message"].is_string()) return j["message"].get<std::string>();
    if (j.contains("detail")) return j["detail"].dump();
  }
  return printable_excerpt(body, 300);
}

}  // namespace s2d::api
