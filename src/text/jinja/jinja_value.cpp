// Jinja values as Python sees them: truthiness, equality, str(), and json.dumps for tojson.
#include <cmath>
#include <cstdio>

#include "jinja_internal.h"

namespace s2d::jinja {

const Value* Value::find(const std::string& key) const {
  if (t != T::Object) return nullptr;
  for (const auto& [k, v] : *o)
    if (k == key) return &v;
  return nullptr;
}

bool truthy(const Value& v) {
  switch (v.t) {
    case Value::T::Undefined:
    case Value::T::None: return false;
    case Value::T::Bool: return v.b;
    case Value::T::Int: return v.i != 0;
    case Value::T::Float: return v.f != 0;
    case Value::T::Str: return !v.s.empty();
    case Value::T::Array: return !v.a->empty();
    case Value::T::Object: return !v.o->empty();
    case Value::T::Function: return true;
  }
  return false;
}

bool equal(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) return a.as_double() == b.as_double();
  if (a.t != b.t) return false;
  switch (a.t) {
    case Value::T::Undefined:
    case Value::T::None: return true;
    case Value::T::Str: return a.s == b.s;
    case Value::T::Array:
      if (a.a->size() != b.a->size()) return false;
      for (size_t i = 0; i < a.a->size(); ++i)
        if (!equal((*a.a)[i], (*b.a)[i])) return false;
      return true;
    case Value::T::Object:
      if (a.o->size() != b.o->size()) return false;
      for (const auto& [k, v] : *a.o) {
        const Value* w = b.find(k);
        if (w == nullptr || !equal(v, *w)) return false;
      }
      return true;
    case Value::T::Function: return a.fn == b.fn;
    default: return false;
  }
}

namespace {

// Python's repr(float): the shortest text that reads back the same, with ".0" for integers.
std::string float_repr(double f) {
  if (std::isnan(f)) return "nan";
  if (std::isinf(f)) return f > 0 ? "inf" : "-inf";
  char buf[32];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, f);
    if (std::strtod(buf, nullptr) == f) break;
  }
  std::string s = buf;
  if (s.find_first_of(".eninf") == std::string::npos) s += ".0";
  return s;
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

std::string repr(const Value& v) {
  if (v.t == Value::T::Str) return py_quote(v.s);
  return to_str(v);
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

std::string to_str(const Value& v) {
  switch (v.t) {
    case Value::T::Undefined: return "";
    case Value::T::None: return "None";
    case Value::T::Bool: return v.b ? "True" : "False";
    case Value::T::Int: return std::to_string(v.i);
    case Value::T::Float: return float_repr(v.f);
    case Value::T::Str: return v.s;
    case Value::T::Array: {
      std::string out = "[";
      for (size_t i = 0; i < v.a->size(); ++i) out += (i ? ", " : "") + repr((*v.a)[i]);
      return out + "]";
    }
    case Value::T::Object: {
      std::string out = "{";
      bool first = true;
      for (const auto& [k, x] : *v.o) {
        out += (first ? "" : ", ") + py_quote(k) + ": " + repr(x);
        first = false;
      }
      return out + "}";
    }
    case Value::T::Function: return "<function>";
  }
  return "";
}

std::string to_json(const Value& v, int indent, int level) {
  const std::string nl = indent >= 0 ? "\n" + std::string(static_cast<size_t>(indent * (level + 1)), ' ') : "";
  const std::string close_nl = indent >= 0 ? "\n" + std::string(static_cast<size_t>(indent * level), ' ') : "";
  const std::string sep = indent >= 0 ? "," : ", ";
  switch (v.t) {
    case Value::T::Undefined:
    case Value::T::None: return "null";
    case Value::T::Bool: return v.b ? "true" : "false";
    case Value::T::Int: return std::to_string(v.i);
    case Value::T::Float: {
      if (std::isnan(v.f)) return "NaN";
      if (std::isinf(v.f)) return v.f > 0 ? "Infinity" : "-Infinity";
      return float_repr(v.f);
    }
    case Value::T::Str: {
      std::string out;
      json_string(v.s, out);
      return out;
    }
    case Value::T::Array: {
      if (v.a->empty()) return "[]";
      std::string out = "[";
      for (size_t i = 0; i < v.a->size(); ++i) out += (i ? sep : "") + nl + to_json((*v.a)[i], indent, level + 1);
      return out + close_nl + "]";
    }
    case Value::T::Object: {
      if (v.o->empty()) return "{}";
      std::string out = "{";
      bool first = true;
      for (const auto& [k, x] : *v.o) {
        out += (first ? "" : sep) + nl;
        json_string(k, out);
        out += ": " + to_json(x, indent, level + 1);
        first = false;
      }
      return out + close_nl + "}";
    }
    case Value::T::Function: return "null";
  }
  return "null";
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
      for (auto it = j.begin(); it != j.end(); ++it) o.emplace_back(it.key(), from_json(*it));
      return Value::object(std::move(o));
    }
    default: return Value::none();
  }
}

}  // namespace s2d::jinja
