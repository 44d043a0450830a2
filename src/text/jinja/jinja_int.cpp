// Integer arithmetic as Python does it, refused where the result needs more than 64 bits: C++'s
// signed overflow, INT64_MIN / -1 and the double round trip of ** are undefined or inexact, and a
// chat template is untrusted input.
#include "jinja_internal.h"

namespace s2d::jinja {

namespace {

std::optional<int64_t> power(int64_t base, int64_t exp) {  // exp >= 0, by squaring
  int64_t result = 1;
  while (true) {
    if ((exp & 1) != 0 && __builtin_mul_overflow(result, base, &result)) return std::nullopt;
    exp >>= 1;
    if (exp == 0) return result;
    // A bit of exp is still set, so base^2 or a higher power is still a factor of a nonzero result.
    if (__builtin_mul_overflow(base, base, &base)) return std::nullopt;
  }
}

}  // namespace

std::optional<int64_t> python_int_op(const std::string& op, int64_t x, int64_t y) {
  int64_t r = 0;
  if (op == "+") return __builtin_add_overflow(x, y, &r) ? std::nullopt : std::optional(r);
  if (op == "-") return __builtin_sub_overflow(x, y, &r) ? std::nullopt : std::optional(r);
  if (op == "*") return __builtin_mul_overflow(x, y, &r) ? std::nullopt : std::optional(r);
  if (op == "**") return y < 0 ? std::nullopt : power(x, y);
  if (y == 0) return std::nullopt;
  if (op == "%") {
    if (y == -1) return 0;  // x % -1 traps on x86 for INT64_MIN
    r = x % y;
    return r != 0 && (r < 0) != (y < 0) ? r + y : r;  // the sign of the divisor; opposite signs, no overflow
  }
  if (op == "//") {
    if (y == -1) return __builtin_sub_overflow(int64_t{0}, x, &r) ? std::nullopt : std::optional(r);
    r = x / y;
    return x % y != 0 && (x < 0) != (y < 0) ? r - 1 : r;  // toward negative infinity
  }
  return std::nullopt;
}

}  // namespace s2d::jinja
