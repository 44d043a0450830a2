// The Jinja interpreter's parts (private to src/text/jinja): values, tokens and the syntax tree.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "s2d/text/jinja.h"

namespace s2d::jinja {

// --- backslash escapes, shared by the lexer (Python string literals) and tojson (JSON) ----------

struct Escape {
  char letter, ch;  // "\n" stands for '\n'
};
inline constexpr Escape kEscapes[] = {{'n', '\n'},  {'t', '\t'}, {'r', '\r'},  {'b', '\b'}, {'f', '\f'},
                                      {'\\', '\\'}, {'"', '"'},  {'\'', '\''}, {'a', '\a'}, {'v', '\v'}};
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

// --- limits: what a template (untrusted, as a checkpoint is) may make s2d hold ------------------

inline constexpr size_t kMaxTextBytes = size_t{64} << 20;  // a string, and the rendered text
inline constexpr size_t kMaxItems = 1'000'000;             // a list's or a dict's items
// Lists and dicts within each other. A namespace holds no namespace, so a value nests at most
// twice this deep, however its namespaces change after it is made: the bound that keeps
// str(), tojson, == and the values' destructors, all recursive, off the end of the stack.
inline constexpr int kMaxNesting = 512;

// Thrown where a template would pass a limit, or asks for what s2d does not do; the renderer
// turns it into an InputError naming the template's file and line.
struct Refused {
  std::string what, found;
};

// What the values of one render hold at once: strings' bytes and lists' and dicts' slots, at most
// kMaxLiveBytes. Values are copied where Python shares them (1,000 copies of a 60 MB string in a
// list would hold 60 GB), so the copies count. One budget per thread, for the render running on it.
inline constexpr size_t kMaxLiveBytes = size_t{1} << 30;
class MemoryBudget {
 public:
  MemoryBudget();  // the render on this thread counts against this budget until it is destroyed
  ~MemoryBudget();
  MemoryBudget(const MemoryBudget&) = delete;
  MemoryBudget& operator=(const MemoryBudget&) = delete;
  // Refused past kMaxLiveBytes; neither does anything outside a render (a template's literals).
  static size_t charge(size_t bytes);  // returns what was charged, for the refund: 0 outside
  static void refund(size_t bytes);

 private:
  size_t live_ = 0;
  MemoryBudget* outer_;
};

// A string value's text: a std::string whose copies are charged to the render's budget.
class Text : public std::string {
 public:
  Text() = default;
  Text(std::string s) : std::string(std::move(s)), charged_(MemoryBudget::charge(size())) {}  // NOLINT: implicit
  Text(const Text& o) : std::string(o), charged_(MemoryBudget::charge(size())) {}
  Text(Text&& o) noexcept : std::string(std::move(o)), charged_(std::exchange(o.charged_, 0)) {}
  Text& operator=(Text o) noexcept {
    swap(o);
    std::swap(charged_, o.charged_);
    return *this;
  }
  ~Text() { MemoryBudget::refund(charged_); }

 private:
  size_t charged_ = 0;
};

// --- values: Python's, as far as templates see them ---------------------------------------------

struct Value;
using ValueList = std::vector<Value>;
// Insertion-ordered, like a dict. Keys are what Python can hash and templates write: str, int,
// float, bool or None (Seed-OSS's template looks up {0: 0, 512: 128, ...} by number).
using ValueDict = std::vector<std::pair<Value, Value>>;
using Kwargs = std::vector<std::pair<std::string, Value>>;
using ValueFn = std::function<Value(std::vector<Value>& args, Kwargs& kwargs)>;

struct Value {
  enum class T { Undefined, None, Bool, Int, Float, Str, Array, Object, Function };
  T t = T::Undefined;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  Text s;                        // Str; for Undefined, the name that was looked up
  std::shared_ptr<ValueList> a;  // shared, as Python's lists are
  std::shared_ptr<ValueDict> o;
  std::shared_ptr<ValueFn> fn;
  bool is_namespace = false;     // namespace(): the one object whose attributes `set` may assign
  bool is_tuple = false;         // an Array that Python would hold as a tuple: printed (a, b)
  bool undefined_hint = false;   // an Undefined whose s is the whole error message, not a name
  bool is_markup = false;        // a Str that |safe or |escape made: escape leaves it as it is
  bool is_generator = false;     // an Array standing for a Python generator (generator())
  int depth = 0;                 // lists and dicts nested in it, as they were when it was made
  bool holds_namespace = false;  // it is a namespace or has one inside

