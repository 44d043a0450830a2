// jinja2's filters that real chat templates use less often than the renderer's own (sort, unique,
// min, max, sum, select, reject, batch, indent, round, center, truncate, wordcount), as jinja2 3.1 defines them. Free
// functions over values: what they need of the renderer (a value's items, an item by key or
// index, a named test) comes in FilterHooks, and a limit or a Python TypeError is a Refused,
// which the renderer reports with the template's line.
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "jinja_internal.h"

namespace s2d::jinja {

int python_compare(const Value& a, const Value& b) {
  if (a.t == Value::T::Int && b.t == Value::T::Int) return a.i < b.i ? -1 : a.i > b.i ? 1 : 0;  // exact past 2^53
  if (a.is_number() && b.is_number()) {
    const double x = a.as_double(), y = b.as_double();
    return x < y ? -1 : x > y ? 1 : 0;  // NaN compares equal here; the < operator handles it apart
  }
  if (a.t == Value::T::Str && b.t == Value::T::Str) {
    const int c = a.s.compare(b.s);  // UTF-8's byte order is the code points' order
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  if (a.t == Value::T::Array && b.t == Value::T::Array) {  // lexicographic, as Python's lists
    for (size_t i = 0; i < a.a->size() && i < b.a->size(); ++i)
      if (const int c = python_compare((*a.a)[i], (*b.a)[i]); c != 0) return c;
    return a.a->size() < b.a->size() ? -1 : a.a->size() > b.a->size() ? 1 : 0;
  }
  throw Refused{"cannot compare", to_str(a) + " with " + to_str(b)};
}

namespace {

Value lower_if_str(Value v, bool case_sensitive) {
  if (!case_sensitive && v.t == Value::T::Str) return Value::str(case_of(v.s, Case::Lower));
  return v;
}

std::string attribute_arg(const std::vector<Value>& a, size_t i, const Kwargs& kw) {
  const Value v = arg_or(a, i, kw, "attribute", Value::none());
  return v.t == Value::T::None ? "" : to_str(v);
}

// sorted(items, key=..., reverse=...): stable, and reverse keeps equal items in their order.
Value sort_filter(const Value& v, const std::vector<Value>& a, const Kwargs& kw, const FilterHooks& h) {
  const bool reverse = truthy(arg_or(a, 0, kw, "reverse", Value::boolean(false)));
  const bool case_sensitive = truthy(arg_or(a, 1, kw, "case_sensitive", Value::boolean(false)));
  const std::string attribute = attribute_arg(a, 2, kw);
  // jinja2's multi-attribute getter: "a,b" sorts by a, then b.
  std::vector<std::string> paths;
  for (size_t start = 0; start <= attribute.size();) {
    const size_t comma = std::min(attribute.find(',', start), attribute.size());
    paths.push_back(attribute.substr(start, comma - start));
    start = comma + 1;
  }
  std::vector<std::pair<Value, Value>> keyed;  // (key as a list of the attributes, item)
  for (const Value& x : h.items(v)) {
    ValueList key;
    for (const auto& p : paths) key.push_back(lower_if_str(attribute_of(x, p, h), case_sensitive));
    keyed.emplace_back(Value::array(std::move(key)), x);
  }
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& x, const auto& y) {
    return reverse ? python_compare(y.first, x.first) < 0 : python_compare(x.first, y.first) < 0;
  });
  ValueList out;
  for (auto& [k, x] : keyed) out.push_back(std::move(x));
  return Value::array(std::move(out));
}

Value unique_filter(const Value& v, const std::vector<Value>& a, const Kwargs& kw, const FilterHooks& h) {
  const bool case_sensitive = truthy(arg_or(a, 0, kw, "case_sensitive", Value::boolean(false)));
  const std::string attribute = attribute_arg(a, 1, kw);
  ValueList seen, out;
  for (const Value& x : h.items(v)) {
    const Value key = lower_if_str(attribute_of(x, attribute, h), case_sensitive);
    if (!hashable(key)) throw Refused{"unique: an unhashable value", to_str(key)};
    if (std::none_of(seen.begin(), seen.end(), [&](const Value& s) { return same_key(s, key); })) {
      seen.push_back(key);
      out.push_back(x);
    }
  }
  return Value::generator(std::move(out));
}

// min() and max(): the first of the smallest or largest keys; undefined for no items.
Value min_max_filter(const Value& v, const std::vector<Value>& a, const Kwargs& kw, const FilterHooks& h, bool max) {
  const bool case_sensitive = truthy(arg_or(a, 0, kw, "case_sensitive", Value::boolean(false)));
  const std::string attribute = attribute_arg(a, 1, kw);
  const ValueList items = h.items(v);
  if (items.empty()) return Value::undefined_because("No aggregated item, sequence was empty.");
  size_t best = 0;
  Value best_key = lower_if_str(attribute_of(items[0], attribute, h), case_sensitive);
  for (size_t i = 1; i < items.size(); ++i) {
    Value key = lower_if_str(attribute_of(items[i], attribute, h), case_sensitive);
    const int c = python_compare(key, best_key);
    if (max ? c > 0 : c < 0) best = i, best_key = std::move(key);
  }
  return items[best];
}

Value sum_filter(const Value& v, const std::vector<Value>& a, const Kwargs& kw, const FilterHooks& h) {
  const std::string attribute = attribute_arg(a, 0, kw);
  Value total = arg_or(a, 1, kw, "start", Value::integer(0));
  for (const Value& x : h.items(v)) {
    const Value y = attribute_of(x, attribute, h);
    if (total.t == Value::T::Array && y.t == Value::T::Array) {
      ValueList joined = *total.a;
      joined.insert(joined.end(), y.a->begin(), y.a->end());
      total = Value::array(std::move(joined));
    } else if (total.is_number() && y.is_number()) {
      if (total.t != Value::T::Float && y.t != Value::T::Float) {
        const std::optional<int64_t> s =
            python_int_op("+", total.t == Value::T::Bool ? total.b : total.i, y.t == Value::T::Bool ? y.b : y.i);
        if (!s) throw Refused{"integer arithmetic past 64 bits", "sum"};
        total = Value::integer(*s);
      } else {
        total = Value::number(total.as_double() + y.as_double());
      }
    } else {
      throw Refused{"sum: unsupported operand types", to_str(total) + " + " + to_str(y)};
    }
  }
  return total;
}

// select() and reject(): the items that pass the named test (with its arguments), or that are
// truthy without one; nothing for a falsy value, as jinja2 iterates only a truthy one.
Value select_filter(const Value& v, const std::vector<Value>& a, const FilterHooks& h, bool keep) {
  if (!truthy(v)) return Value::generator({});
  ValueList out;
  const std::vector<Value> test_args = a.size() > 1 ? std::vector<Value>(a.begin() + 1, a.end()) : std::vector<Value>{};
  for (const Value& x : h.items(v)) {
    const bool pass = a.empty() ? truthy(x) : h.test(to_str(a[0]), x, test_args);
    if (pass == keep) out.push_back(x);
  }
  return Value::generator(std::move(out));
}

Value batch_filter(const Value& v, const std::vector<Value>& a, const Kwargs& kw, const FilterHooks& h) {
  const Value count = arg_or(a, 0, kw, "linecount", Value::none());
  if (count.t != Value::T::Int || count.i <= 0)
    throw Refused{"batch: linecount must be a positive integer", to_str(count)};
  const Value fill = arg_or(a, 1, kw, "fill_with", Value::none());
  const auto n = static_cast<size_t>(count.i);
  ValueList out, row;
  for (const Value& x : h.items(v)) {
    if (row.size() == n) out.push_back(Value::array(std::move(row))), row.clear();
    row.push_back(x);
  }
  if (!row.empty()) {
    if (fill.t != Value::T::None && row.size() < n) {
      if (n > kMaxItems) throw Refused{"a list or dict too long", "batch"};
      row.resize(n, fill);
    }
    out.push_back(Value::array(std::move(row)));
  }
  return Value::generator(std::move(out));
}

// Python's str.splitlines(): the line breaks it knows, a \r\n as one.
std::vector<std::string> split_lines(const std::string& s) {
  static const char* kBreaks[] = {"\r\n", "\n",   "\r",       "\x0b",         "\x0c",        "\x1c",
                                  "\x1d", "\x1e", "\xc2\x85", "\xe2\x80\xa8", "\xe2\x80\xa9"};
  std::vector<std::string> lines;
  size_t start = 0, i = 0;
  while (i < s.size()) {
    size_t len = 0;
    for (const char* b : kBreaks)
      if (s.compare(i, std::strlen(b), b) == 0) {
        len = std::strlen(b);
        break;
      }
    if (len == 0) {
      ++i;
      continue;
    }
    lines.push_back(s.substr(start, i - start));
    i += len;
    start = i;
  }
  if (start < s.size()) lines.push_back(s.substr(start));
  return lines;
}

Value indent_filter(const Value& v, const std::vector<Value>& a, const Kwargs& kw) {
  const Value width = arg_or(a, 0, kw, "width", Value::integer(4));
  const bool first = truthy(arg_or(a, 1, kw, "first", Value::boolean(false)));
  const bool blank = truthy(arg_or(a, 2, kw, "blank", Value::boolean(false)));
  std::string indention;
  if (width.t == Value::T::Str) {
    indention = width.s;
  } else {
    if (width.t != Value::T::Int) throw Refused{"indent: width must be an integer or a string", to_str(width)};
    if (width.i > 4096) throw Refused{"indent: width too large", std::to_string(width.i)};
    indention.assign(static_cast<size_t>(std::max<int64_t>(0, width.i)), ' ');
  }
  if (v.t != Value::T::Str) throw Refused{"indent: needs a string", to_str(v)};  // Python: str += int raises
  const std::vector<std::string> lines = split_lines(v.s + "\n");                // jinja2's quirk, for splitlines
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) out += '\n';
    if (i > 0 && (blank || !lines[i].empty())) out += indention;
    out += lines[i];
    if (out.size() > kMaxTextBytes) throw Refused{"indent: the result is too long", "more than 64 MiB"};
  }
  return Value::str(first ? indention + out : out);
}

