// Python's str and dict methods as templates call them ("a".strip(), d.items(), "{}".format(x)),
// and the string helpers the filters share with them.
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "jinja_internal.h"

namespace s2d::jinja {

std::string strip_chars(const std::string& s, std::string_view chars, bool left, bool right) {
  size_t b = 0, e = s.size();
  if (!chars.empty()) {
    if (left)
      while (b < e && chars.find(s[b]) != std::string::npos) ++b;
    if (right)
      while (e > b && chars.find(s[e - 1]) != std::string::npos) --e;
    return s.substr(b, e - b);
  }
  // Python's whitespace, which is Unicode's (a no-break space, U+3000, ...), a code point at a time.
  bool valid = true;
  for (size_t i = b; left && b < e && is_python_space(next_code_point(s, i, valid)) && valid;) b = i;
  while (right && e > b) {
    size_t start = e - 1;
    while (start > b && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
    size_t i = start;
    if (!is_python_space(next_code_point(s, i, valid)) || !valid || i != e) break;
    e = start;
  }
  return s.substr(b, e - b);
}

const Value* kwarg(const Kwargs& kw, const char* name) {
  for (const auto& [k, v] : kw)
    if (k == name) return &v;
  return nullptr;
}

Value arg_or(const std::vector<Value>& args, size_t i, const Kwargs& kw, const char* name, Value dflt) {
  if (i < args.size()) return args[i];
  if (const Value* v = kwarg(kw, name)) return *v;
  return dflt;
}

std::string replace_all(const std::string& s, const std::string& from, const std::string& to, int64_t count) {
  if (from.empty()) return s;
  std::string out;
  size_t last = 0, at;
  while (count != 0 && (at = s.find(from, last)) != std::string::npos) {
    out.append(s, last, at - last);
    if (out.size() + to.size() > kMaxTextBytes) throw Refused{"replace: the result is too long", "more than 64 MiB"};
    out += to;
    last = at + from.size();
    --count;
  }
  return out + s.substr(last);
}

namespace {

// One %-conversion's flags, as Python's printf-style formatting reads them.
struct PercentSpec {
  bool left = false, plus = false, space = false, zero = false, alt = false;
  int width = 0, precision = -1;
  char type = 's';
};

// body padded to the width, on the left unless '-' (zeros after the sign and prefix with '0').
std::string pad(const PercentSpec& f, const std::string& sign_and_prefix, const std::string& digits, bool numeric) {
  const size_t have = utf8_chars(sign_and_prefix) + utf8_chars(digits);
  const size_t missing = f.width > 0 && static_cast<size_t>(f.width) > have ? static_cast<size_t>(f.width) - have : 0;
  if (f.left) return sign_and_prefix + digits + std::string(missing, ' ');
  if (f.zero && numeric) return sign_and_prefix + std::string(missing, '0') + digits;
  return std::string(missing, ' ') + sign_and_prefix + digits;
}

std::string format_integer(const PercentSpec& f, const Value& v) {
  if (!v.is_number() || ((f.type == 'x' || f.type == 'X' || f.type == 'o') && v.t == Value::T::Float))
    throw Refused{std::string("%") + f.type +
                      " format: " + (f.type == 'x' || f.type == 'X' || f.type == 'o' ? "an integer" : "a real number") +
                      " is required, not " + python_type_name(v),
                  to_str(v)};
  int64_t x = v.t == Value::T::Int ? v.i : v.t == Value::T::Bool ? v.b : 0;
  if (v.t == Value::T::Float) {
    if (!std::isfinite(v.f) || std::fabs(v.f) >= 9.2e18) throw Refused{"%d of a float past 64 bits", to_str(v)};
    x = static_cast<int64_t>(v.f);  // int(), toward zero
  }
  const uint64_t magnitude = x < 0 ? 0 - static_cast<uint64_t>(x) : static_cast<uint64_t>(x);
  const int base = f.type == 'x' || f.type == 'X' ? 16 : f.type == 'o' ? 8 : 10;
  char buf[32];
  std::string digits(buf, std::to_chars(buf, buf + sizeof buf, magnitude, base).ptr);
  if (f.type == 'X') digits = case_of(digits, Case::Upper);
  if (f.precision > 0 && digits.size() < static_cast<size_t>(f.precision))
    digits.insert(0, static_cast<size_t>(f.precision) - digits.size(), '0');
  std::string prefix = x < 0 ? "-" : f.plus ? "+" : f.space ? " " : "";
  if (f.alt && base != 10) prefix += f.type == 'o' ? "0o" : f.type == 'x' ? "0x" : "0X";
  return pad(f, prefix, digits, true);
}

std::string format_float(const PercentSpec& f, const Value& v) {
  if (!v.is_number()) throw Refused{"must be real number, not " + python_type_name(v), to_str(v)};
  std::string spec = "%";
  if (f.left) spec += '-';
  if (f.plus) spec += '+';
  if (f.space) spec += ' ';
  if (f.zero) spec += '0';
  if (f.alt) spec += '#';
  if (f.width > 0) spec += std::to_string(std::min(f.width, 4096));
  spec += "." + std::to_string(f.precision < 0 ? 6 : std::min(f.precision, 400)) + f.type;
  std::vector<char> buf(4096 + 400 + 320);
  std::snprintf(buf.data(), buf.size(), spec.c_str(), v.as_double());
  return buf.data();
}

std::string format_one(const PercentSpec& f, const Value& v) {
  switch (f.type) {
    case 's':
    case 'r':
    case 'a': {
      std::string text = f.type == 's' ? to_str(v) : python_repr(v);
      if (f.precision >= 0) text = std::string(first_chars(text, static_cast<size_t>(f.precision)));
      return pad(f, "", text, false);
    }
    case 'd':
    case 'i':
    case 'u':
    case 'x':
    case 'X':
    case 'o': return format_integer(f, v);
    case 'f':
    case 'F':
    case 'e':
    case 'E':
    case 'g':
    case 'G': return format_float(f, v);
    case 'c': {
      std::string ch;
      if (v.t == Value::T::Int && v.i >= 0 && v.i <= 0x10FFFF)
        append_utf8(static_cast<char32_t>(v.i), ch);
      else if (v.t == Value::T::Str && utf8_chars(v.s) == 1)
        ch = v.s;
      else
        throw Refused{"%c requires an int in range(0x110000) or a single character", to_str(v)};
      return pad(f, "", ch, false);
    }
    default: throw Refused{"unsupported format character", std::string("%") + f.type};
  }
}

}  // namespace

std::string percent_format(const std::string& fmt, const std::vector<Value>& args, const Kwargs& named) {
  std::string out;
  size_t next_arg = 0;
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%') {
      out += fmt[i];
      continue;
    }
    if (++i >= fmt.size()) throw Refused{"incomplete format", fmt};
    if (fmt[i] == '%') {
      out += '%';
      continue;
    }
    const Value* value = nullptr;
    if (fmt[i] == '(') {
      const size_t close = fmt.find(')', i);
      if (close == std::string::npos) throw Refused{"incomplete format key", fmt};
      const std::string key = fmt.substr(i + 1, close - i - 1);
      for (const auto& [k, v] : named)
        if (k == key) value = &v;
      if (value == nullptr) throw Refused{"format: no argument named", key};
      i = close + 1;
    }
    PercentSpec f;
    for (; i < fmt.size() && std::strchr("-+ 0#", fmt[i]) != nullptr; ++i) {
      f.left |= fmt[i] == '-', f.plus |= fmt[i] == '+', f.space |= fmt[i] == ' ', f.zero |= fmt[i] == '0';
      f.alt |= fmt[i] == '#';
    }
    auto number = [&](int& dst) {
      if (i < fmt.size() && fmt[i] == '*') throw Refused{"format: '*' widths are not supported", fmt};
      int n = 0;
      for (; i < fmt.size() && std::isdigit(static_cast<unsigned char>(fmt[i])); ++i)
        n = std::min(n * 10 + (fmt[i] - '0'), 100000);
      dst = n;
    };
    number(f.width);
    if (i < fmt.size() && fmt[i] == '.') {
      ++i;
      number(f.precision);
    }
    while (i < fmt.size() && std::strchr("hlL", fmt[i]) != nullptr) ++i;  // length modifiers, ignored as in Python
    if (i >= fmt.size()) throw Refused{"incomplete format", fmt};
    f.type = fmt[i];
    if (value == nullptr) {
      if (!named.empty()) throw Refused{"format requires a mapping", fmt};
      if (next_arg >= args.size()) throw Refused{"not enough arguments for format string", fmt};
      value = &args[next_arg++];
    }
    out += format_one(f, *value);
    if (out.size() > kMaxTextBytes) throw Refused{"format: the result is too long", "more than 64 MiB"};
  }
  if (named.empty() && next_arg < args.size())
    throw Refused{"not all arguments converted during string formatting", fmt};
  return out;
}

