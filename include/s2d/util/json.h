// JSON that s2d did not write (config files, safetensors headers, JSONL lines, request bodies),
// parsed so that no input can crash a command:
//  - nesting deeper than kMaxJsonDepth is refused before parsing. nlohmann's parser is iterative,
//    but its copy, dump and comparison recurse, so a 100,000-deep array would overflow the stack
//    later, far from the input;
//  - malformed text, a number out of double range (1e400) and invalid UTF-8 are InputErrors that
//    name the source and the byte, with a short, printable excerpt, never the input itself;
//  - a field of the wrong type (nlohmann's type_error, with JSON_DIAGNOSTICS naming its path) is an
//    InputError at the record's file and line, through with_json_context.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>

#include "s2d/util/error.h"

namespace s2d {

// The nesting that real files need is under 20; 256 leaves room without risking the stack.
inline constexpr int kMaxJsonDepth = 256;

// Byte offset where nesting first exceeds `max_depth` (strings skipped), or npos.
size_t json_depth_violation(std::string_view text, int max_depth = kMaxJsonDepth);

// Parses `text` from the source `where` names (file, line); InputError otherwise (see above).
nlohmann::json parse_json(std::string_view text, const ErrorContext& where = {});
nlohmann::ordered_json parse_ordered_json(std::string_view text, const ErrorContext& where = {});

// Parses `text`, or returns a discarded value when it is malformed or nested too deeply: for
// callers that treat any bad text alike (a torn line, a server's unexpected reply).
nlohmann::json parse_json_or_discarded(std::string_view text);

// The top-level keys whose values differ between two objects (missing on either side counts),
// comma-separated: "seed, temperature".
std::string differing_keys(const nlohmann::json& before, const nlohmann::json& now);

// read_file (a regular file of at most `max_bytes`) then parse_json, errors naming the file.
nlohmann::json read_json_file(const std::string& path, size_t max_bytes = size_t{64} << 20);
nlohmann::ordered_json read_ordered_json_file(const std::string& path, size_t max_bytes = size_t{64} << 20);

// `s` cut to `max` bytes, with bytes that are not printable ASCII or valid UTF-8 written as \xNN:
// safe to put in an error message, a log line or a JSON reply.
std::string printable_excerpt(std::string_view s, size_t max = 80);
// A JSON value as printable_excerpt of its dump. Safe where strings were never validated as
// UTF-8 (GGUF metadata): a plain dump() would throw on them.
std::string json_excerpt(const nlohmann::json& j, size_t max = 80);

// An InputError at `where` for a nlohmann type/range error thrown while reading a parsed value.
[[noreturn]] void throw_json_type_error(const nlohmann::json::exception& e, const ErrorContext& where);

// Runs `fn()`; a nlohmann type or range error inside it becomes an InputError at `where`.
template <class Fn>
decltype(auto) with_json_context(const ErrorContext& where, Fn&& fn) {
  try {
    return std::forward<Fn>(fn)();
  } catch (const nlohmann::json::type_error& e) {
    throw_json_type_error(e, where);
  } catch (const nlohmann::json::out_of_range& e) {
    throw_json_type_error(e, where);
  }
}

}  // namespace s2d