// round(value, precision, method): Python's round() for "common" (half to even, on the double's
// exact value: what glibc's printf rounds), else math.ceil or math.floor of value * 10^precision,
// over 10^precision, which is always a float.
Value round_filter(const Value& v, const std::vector<Value>& a, const Kwargs& kw) {
  const Value precision = arg_or(a, 0, kw, "precision", Value::integer(0));
  const std::string method = to_str(arg_or(a, 1, kw, "method", Value::str("common")));
  if (method != "common" && method != "ceil" && method != "floor")
    throw Refused{"round: method must be common, ceil or floor", method};
  if (!v.is_number()) throw Refused{"round: not a number", to_str(v)};
  if (precision.t != Value::T::Int || precision.i < 0 || precision.i > 300)
    throw Refused{"round: precision must be an integer from 0 to 300", to_str(precision)};
  const int p = static_cast<int>(precision.i);
  if (method == "common") {
    if (v.t != Value::T::Float) return Value::integer(v.t == Value::T::Bool ? v.b : v.i);  // round(int, n) is the int
    if (!std::isfinite(v.f)) return v;
    std::vector<char> buf(static_cast<size_t>(p) + 320);
    std::snprintf(buf.data(), buf.size(), "%.*f", p, v.f);
    return Value::number(std::strtod(buf.data(), nullptr));
  }
  const double scale = std::pow(10.0, p);
  const double r = method == "ceil" ? std::ceil(v.as_double() * scale) : std::floor(v.as_double() * scale);
  return Value::number(r / scale);
}