std::string python_format(const std::string& fmt, const std::vector<Value>& a, const Kwargs& kw) {
  std::string out;
  size_t next = 0;
  for (size_t i = 0; i < fmt.size(); ++i) {
    const char c = fmt[i];
    if ((c == '{' || c == '}') && i + 1 < fmt.size() && fmt[i + 1] == c) {
      out += c;
      ++i;
      continue;
    }
    if (c == '}') throw Refused{"single '}' in a format string", fmt};
    if (c != '{') {
      out += c;
      continue;
    }
    const size_t close = fmt.find('}', i);
    if (close == std::string::npos) throw Refused{"unclosed '{' in a format string", fmt};
    const std::string field = fmt.substr(i + 1, close - i - 1);
    i = close;
    if (field.find_first_of(":!.[") != std::string::npos) throw Refused{"unsupported format field", "{" + field + "}"};
    if (out.size() > kMaxTextBytes) throw Refused{"format: the result is too long", "more than 64 MiB"};
    if (field.empty() || std::isdigit(static_cast<unsigned char>(field[0]))) {
      const size_t at = field.empty() ? next++ : std::stoul(field.substr(0, 9));
      if (at >= a.size()) throw Refused{"format: missing positional argument", "{" + field + "}"};
      out += to_str(a[at]);
    } else {
      const Value* x = nullptr;
      for (const auto& [k, val] : kw)
        if (k == field) x = &val;
      if (!x) throw Refused{"format: missing keyword argument", field};
      out += to_str(*x);
    }
  }
  return out;
}

