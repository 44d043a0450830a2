// Jinja values as Python sees them: truthiness, equality, str(), and json.dumps for tojson.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <string>
#include <string_view>

#include "jinja_internal.h"

namespace s2d::jinja {

namespace {
thread_local MemoryBudget* current_budget = nullptr;
}  // namespace

MemoryBudget::MemoryBudget() : outer_(current_budget) { current_budget = this; }
MemoryBudget::~MemoryBudget() { current_budget = outer_; }

size_t MemoryBudget::charge(size_t bytes) {
  MemoryBudget* b = current_budget;
  if (b == nullptr) return 0;
  if (b->live_ + bytes > kMaxLiveBytes)
    throw Refused{"the template's values hold too much memory",
                  "more than " + std::to_string(kMaxLiveBytes >> 20) + " MiB at once"};
  b->live_ += bytes;
  return bytes;
}

void MemoryBudget::refund(size_t bytes) {
  if (current_budget != nullptr) current_budget->live_ -= std::min(bytes, current_budget->live_);
}

namespace {

// A list's or dict's storage, its slots charged to the render's budget until it is freed.
template <class Items>
std::shared_ptr<Items> charged_storage(Items items) {
  const size_t charged = MemoryBudget::charge(items.size() * sizeof(typename Items::value_type));
  return std::shared_ptr<Items>(new Items(std::move(items)), [charged](Items* p) {
    delete p;
    MemoryBudget::refund(charged);
  });
}

[[noreturn]] void refuse_size(const char* what, size_t limit, const char* unit) {
  throw Refused{what, "more than " + std::to_string(limit) + unit};
}

// A list's or dict's depth and whether it holds a namespace, from its items; Refused past the limits.
template <class Items, class ValueOf>
void take_measure(Value& v, const Items& items, ValueOf value_of) {
  if (items.size() > kMaxItems) refuse_size("a list or dict too long", kMaxItems, " items");
  for (const auto& item : items) {
    const Value& x = value_of(item);
    v.depth = std::max(v.depth, x.depth + 1);
    v.holds_namespace = v.holds_namespace || x.holds_namespace;
  }
  if (v.depth > kMaxNesting) refuse_size("lists and dicts nested too deeply", kMaxNesting, " levels");
}

}  // namespace

Value Value::str(std::string x) {
  if (x.size() > kMaxTextBytes) refuse_size("a string too long", kMaxTextBytes >> 20, " MiB");
  return {.t = T::Str, .s = std::move(x)};
}

Value Value::array(ValueList x) {
  Value v{.t = T::Array};
  take_measure(v, x, [](const Value& item) -> const Value& { return item; });
  v.a = charged_storage(std::move(x));
  return v;
}

Value Value::tuple(ValueList x) {
  Value v = array(std::move(x));
  v.is_tuple = true;
  return v;
}

Value Value::generator(ValueList x) {
  Value v = array(std::move(x));
  v.is_generator = true;
  return v;
}

Value Value::object(ValueDict x) {
  Value v{.t = T::Object};
  take_measure(v, x, [](const auto& kv) -> const Value& { return kv.second; });
  v.o = charged_storage(std::move(x));
  return v;
}

Value Value::namespace_object(ValueDict x) {
  Value v = object(std::move(x));
  if (v.holds_namespace) throw Refused{"a namespace's attribute cannot hold a namespace", "namespace(...)"};
  v.is_namespace = v.holds_namespace = true;
  return v;
}

const Value* Value::find(const std::string& key) const {
  if (t != T::Object) return nullptr;
  for (const auto& [k, v] : *o)
    if (k.t == T::Str && k.s == key) return &v;
  return nullptr;
}

const Value* Value::find(const Value& key) const {
  if (t != T::Object) return nullptr;
  for (const auto& [k, v] : *o)
    if (same_key(k, key)) return &v;
  return nullptr;
}

bool hashable(const Value& v) { return v.t == Value::T::Str || v.is_number() || v.t == Value::T::None; }

bool same_key(const Value& a, const Value& b) {
  if (a.t == Value::T::Str || b.t == Value::T::Str) return a.t == b.t && a.s == b.s;
  if (a.t == Value::T::Int && b.t == Value::T::Int) return a.i == b.i;  // exact past 2^53
  if (a.is_number() && b.is_number()) return a.as_double() == b.as_double();
  return a.t == Value::T::None && b.t == Value::T::None;
}

ValueDict dict_of(const Kwargs& kw) {
  ValueDict d;
  for (const auto& [k, v] : kw) d.emplace_back(Value::str(k), v);
  return d;
}

std::string python_type_name(const Value& v) {
  switch (v.t) {
    case Value::T::Undefined: return "Undefined";
    case Value::T::None: return "NoneType";
    case Value::T::Bool: return "bool";
    case Value::T::Int: return "int";
    case Value::T::Float: return "float";
    case Value::T::Str: return "str";
    case Value::T::Array: return v.is_generator ? "generator" : v.is_tuple ? "tuple" : "list";
    case Value::T::Object: return v.is_namespace ? "Namespace" : "dict";
    case Value::T::Function: return "function";
  }
  return "object";
}

std::string undefined_message(const Value& v) {
  return v.undefined_hint ? std::string(v.s) : "'" + v.s + "' is undefined";
}

bool truthy(const Value& v) {
  switch (v.t) {
    case Value::T::Undefined:
    case Value::T::None: return false;
    case Value::T::Bool: return v.b;
    case Value::T::Int: return v.i != 0;
    case Value::T::Float: return v.f != 0;
    case Value::T::Str: return !v.s.empty();
    case Value::T::Array: return v.is_generator || !v.a->empty();
    case Value::T::Object: return !v.o->empty();
    case Value::T::Function: return true;
  }
  return false;
}

namespace {

// `budget` counts the items compared: lists that share items can stand for far more items than
// they hold (each of [x, x]'s two items may be such a list again).
bool equal_within(const Value& a, const Value& b, int64_t& budget) {
  if (--budget < 0) throw Refused{"values too large to compare", "more than 10 million items"};
  if (a.is_number() && b.is_number()) return a.as_double() == b.as_double();
  if (a.t != b.t) return false;
  switch (a.t) {
    case Value::T::Undefined:
    case Value::T::None: return true;
    case Value::T::Str: return a.s == b.s;
    case Value::T::Array:
      if (a.a == b.a) return true;                         // the same list, as Python's `is` before ==
      if (a.is_generator || b.is_generator) return false;  // a generator equals only itself
      if (a.a->size() != b.a->size()) return false;
      for (size_t i = 0; i < a.a->size(); ++i)
        if (!equal_within((*a.a)[i], (*b.a)[i], budget)) return false;
      return true;
    case Value::T::Object:
      if (a.o == b.o) return true;
      if (a.o->size() != b.o->size()) return false;
      for (const auto& [k, v] : *a.o) {
        const Value* w = b.find(k);
        if (w == nullptr || !equal_within(v, *w, budget)) return false;
      }
      return true;
    case Value::T::Function: return a.fn == b.fn;
    default: return false;
  }
}

}  // namespace

bool equal(const Value& a, const Value& b) {
  int64_t budget = 10'000'000;
  return equal_within(a, b, budget);
}

namespace {

// Python's repr(float): the shortest digits that read back the same (to_chars gives them), in
// fixed notation while the decimal point falls within 16 places to the left of the digits' end or
// 4 to the right of a leading zero (1e-05, 0.0001, 1e+16, 1000000000000000.0), with ".0" for an
// integer, as Python's float_repr_style "short".
std::string float_repr(double f) {
  if (std::isnan(f)) return "nan";
  if (std::isinf(f)) return f > 0 ? "inf" : "-inf";
  char buf[32];
  const auto res = std::to_chars(buf, buf + sizeof buf, f, std::chars_format::scientific);
  const std::string sci(buf, res.ptr);  // "-1.2345e+03"
  const size_t e = sci.find('e');
  std::string sign, digits;
  for (const char c : sci.substr(0, e))
    if (c == '-')
      sign = "-";
    else if (c != '.')
      digits += c;
  const int decpt = std::stoi(sci.substr(e + 1)) + 1;  // the value is 0.DIGITS x 10^decpt
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) return sign + "0." + std::string(static_cast<size_t>(-decpt), '0') + digits;
    if (static_cast<size_t>(decpt) >= digits.size())
      return sign + digits + std::string(static_cast<size_t>(decpt) - digits.size(), '0') + ".0";
    return sign + digits.substr(0, static_cast<size_t>(decpt)) + "." + digits.substr(static_cast<size_t>(decpt));
  }
  const int exponent = decpt - 1;
  std::string out = sign + digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  const std::string mag = std::to_string(std::abs(exponent));
  return out + (exponent < 0 ? "e-" : "e+") + (mag.size() < 2 ? "0" : "") + mag;
}

