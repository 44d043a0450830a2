// Integer arithmetic as Python does it, refused where the result needs more than 64 bits: C++'s
// signed overflow, INT64_MIN / -1 and the double round trip of ** are undefined or inexact, and a
// chat template is untrusted input. Also Python's int() and float() of a string, which the int and
// float filters and the lexer's number literals follow: strtoll and strtod read a prefix and
// accept forms Python does not ("12abc", "0x1p3").
#include <cmath>
#include <cstdlib>

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

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string_view strip_space(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

int digit_value(char c) {  // 0-9, then a-z or A-Z as 10-35; 99 for anything else
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'z') return c - 'a' + 10;
  if (c >= 'A' && c <= 'Z') return c - 'A' + 10;
  return 99;
}

// Python's digitpart: digits of `base`, a single "_" between two of them, and with `lead_underscore`
// one before the first (after a 0x prefix). The digits without underscores; nullopt if malformed.
std::optional<std::string> digit_part(std::string_view s, int base, bool lead_underscore) {
  std::string digits;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '_') {
      const bool after_digit = i > 0 && s[i - 1] != '_';
      const bool allowed = after_digit || (i == 0 && lead_underscore);
      if (!allowed || i + 1 == s.size()) return std::nullopt;
      continue;
    }
    if (digit_value(s[i]) >= base) return std::nullopt;
    digits += s[i];
  }
  if (digits.empty()) return std::nullopt;
  return digits;
}

}  // namespace

std::optional<int64_t> python_int_of_string(std::string_view s, int64_t base) {
  s = strip_space(s);
  const bool negative = !s.empty() && s.front() == '-';
  if (!s.empty() && (s.front() == '-' || s.front() == '+')) s.remove_prefix(1);
  if (base != 0 && (base < 2 || base > 36)) return std::nullopt;  // Python: a ValueError
  bool prefixed = false;
  if (s.size() >= 2 && s[0] == '0') {
    const char p = static_cast<char>(s[1] | 0x20);
    const int prefix_base = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 0;
    if (prefix_base != 0 && (base == 0 || base == prefix_base)) {
      base = prefix_base;
      prefixed = true;
      s.remove_prefix(2);
    }
  }
  const bool decimal_by_default = base == 0;
  if (decimal_by_default) base = 10;
  const std::optional<std::string> digits = digit_part(s, static_cast<int>(base), prefixed);
  if (!digits) return std::nullopt;
  // Base 0 reads "010" as Python 3 source would: a leading zero only in zero itself.
  if (decimal_by_default && (*digits)[0] == '0' && digits->find_first_not_of('0') != std::string::npos)
    return std::nullopt;
  uint64_t magnitude = 0;
  const uint64_t most = negative ? uint64_t{1} << 63 : (uint64_t{1} << 63) - 1;
  for (const char c : *digits) {
    const auto d = static_cast<uint64_t>(digit_value(c));
    if (magnitude > (most - d) / static_cast<uint64_t>(base))
      throw Refused{"integer past 64 bits", std::string(s.substr(0, 40))};
    magnitude = magnitude * static_cast<uint64_t>(base) + d;
  }
  // -2^63's magnitude does not fit int64, so negate in unsigned arithmetic.
  return negative ? static_cast<int64_t>(0 - magnitude) : static_cast<int64_t>(magnitude);
}

std::optional<double> python_float_of_string(std::string_view s) {
  s = strip_space(s);
  std::string text;
  if (!s.empty() && (s.front() == '-' || s.front() == '+')) {
    text += s.front();
    s.remove_prefix(1);
  }
  std::string word(s);
  for (char& c : word) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (word == "inf" || word == "infinity") return text == "-" ? -HUGE_VAL : HUGE_VAL;
  if (word == "nan") return std::nan("");
  // digitpart ["." [digitpart]] | "." digitpart, then [("e" | "E") ["+" | "-"] digitpart]
  const size_t e = s.find_first_of("eE");
  std::string_view mantissa = s.substr(0, e);
  const size_t dot = mantissa.find('.');
  const std::string_view whole = mantissa.substr(0, dot);
  const std::string_view fraction = dot == std::string_view::npos ? std::string_view{} : mantissa.substr(dot + 1);
  if (whole.empty() && fraction.empty()) return std::nullopt;
  if (!whole.empty()) {
    const auto digits = digit_part(whole, 10, false);
    if (!digits) return std::nullopt;
    text += *digits;
  }
  if (dot != std::string_view::npos) {
    text += '.';
    const auto digits = fraction.empty() ? std::optional<std::string>("") : digit_part(fraction, 10, false);
    if (!digits) return std::nullopt;
    text += *digits;
  }
  if (e != std::string_view::npos) {
    std::string_view exponent = s.substr(e + 1);
    text += 'e';
    if (!exponent.empty() && (exponent.front() == '-' || exponent.front() == '+')) {
      text += exponent.front();
      exponent.remove_prefix(1);
    }
    const auto digits = digit_part(exponent, 10, false);
    if (!digits) return std::nullopt;
    text += *digits;
  }
  return std::strtod(text.c_str(), nullptr);  // overflow gives inf and underflow 0, as Python's
}

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