Value bound_method(const Value& v, const std::string& name) {
  auto bind = [&](auto fn) {
    return Value::function([v, fn](std::vector<Value>& a, Kwargs& k) { return fn(v, a, k); });
  };
  if (v.t == Value::T::Str) {
    if (name == "strip" || name == "lstrip" || name == "rstrip") {
      const bool l = name != "rstrip", r = name != "lstrip";
      return bind([l, r](const Value& s, std::vector<Value>& a, Kwargs&) {
        return Value::str(strip_chars(s.s, a.empty() || a[0].t == Value::T::None ? std::string_view() : a[0].s, l, r));
      });
    }
    if (name == "startswith" || name == "endswith") {
      const bool start = name == "startswith";
      return bind([start](const Value& s, std::vector<Value>& a, Kwargs&) {
        std::vector<Value> opts = !a.empty() && a[0].t == Value::T::Array ? *a[0].a : a;
        for (const auto& p : opts) {
          if (p.s.size() > s.s.size()) continue;
          if (start ? s.s.compare(0, p.s.size(), p.s) == 0 : s.s.compare(s.s.size() - p.s.size(), p.s.size(), p.s) == 0)
            return Value::boolean(true);
        }
        return Value::boolean(false);
      });
    }
    if (name == "split") {
      return bind([](const Value& s, std::vector<Value>& a, Kwargs&) {
        ValueList out;
        const int64_t maxsplit = a.size() > 1 ? a[1].i : -1;
        if (a.empty() || a[0].t == Value::T::None) {  // on runs of whitespace, ends dropped
          std::string cur;
          int64_t splits = 0;
          size_t i = 0;
          while (i < s.s.size() && std::isspace(static_cast<unsigned char>(s.s[i]))) ++i;
          for (; i < s.s.size(); ++i) {
            if (std::isspace(static_cast<unsigned char>(s.s[i])) && (maxsplit < 0 || splits < maxsplit)) {
              if (!cur.empty()) out.push_back(Value::str(cur)), ++splits;
              cur.clear();
              while (i + 1 < s.s.size() && std::isspace(static_cast<unsigned char>(s.s[i + 1]))) ++i;
            } else {
              cur += s.s[i];
            }
          }
          if (!cur.empty()) out.push_back(Value::str(cur));
          return Value::array(std::move(out));
        }
        const std::string& sep = a[0].s;
        size_t last = 0, at;
        int64_t splits = 0;
        while (!sep.empty() && (maxsplit < 0 || splits < maxsplit) && (at = s.s.find(sep, last)) != std::string::npos) {
          out.push_back(Value::str(s.s.substr(last, at - last)));
          last = at + sep.size();
          ++splits;
        }
        out.push_back(Value::str(s.s.substr(last)));
        return Value::array(std::move(out));
      });
    }
    if (name == "replace") {
      return bind([](const Value& s, std::vector<Value>& a, Kwargs&) {
        if (a.size() < 2) return s;
        return Value::str(replace_all(s.s, a[0].s, a[1].s, a.size() > 2 ? a[2].i : -1));
      });
    }
    if (name == "upper" || name == "lower" || name == "capitalize" || name == "title") {
      const Case mode = name == "lower"        ? Case::Lower
                        : name == "upper"      ? Case::Upper
                        : name == "capitalize" ? Case::Capitalize
                                               : Case::Title;
      return bind([mode](const Value& s, std::vector<Value>&, Kwargs&) { return Value::str(case_of(s.s, mode)); });
    }
    if (name == "format") {
      return bind(
          [](const Value& s, std::vector<Value>& a, Kwargs& kw) { return Value::str(python_format(s.s, a, kw)); });
    }
    if (name == "find" || name == "count") {
      const bool find = name == "find";
      return bind([find](const Value& s, std::vector<Value>& a, Kwargs&) {
        if (a.empty()) return Value::integer(find ? -1 : 0);
        if (find) {
          const size_t at = s.s.find(a[0].s);
          return Value::integer(at == std::string::npos ? -1 : static_cast<int64_t>(at));
        }
        int64_t n = 0;
        for (size_t at = s.s.find(a[0].s); !a[0].s.empty() && at != std::string::npos;
             at = s.s.find(a[0].s, at + a[0].s.size()))
          ++n;
        return Value::integer(n);
      });
    }
  }
  if (v.t == Value::T::Object) {
    if (name == "items" || name == "keys" || name == "values") {
      const int which = name == "items" ? 0 : name == "keys" ? 1 : 2;
      return bind([which](const Value& d, std::vector<Value>&, Kwargs&) {
        ValueList out;
        for (const auto& [k, x] : *d.o) out.push_back(which == 0 ? Value::tuple({k, x}) : which == 1 ? k : x);
        return Value::array(std::move(out));
      });
    }
    if (name == "get") {
      return bind([](const Value& d, std::vector<Value>& a, Kwargs&) {
        if (a.empty()) return Value::none();
        if (const Value* x = d.find(a[0])) return *x;
        return a.size() > 1 ? a[1] : Value::none();
      });
    }
  }
  return Value::undefined(name);
}

}  // namespace s2d::jinja