// str.center(width): the padding split as CPython splits it (the odd space left when both the
// padding and the width are odd).
Value center_filter(const Value& v, const std::vector<Value>& a, const Kwargs& kw) {
  const std::string s = to_str(v);
  const Value width = arg_or(a, 0, kw, "width", Value::integer(80));
  if (width.t != Value::T::Int || width.i > 4096)
    throw Refused{"center: width must be an integer up to 4096", to_str(width)};
  const size_t chars = utf8_chars(s);
  if (width.i <= static_cast<int64_t>(chars)) return Value::str(s);
  const int64_t margin = width.i - static_cast<int64_t>(chars);
  const int64_t left = margin / 2 + (margin & width.i & 1);
  return Value::str(std::string(static_cast<size_t>(left), ' ') + s +
                    std::string(static_cast<size_t>(margin - left), ' '));
}

// truncate(length=255, killwords=False, end='...', leeway=5): whole words unless killwords.
Value truncate_filter(const Value& v, const std::vector<Value>& a, const Kwargs& kw) {
  if (v.t != Value::T::Str) throw Refused{"object of type '" + python_type_name(v) + "' has no len()", to_str(v)};
  const Value length = arg_or(a, 0, kw, "length", Value::integer(255));
  const bool killwords = truthy(arg_or(a, 1, kw, "killwords", Value::boolean(false)));
  const std::string end = to_str(arg_or(a, 2, kw, "end", Value::str("...")));
  const Value leeway = arg_or(a, 3, kw, "leeway", Value::integer(5));
  if (length.t != Value::T::Int || leeway.t != Value::T::Int)
    throw Refused{"truncate: length and leeway must be integers", to_str(length) + ", " + to_str(leeway)};
  const auto end_chars = static_cast<int64_t>(utf8_chars(end));
  if (length.i < end_chars)
    throw Refused{"expected length >= " + std::to_string(end_chars) + ", got " + std::to_string(length.i), "truncate"};
  if (leeway.i < 0) throw Refused{"expected leeway >= 0, got " + std::to_string(leeway.i), "truncate"};
  if (static_cast<int64_t>(utf8_chars(v.s)) <= length.i + leeway.i) return v;
  std::string kept(first_chars(v.s, static_cast<size_t>(length.i - end_chars)));
  if (!killwords) {  // str.rsplit(" ", 1)[0]: up to the last space, if any
    const size_t space = kept.rfind(' ');
    if (space != std::string::npos) kept.resize(space);
  }
  return Value::str(kept + end);
}