std::string py_quote(const std::string& s) {
  const char q = s.find('\'') != std::string::npos && s.find('"') == std::string::npos ? '"' : '\'';
  std::string out(1, q);
  for (char c : s) {
    if (c == q || c == '\\') out += '\\';
    if (c == '\n')
      out += "\\n";
    else if (c == '\t')
      out += "\\t";
    else
      out += c;
  }
  return out + q;
}

void json_string(const std::string& s, std::string& out) {
  out += '"';
  for (unsigned char c : s) {
    const char letter = c == '\'' ? 0 : escape_letter(static_cast<char>(c));  // JSON leaves ' alone
    if (letter) {
      out += '\\';
      out += letter;
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);  // ensure_ascii=False: UTF-8 stays as it is
    }
  }
  out += '"';
}

}  // namespace

namespace {

// Past kMaxTextBytes, Refused: a list that holds the same list twice, again and again, prints
// at twice its length at every level.
void check_text(const std::string& out) {
  if (out.size() > kMaxTextBytes) refuse_size("a value too long as text", kMaxTextBytes >> 20, " MiB");
}

void append_str(const Value& v, std::string& out, bool quoted) {
  switch (v.t) {
    case Value::T::Undefined: break;
    case Value::T::None: out += "None"; break;
    case Value::T::Bool: out += v.b ? "True" : "False"; break;
    case Value::T::Int: out += std::to_string(v.i); break;
    case Value::T::Float: out += float_repr(v.f); break;
    case Value::T::Str: out += quoted ? py_quote(v.s) : std::string_view(v.s); break;
    case Value::T::Array:
      if (v.is_generator) {
        out += "<generator object>";  // Python adds the function's name and an address
        break;
      }
      out += v.is_tuple ? '(' : '[';
      for (size_t i = 0; i < v.a->size(); ++i) {
        if (i) out += ", ";
        append_str((*v.a)[i], out, true);  // repr() of the items
      }
      out += !v.is_tuple ? "]" : v.a->size() == 1 ? ",)" : ")";
      break;
    case Value::T::Object: {
      out += '{';
      bool first = true;
      for (const auto& [k, x] : *v.o) {
        out += first ? "" : ", ";
        append_str(k, out, true);  // repr() of the key
        out += ": ";
        append_str(x, out, true);
        first = false;
      }
      out += '}';
      break;
    }
    case Value::T::Function: out += "<function>"; break;
  }
  check_text(out);
}

// json.dumps writes a key that is not a string as the JSON text of its value: 512 as "512", True as
// "true", None as "null".
void append_json(const Value& v, int indent, int level, std::string& out);
std::string json_key(const Value& k) {
  if (k.t == Value::T::Str) return k.s;
  std::string out;
  append_json(k, -1, 0, out);
  return out;
}

void append_json(const Value& v, int indent, int level, std::string& out) {
  if (indent >= 0 && static_cast<size_t>(indent) * static_cast<size_t>(level + 1) > kMaxTextBytes)
    refuse_size("a value too long as text", kMaxTextBytes >> 20, " MiB");
  const std::string nl = indent >= 0 ? "\n" + std::string(static_cast<size_t>(indent * (level + 1)), ' ') : "";
  const std::string close_nl = indent >= 0 ? "\n" + std::string(static_cast<size_t>(indent * level), ' ') : "";
  const char* sep = indent >= 0 ? "," : ", ";
  switch (v.t) {
    case Value::T::Undefined:
    case Value::T::None:
    case Value::T::Function: out += "null"; break;
    case Value::T::Bool: out += v.b ? "true" : "false"; break;
    case Value::T::Int: out += std::to_string(v.i); break;
    case Value::T::Float:
      out += std::isnan(v.f) ? "NaN" : std::isinf(v.f) ? (v.f > 0 ? "Infinity" : "-Infinity") : float_repr(v.f);
      break;
    case Value::T::Str: json_string(v.s, out); break;
    case Value::T::Array:
      if (v.is_generator) throw Refused{"Object of type generator is not JSON serializable", "tojson"};
      if (v.a->empty()) {
        out += "[]";
        break;
      }
      out += '[';
      for (size_t i = 0; i < v.a->size(); ++i) {
        out += (i ? sep : "") + nl;
        append_json((*v.a)[i], indent, level + 1, out);
      }
      out += close_nl + "]";
      break;
    case Value::T::Object: {
      if (v.o->empty()) {
        out += "{}";
        break;
      }
      out += '{';
      bool first = true;
      for (const auto& [k, x] : *v.o) {
        out += (first ? "" : sep) + nl;
        json_string(json_key(k), out);
        out += ": ";
        append_json(x, indent, level + 1, out);
        first = false;
      }
      out += close_nl + "}";
      break;
    }
  }
  check_text(out);
}

}  // namespace

