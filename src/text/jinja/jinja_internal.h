// The Jinja interpreter's parts (private to src/text/jinja): values, tokens and the syntax tree.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <iterator>
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
// unescape: the character "\<letter>" stands for; escape_letter: the letter that escapes `ch`.
// Both 0 when there is none.
inline char unescape(char letter) {
  for (const Escape& e : kEscapes)
    if (e.letter == letter) return e.ch;
  return 0;
}
inline char escape_letter(char ch) {
  const auto it = std::find_if(std::begin(kEscapes), std::end(kEscapes), [ch](const Escape& e) { return e.ch == ch; });
  return it == std::end(kEscapes) ? 0 : it->letter;
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

  // Value is an aggregate: each factory names the kind and the one member it sets.
  static Value none() { return {.t = T::None}; }
  static Value boolean(bool x) { return {.t = T::Bool, .b = x}; }
  static Value integer(int64_t x) { return {.t = T::Int, .i = x}; }
  static Value number(double x) { return {.t = T::Float, .f = x}; }
  static Value str(std::string x) { return {.t = T::Str, .s = std::move(x)}; }
  static Value array(ValueList x = {}) { return {.t = T::Array, .a = std::make_shared<ValueList>(std::move(x))}; }
  static Value object(ValueDict x = {}) { return {.t = T::Object, .o = std::make_shared<ValueDict>(std::move(x))}; }
  static Value function(ValueFn f) { return {.t = T::Function, .fn = std::make_shared<ValueFn>(std::move(f))}; }
  static Value undefined(std::string name) { return {.s = std::move(name)}; }

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
