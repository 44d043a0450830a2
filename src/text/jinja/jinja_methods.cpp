// Python's str and dict methods as templates call them ("a".strip(), d.items(), "{}".format(x)),
// and the string helpers the filters share with them.
#include <cctype>
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