std::string python_repr(const Value& v) {
  std::string out;
  append_str(v, out, true);
  return out;
}

Value html_escape(const Value& v) {
  if (v.is_markup) return v;
  std::string out;
  for (const char c : v.t == Value::T::Str ? std::string(v.s) : to_str(v)) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '\'': out += "&#39;"; break;
      case '"': out += "&#34;"; break;
      default: out += c;
    }
  }
  Value r = Value::str(std::move(out));
  r.is_markup = true;
  return r;
}

std::string to_str(const Value& v) {
  std::string out;
  append_str(v, out, false);
  return out;
}

std::string to_json(const Value& v, int indent) {
  std::string out;
  append_json(v, indent, 0, out);
  return out;
}

Value from_json(const nlohmann::ordered_json& j) {
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null: return Value::none();
    case nlohmann::ordered_json::value_t::boolean: return Value::boolean(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer:
    case nlohmann::ordered_json::value_t::number_unsigned: return Value::integer(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_float: return Value::number(j.get<double>());
    case nlohmann::ordered_json::value_t::string: return Value::str(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      ValueList a;
      for (const auto& x : j) a.push_back(from_json(x));
      return Value::array(std::move(a));
    }
    case nlohmann::ordered_json::value_t::object: {
      ValueDict o;
      for (auto it = j.begin(); it != j.end(); ++it) o.emplace_back(Value::str(it.key()), from_json(*it));
      return Value::object(std::move(o));
    }
    default: return Value::none();
  }
}

}  // namespace s2d::jinja
