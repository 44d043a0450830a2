#include "s2d/util/error.h"

namespace s2d {

std::string format_error(const std::string& message, const ErrorContext& ctx) {
  std::string out;
  if (!ctx.file.empty()) {
    out += ctx.file;
    if (ctx.line > 0) out += ":" + std::to_string(ctx.line);
    out += ": ";
  }
  if (!ctx.field.empty()) out += "'" + ctx.field + "': ";
  out += message;
  // Only what is known: an unknown half would print as a meaningless "?".
  if (!ctx.expected.empty()) out += ": expected " + ctx.expected;
  if (!ctx.found.empty()) out += (ctx.expected.empty() ? ": found " : ", found ") + ctx.found;
  if (!ctx.hint.empty()) out += " (hint: " + ctx.hint + ")";
  return out;
}

Error::Error(ErrorKind kind, std::string message, ErrorContext ctx)
    : std::runtime_error(format_error(message, ctx)), kind_(kind), message_(std::move(message)), ctx_(std::move(ctx)) {}

void throw_input(std::string message, ErrorContext ctx) {
  throw Error(ErrorKind::Input, std::move(message), std::move(ctx));
}

void throw_runtime(std::string message, ErrorContext ctx) {
  throw Error(ErrorKind::Runtime, std::move(message), std::move(ctx));
}

}  // namespace s2d