  // Value is an aggregate: each factory names the kind and the one member it sets.
  static Value none() { return {.t = T::None}; }
  static Value boolean(bool x) { return {.t = T::Bool, .b = x}; }
  static Value integer(int64_t x) { return {.t = T::Int, .i = x}; }
  static Value number(double x) { return {.t = T::Float, .f = x}; }
  // These three throw Refused past kMaxTextBytes, kMaxItems or kMaxNesting.
  static Value str(std::string x);
  static Value array(ValueList x = {});
  static Value tuple(ValueList x);  // an array printed as a tuple: a literal (a, b), items(), dictsort
  // What jinja2's map, select, reject, selectattr, rejectattr, unique and batch return: a Python
  // generator, which is always true and has no len(), no index and no JSON (tojson refuses it).
  // It iterates as its items, any number of times (Python's would be used up after one pass).
  static Value generator(ValueList x);
  static Value object(ValueDict x = {});
  static Value namespace_object(ValueDict x);  // Refused where an attribute holds a namespace
  static Value function(ValueFn f) { return {.t = T::Function, .fn = std::make_shared<ValueFn>(std::move(f))}; }
  static Value undefined(std::string name) { return {.s = std::move(name)}; }
  // An undefined whose use is an error with this message (jinja2's hint: "No first item, ...").
  static Value undefined_because(std::string message) { return {.s = std::move(message), .undefined_hint = true}; }