// len(re.findall(r"\w+", s)): runs of letters, numbers and _.
Value wordcount_filter(const Value& v) {
  const std::string s = to_str(v);
  int64_t words = 0;
  bool in_word = false;
  for (size_t i = 0; i < s.size();) {
    bool valid = true;
    const bool word = is_python_word(next_code_point(s, i, valid)) && valid;
    words += word && !in_word;
    in_word = word;
  }
  return Value::integer(words);
}

}  // namespace

Value attribute_of(const Value& item, const std::string& path, const FilterHooks& h) {
  if (path.empty()) return item;
  Value v = item;
  size_t start = 0;
  while (start <= path.size()) {
    const size_t dot = std::min(path.find('.', start), path.size());
    const std::string part = path.substr(start, dot - start);
    const bool digits = !part.empty() && part.find_first_not_of("0123456789") == std::string::npos && part.size() < 18;
    v = h.item(v, digits ? Value::integer(std::strtoll(part.c_str(), nullptr, 10)) : Value::str(part));
    start = dot + 1;
  }
  return v;
}

std::optional<Value> sequence_filter(const std::string& name, const Value& v, const std::vector<Value>& a,
                                     const Kwargs& kw, const FilterHooks& h) {
  if (name == "sort") return sort_filter(v, a, kw, h);
  if (name == "unique") return unique_filter(v, a, kw, h);
  if (name == "min" || name == "max") return min_max_filter(v, a, kw, h, name == "max");
  if (name == "sum") return sum_filter(v, a, kw, h);
  if (name == "select" || name == "reject") return select_filter(v, a, h, name == "select");
  if (name == "batch") return batch_filter(v, a, kw, h);
  if (name == "indent") return indent_filter(v, a, kw);
  if (name == "round") return round_filter(v, a, kw);
  if (name == "center") return center_filter(v, a, kw);
  if (name == "truncate") return truncate_filter(v, a, kw);
  if (name == "wordcount") return wordcount_filter(v);
  return std::nullopt;
}

}  // namespace s2d::jinja
