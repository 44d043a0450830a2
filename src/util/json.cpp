#include "s2d/util/json.h"

#include <cstdio>

#include "s2d/util/atomic_file.h"

namespace s2d {

size_t json_depth_violation(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;  // the escaped character cannot end the string
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return i;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return std::string_view::npos;
}

std::string json_excerpt(const nlohmann::json& j, size_t max) {
  return printable_excerpt(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), max);
}

std::string printable_excerpt(std::string_view s, size_t max) {
  std::string out;
  size_t i = 0;
  while (i < s.size() && out.size() < max) {
    const auto c = static_cast<unsigned char>(s[i]);
    // Length of a valid UTF-8 sequence starting here, 0 when it is not one.
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n > 1 && i + n <= s.size()) {
      for (size_t k = 1; k < n; ++k)
        if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) n = 0;
    } else if (n > 1) {
      n = 0;
    }
    if (n == 1 && (c < 0x20 || c == 0x7F)) n = 0;  // control characters are escaped too
    if (n == 0) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      out += buf;
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  if (i < s.size()) out += "...";
  return out;
}

namespace {

template <class Json>
Json parse_impl(std::string_view text, const ErrorContext& where) {
  if (const size_t at = json_depth_violation(text); at != std::string_view::npos) {
    ErrorContext ctx = where;
    ctx.expected = "nesting at most " + std::to_string(kMaxJsonDepth) + " deep";
    ctx.found = "deeper nesting at byte " + std::to_string(at);
    throw_input("JSON nested too deeply", ctx);
  }
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    // parse_error (syntax, invalid UTF-8) and out_of_range (406: a number beyond double).
    ErrorContext ctx = where;
    ctx.expected = ctx.expected.empty() ? "valid JSON" : ctx.expected;
    ctx.found = printable_excerpt(e.what(), 160);
    throw_input("malformed JSON", ctx);
  }
}

}  // namespace

nlohmann::json parse_json(std::string_view text, const ErrorContext& where) {
  return parse_impl<nlohmann::json>(text, where);
}

nlohmann::ordered_json parse_ordered_json(std::string_view text, const ErrorContext& where) {
  return parse_impl<nlohmann::ordered_json>(text, where);
}

nlohmann::json parse_json_or_discarded(std::string_view text) {
  if (json_depth_violation(text) != std::string_view::npos) return nlohmann::json(nlohmann::json::value_t::discarded);
  return nlohmann::json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
}

std::string differing_keys(const nlohmann::json& before, const nlohmann::json& now) {
  std::string out;
  auto add = [&](const std::string& k) { out += (out.empty() ? "" : ", ") + k; };
  if (!before.is_object() || !now.is_object()) return "(the whole record)";
  for (auto it = now.begin(); it != now.end(); ++it)
    if (!before.contains(it.key()) || before[it.key()] != *it) add(it.key());
  for (auto it = before.begin(); it != before.end(); ++it)
    if (!now.contains(it.key())) add(it.key());
  return out;
}

nlohmann::json read_json_file(const std::string& path, size_t max_bytes) {
  return parse_json(read_file(path, max_bytes), {.file = path});
}

nlohmann::ordered_json read_ordered_json_file(const std::string& path, size_t max_bytes) {
  return parse_ordered_json(read_file(path, max_bytes), {.file = path});
}

void throw_json_type_error(const nlohmann::json::exception& e, const ErrorContext& where) {
  ErrorContext ctx = where;
  ctx.found = printable_excerpt(e.what(), 160);
  throw_input("a field has the wrong type or value", ctx);
}

}  // namespace s2d
