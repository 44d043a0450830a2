// The Jinja interpreter's parts (private to src/text/jinja): values, tokens and the syntax tree.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "s2d/text/jinja.h"

namespace s2d::jinja {

// --- backslash escapes, shared by the lexer (Python string literals) and tojson (JSON) ----------

struct Escape {
  char letter, ch;  // "\n" stands for '\n'
};
inline constexpr Escape kEscapes[] = {{'n', '\n'}, {'t', '\t'},  {'r', '\r'}, {'b', '\b'},
                                      {'f', '\f'}, {'\\', '\\'}, {'"', '"'},  {'\'', '\''}};
// The character "\<letter>" stands for, or 0 when it is no escape.
inline char unescape(char letter) {
  for (const Escape& e : kEscapes)
    if (e.letter == letter) return e.ch;
  return 0;
}
// The letter that escapes `ch`, or 0 when it has none.
inline char escape_letter(char ch) {
  for (const Escape& e : kEscapes)
    if (e.ch == ch) return e.letter;
  return 0;
}

// --- values: Python's, as far as templates see them ---------------------------------------------

struct Value;
using ValueList = std::vector<Value>;
using ValueDict = std::vector<std::pair<std::string, Value>>;  // insertion-ordered, like a dict
using Kwargs = std::vector<std::pair<std::string, Value>>;
using ValueFn = std::function<Value(std::vector<Value>& args, Kwargs& kwargs)>;

struct Value {
  enum class T { Undefined, None, Bool, Int, Float, Str, Array, Object, Function };
  T t = T::Undefined;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;                 // Str; for Undefined, the name that was looked up
  std::shared_ptr<ValueList> a;  // shared, as Python's lists are
  std::shared_ptr<ValueDict> o;
  std::shared_ptr<ValueFn> fn;
  bool is_namespace = false;  // namespace(): the one object whose attributes `set` may assign

  static Value none() {
    Value v;
    v.t = T::None;
    return v;
  }
  static Value boolean(bool x) {
    Value v;
    v.t = T::Bool;
    v.b = x;
    return v;
  }
  static Value integer(int64_t x) {
    Value v;
    v.t = T::Int;
    v.i = x;
    return v;
  }
  static Value number(double x) {
    Value v;
    v.t = T::Float;
    v.f = x;
    return v;
  }
  static Value str(std::string x) {
    Value v;
    v.t = T::Str;
    v.s = std::move(x);
    return v;
  }
  static Value array(ValueList x = {}) {
    Value v;
    v.t = T::Array;
    v.a = std::make_shared<ValueList>(std::move(x));
    return v;
  }
  static Value object(ValueDict x = {}) {
    Value v;
    v.t = T::Object;
    v.o = std::make_shared<ValueDict>(std::move(x));
    return v;
  }
  static Value function(ValueFn f) {
    Value v;
    v.t = T::Function;
    v.fn = std::make_shared<ValueFn>(std::move(f));
    return v;
  }
  static Value undefined(std::string name) {
    Value v;
    v.s = std::move(name);
    return v;
  }

  bool defined() const { return t != T::Undefined; }
  bool is_number() const { return t == T::Int || t == T::Float || t == T::Bool; }
  double as_double() const { return t == T::Float ? f : static_cast<double>(t == T::Bool ? b : i); }
  const Value* find(const std::string& key) const;  // an object's key, or null
};

bool truthy(const Value& v);
bool equal(const Value& a, const Value& b);
std::string to_str(const Value& v);                              // str(v), as Python prints it
std::string to_json(const Value& v, int indent, int level = 0);  // json.dumps(v, ensure_ascii=False)
Value from_json(const nlohmann::ordered_json& j);

// --- tokens and tree ---------------------------------------------------------------------------

struct Expr;
using ExprP = std::shared_ptr<Expr>;

struct Expr {
  enum class K {
    Literal,
    Var,
    Attr,
    Item,
    Slice,
    Call,
    Filter,
    Test,
    Not,
    Neg,
    Binary,
    And,
    Or,
    Cond,
    List,
    Dict,
    Tuple
  };
  K k = K::Literal;
  int line = 0;
  Value lit;                                          // Literal
  std::string name;                                   // Var, Attr, Filter, Test; Binary: the operator
  std::vector<ExprP> kids;                            // operands / arguments ([0] is the subject)
  std::vector<std::pair<std::string, ExprP>> kwargs;  // Call, Filter, Test keyword arguments
  bool negated = false;                               // Test: "is not"
};

struct Template::Node {
  enum class K { Body, Text, Output, If, For, Set, SetBlock, FilterBlock, Macro, Break, Continue };
  K k = K::Body;
  int line = 0;
  std::string text;                  // Text; Set/SetBlock/Macro: the target name; FilterBlock: the filter
  std::string attr;                  // Set: "ns.attr" target's attribute
  std::vector<std::string> targets;  // For: loop variables; Macro: parameter names
  std::vector<ExprP> exprs;  // Output: [e]; If: conditions; For: [iterable, filter?]; Set: [value]; Macro: defaults
  std::vector<std::shared_ptr<const Node>>
      bodies;  // If: one per condition (+ else); For: [body, else?]; Body: children
  bool has_else = false;
};
using NodeP = std::shared_ptr<const Template::Node>;

// Source -> tree; InputError naming `where` and the line on a syntax error or unsupported tag.
NodeP parse_template(const std::string& source, const std::string& where);

}  // namespace s2d::jinja
