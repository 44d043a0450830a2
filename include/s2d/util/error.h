// Errors that carry where and why: the file, line, field or tensor, what was expected and what
// was found, plus a hint for the user. The CLI maps the kind to an exit code:
//   InputError   -> 2 (bad flag, bad file, bad value: the user can fix it)
//   RuntimeError -> 1 (something failed while doing valid work)
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace s2d {

struct ErrorContext {
  std::string file;      // path of the file at fault, if any
  int64_t line = 0;      // 1-based line number, 0 when not line-oriented
  std::string field;     // JSON field, flag or tensor name
  std::string expected;  // what we wanted
  std::string found;     // what we got
  std::string hint;      // what the user can do about it
};

enum class ErrorKind { Input, Runtime };

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string message, ErrorContext ctx = {});
  ErrorKind kind() const { return kind_; }
  const ErrorContext& context() const { return ctx_; }
  const std::string& message() const { return message_; }
  int exit_code() const { return kind_ == ErrorKind::Input ? 2 : 1; }

 private:
  ErrorKind kind_;
  std::string message_;
  ErrorContext ctx_;
};

// One line: "FILE:LINE: 'F': MESSAGE: expected E, found F (hint: H)"; empty parts are left out.
std::string format_error(const std::string& message, const ErrorContext& ctx);

// Shorthands for the two kinds.
[[noreturn]] void throw_input(std::string message, ErrorContext ctx = {});
[[noreturn]] void throw_runtime(std::string message, ErrorContext ctx = {});

}  // namespace s2d