  bool defined() const { return t != T::Undefined; }
  bool is_number() const { return t == T::Int || t == T::Float || t == T::Bool; }
  double as_double() const { return t == T::Float ? f : static_cast<double>(t == T::Bool ? b : i); }
  const Value* find(const std::string& key) const;  // an object's string key, or null
  const Value* find(const Value& key) const;        // an object's key as a dict finds it (1, 1.0, True alike)
};

// Python's dict keys: whether v may be one (str, int, float, bool, None), and whether two are one
// key (numbers by value, so 1, 1.0 and True are the same key).
bool hashable(const Value& v);
bool same_key(const Value& a, const Value& b);
// The entries of namespace(...) or dict(...), from their keyword arguments.
ValueDict dict_of(const Kwargs& kw);

// Python's name for v's type, as its errors say it: 'NoneType', 'int', 'list', ...
std::string python_type_name(const Value& v);
// repr(v), as Python writes it ('a', [1, 'b'], None).
std::string python_repr(const Value& v);
// markupsafe.escape(): & < > ' " as HTML entities, unless v is already markup.
Value html_escape(const Value& v);
// value % args, Python's printf-style formatting (jinja2's format filter): %s %r %d %i %u %f %F %e
// %E %g %G %x %X %o %c %%, with flags, width and precision, and %(name)s from `named`; Refused
// where Python raises (a missing or unused argument, %d of a string).
std::string percent_format(const std::string& fmt, const std::vector<Value>& args, const Kwargs& named);
// What using an undefined value says: "'x' is undefined", or its hint.
std::string undefined_message(const Value& v);
bool truthy(const Value& v);
bool equal(const Value& a, const Value& b);  // Refused past ten million items compared
// str(v), as Python prints it, and json.dumps(v, ensure_ascii=False); Refused past kMaxTextBytes.
std::string to_str(const Value& v);
std::string to_json(const Value& v, int indent);
Value from_json(const nlohmann::ordered_json& j);

// --- integers: Python's, within 64 bits ----------------------------------------------------------

// x op y for op in + - * // % **, as Python computes it on ints (// and % round toward negative
// infinity; y > 0 for **); nullopt where the result is past int64, where Python's would be a
// bigger int, and where // or % divides by zero.
std::optional<int64_t> python_int_op(const std::string& op, int64_t x, int64_t y);
// Python's int(s, base) (base 0 or 2-36; whitespace around, a sign, a 0x/0o/0b prefix, "_"
// between digits): nullopt where Python raises ValueError, Refused where the value passes 64 bits.
std::optional<int64_t> python_int_of_string(std::string_view s, int64_t base);
// Python's float(s), "inf" and "nan" included: nullopt where Python raises ValueError.
std::optional<double> python_float_of_string(std::string_view s);

// A call's keyword argument `name`, or null; its argument at position i, else that keyword, else
// `dflt` (a filter's args exclude the value it filters).
const Value* kwarg(const Kwargs& kw, const char* name);
Value arg_or(const std::vector<Value>& args, size_t i, const Kwargs& kw, const char* name, Value dflt);

// --- filters that chat templates use less often (jinja_filters.cpp) -----------------------------

// Python's ordering of two values (-1, 0, 1): numbers by value, strings by code point, lists
// lexicographically; Refused for values Python cannot order (a string and a number).
int python_compare(const Value& a, const Value& b);

// What those filters need of the renderer.
struct FilterHooks {
  std::function<ValueList(const Value&)> items;           // what a for loop goes through
  std::function<Value(const Value&, const Value&)> item;  // v[key], or v.key where v has no such item
  std::function<bool(const std::string& test, const Value&, const std::vector<Value>& args)> test;
};
// jinja2's attribute argument ("a.b.0": into item a, then b, then index 0), as map, sort and the
// others read it.
Value attribute_of(const Value& item, const std::string& path, const FilterHooks& hooks);
// jinja2's sort, unique, min, max, sum, select, reject, batch, indent, round, center, truncate and
// wordcount, applied
// to v with the filter's arguments; nullopt for any other name. Refused where Python would raise.
std::optional<Value> sequence_filter(const std::string& name, const Value& v, const std::vector<Value>& args,
                                     const Kwargs& kw, const FilterHooks& hooks);

// --- Python's str and dict methods, and the string helpers filters share (jinja_methods.cpp) ----

// s without the characters of `chars` (whitespace where empty) at its left and/or right end.
std::string strip_chars(const std::string& s, std::string_view chars, bool left, bool right);
// s with `from` replaced by `to`, the first `count` times (all where negative); Refused past
// kMaxTextBytes.
std::string replace_all(const std::string& s, const std::string& from, const std::string& to, int64_t count = -1);
// Python's str.lower(), upper(), capitalize() and title(), and jinja2's title filter (a capital
// after whitespace and - ( { [ <), over Unicode (jinja_case.cpp).
enum class Case { Lower, Upper, Capitalize, Title, JinjaTitle };
std::string case_of(std::string_view s, Case mode);
bool is_python_space(char32_t c);  // str.isspace() of one character
bool is_python_word(char32_t c);
// Python's len() of a text: its characters, by hf::utf8_len's rule (an invalid byte is one); and
// its first n characters.
size_t utf8_chars(std::string_view s);
std::string_view first_chars(std::string_view s, size_t n);  // what Python's \w matches: letters, numbers and _
// The code point of s at i, i moved past it; for a byte that starts no valid UTF-8 sequence, that
// byte, i moved by one and `valid` false.
char32_t next_code_point(std::string_view s, size_t& i, bool& valid);
void append_utf8(char32_t c, std::string& out);
// str.format for the forms templates use: {} and {N} positional, {name} keyword, {{ }};
// Refused for other fields and missing arguments.
std::string python_format(const std::string& fmt, const std::vector<Value>& a, const Kwargs& kw);
// v's method `name` (a string's strip, split, format, ...; a dict's items, keys, values, get),
// bound to v; undefined where v has none by that name.
Value bound_method(const Value& v, const std::string& name);

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
  enum class K { Body, Text, Output, If, For, Set, SetBlock, FilterBlock, Macro, Break, Continue, With };
  K k = K::Body;
  int line = 0;
  std::string text;                  // Text; Set/SetBlock/Macro: the target name; FilterBlock: the filter
  std::string attr;                  // Set: "ns.attr" target's attribute
  std::vector<std::string> targets;  // For: loop variables; Macro: parameter names; With: its names
  // Output: [e]; If: conditions; For: [iterable, filter?]; Set: [value]; Macro: defaults; With: values
  std::vector<ExprP> exprs;
  std::vector<std::shared_ptr<const Node>>
      bodies;  // If: one per condition (+ else); For: [body, else?]; Body: children
  bool has_else = false;
};
using NodeP = std::shared_ptr<const Template::Node>;

// An InputError naming the template `where`, its line, what went wrong and what was found, with
// the hint every template error gives.
[[noreturn]] void fail_at(const std::string& where, int line, const std::string& what, const std::string& found = "");

struct Tok {
  enum class K { Text, VarBegin, VarEnd, BlockBegin, BlockEnd, Name, Str, Int, Float, Op, Eof };
  K k;
  std::string v;
  int line;
};

// Source -> tokens, ending in Eof (jinja_lex.cpp); InputError on an unclosed tag or string.
std::vector<Tok> lex_template(const std::string& source, const std::string& where);

// Source -> tree; InputError naming `where` and the line on a syntax error or unsupported tag.
NodeP parse_template(const std::string& source, const std::string& where);

}  // namespace s2d::jinja
