// Rendering a parsed template: scopes, loops, macros, and the filters, tests and globals that
// chat templates call (transformers' tojson, raise_exception and strftime_now); the str and dict
// methods are in jinja_methods.cpp.
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <map>
#include <string_view>

#include "../hf_parts.h"
#include "jinja_internal.h"
#include "s2d/util/error.h"
#include "s2d/util/json.h"

namespace s2d::jinja {

namespace {

using K = Template::Node::K;

// The time strftime_now formats (Llama-3.x's "Today Date"): now in local time, as transformers
// renders it, or SOURCE_DATE_EPOCH in UTC where set (the reproducible-builds convention), so
// that a run resumed on another day, or a test, renders the same prompts.
std::tm template_clock() {
  std::tm tm{};
  if (const char* env = std::getenv("SOURCE_DATE_EPOCH"); env != nullptr && *env != '\0') {
    char* end = nullptr;
    errno = 0;
    const long long epoch = std::strtoll(env, &end, 10);
    const std::time_t t = static_cast<std::time_t>(epoch);
    if (*end != '\0' || errno != 0 || epoch < 0 || gmtime_r(&t, &tm) == nullptr)
      throw_input("bad environment variable",
                  {.field = "SOURCE_DATE_EPOCH", .expected = "seconds since 1970-01-01 UTC", .found = env});
    return tm;
  }
  const std::time_t now = std::time(nullptr);
  localtime_r(&now, &tm);
  return tm;
}

struct LoopControl {
  enum class What { None, Break, Continue } what = What::None;
};

class Renderer {
 public:
  Renderer(const std::string& where, std::chrono::milliseconds time_limit)
      : where_(where), time_limit_(time_limit), deadline_(std::chrono::steady_clock::now() + time_limit) {}

  std::string run(const NodeP& root, const nlohmann::ordered_json& ctx) {
    scopes_.emplace_back();
    install_globals();
    try {
      for (auto it = ctx.begin(); it != ctx.end(); ++it) scopes_.back()[it.key()] = from_json(*it);
    } catch (const Refused& r) {
      fail(0, "the template's context: " + r.what, r.found);
    }
    std::string out;
    LoopControl lc;
    try {
      render(*root, out, lc);
    } catch (const Refused& r) {
      fail(line_, r.what, r.found);
    }
    return out;
  }

 private:
  using Scope = std::map<std::string, Value>;

  [[noreturn]] void fail(int line, const std::string& what, const std::string& found = "") const {
    fail_at(where_, line, what, found);
  }

  // Every node and expression is a step (70-200 ns each on a 2-core VM); every 4,096th reads the
  // clock. No single step runs long: values, loops and comparisons are bounded.
  void tick() {
    if ((++steps_ & 4095) == 0 && std::chrono::steady_clock::now() > deadline_)
      fail(line_, "the template runs too long",
           "more than " + std::to_string(time_limit_.count()) + " ms (" + std::to_string(steps_) + " steps)");
  }

  Value lookup(const std::string& name) const {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
      const auto f = it->find(name);
      if (f != it->end()) return f->second;
    }
    return Value::undefined(name);
  }

  void render(const Template::Node& n, std::string& out, LoopControl& lc) {
    line_ = n.line;
    tick();
    switch (n.k) {
      case K::Body:
        for (const auto& c : n.bodies) {
          render(*c, out, lc);
          if (lc.what != LoopControl::What::None) return;
        }
        return;
      case K::Text: out += n.text; break;
      case K::Output: out += to_str(eval(*n.exprs[0])); break;
      default: break;
    }
    if (out.size() > kMaxTextBytes) fail(n.line, "the rendered text is too long", "more than 64 MiB");
    switch (n.k) {
      case K::If:
        for (size_t i = 0; i < n.exprs.size(); ++i)
          if (truthy(eval(*n.exprs[i]))) return render(*n.bodies[i], out, lc);
        if (n.has_else) render(*n.bodies.back(), out, lc);
        return;
      case K::For: return render_for(n, out);
      case K::Set: return assign(n, eval(*n.exprs[0]));
      case K::SetBlock: {
        std::string captured;
        LoopControl inner;
        render(*n.bodies[0], captured, inner);
        return assign(n, Value::str(captured));
      }
      case K::FilterBlock: {
        std::string captured;
        render(*n.bodies[0], captured, lc);
        out += to_str(apply_named_filter(n.text, Value::str(captured), n.line));
        return;
      }
      case K::With: {  // the values are the outer scope's, then bound in a scope of the body's own
        std::vector<Value> values;
        for (const auto& x : n.exprs) values.push_back(eval(*x));
        if (scopes_.size() > kMaxScopes) fail(n.line, "blocks nested too deeply");
        scopes_.emplace_back();
        for (size_t i = 0; i < values.size(); ++i) scopes_.back()[n.targets[i]] = std::move(values[i]);
        render(*n.bodies[0], out, lc);
        scopes_.pop_back();
        return;
      }
      case K::Macro: return define_macro(n);
      case K::Break: lc.what = LoopControl::What::Break; return;
      case K::Continue: lc.what = LoopControl::What::Continue; return;
      default: return;
    }
  }

  void assign(const Template::Node& n, Value v) {
    if (n.attr.empty()) {
      scopes_.back()[n.text] = std::move(v);
      return;
    }
    Value ns = lookup(n.text);
    if (!ns.is_namespace) fail(n.line, "can only set attributes of a namespace()", n.text);
    if (v.holds_namespace) fail(n.line, "a namespace's attribute cannot hold a namespace", n.text + "." + n.attr);
    for (auto& [k, x] : *ns.o)
      if (k.t == Value::T::Str && k.s == n.attr) {
        x = std::move(v);
        return;
      }
    ns.o->emplace_back(Value::str(n.attr), std::move(v));
  }

  std::vector<Value> items_of(const Value& v, int line) {
    if (v.t == Value::T::Array) return *v.a;
    if (v.t == Value::T::Object) {
      std::vector<Value> keys;
      for (const auto& [k, x] : *v.o) keys.push_back(k);
      return keys;
    }
    if (v.t == Value::T::Str) {
      if (utf8_chars(v.s) > kMaxItems)
        throw Refused{"a string too long to go through a character at a time",
                      "more than " + std::to_string(kMaxItems) + " characters"};
      std::vector<Value> chars;
      for (size_t i = 0; i < v.s.size();) {
        const size_t n = hf::utf8_len(v.s, i);
        chars.push_back(Value::str(v.s.substr(i, n)));
        i += n;
      }
      return chars;
    }
    if (v.t == Value::T::Undefined || v.t == Value::T::None) {
      if (v.t == Value::T::None) fail(line, "'NoneType' object is not iterable");
      return {};
    }
    fail(line, "not iterable", to_str(v));
  }

  void render_for(const Template::Node& n, std::string& out) {
    if (scopes_.size() > kMaxScopes) fail(n.line, "loops nested too deeply");
    std::vector<Value> items = items_of(eval(*n.exprs[0]), n.line);
    if (n.exprs.size() > 1) {  // {% for x in xs if cond %}: filter first, so loop.* counts the kept ones
      std::vector<Value> kept;
      for (auto& it : items) {
        scopes_.emplace_back();
        bind_targets(n, it);
        if (truthy(eval(*n.exprs[1]))) kept.push_back(it);
        scopes_.pop_back();
      }
      items = std::move(kept);
    }
    if (items.empty()) {
      if (n.has_else) {
        LoopControl lc;
        render(*n.bodies[1], out, lc);
      }
      return;
    }
    const auto len = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < len; ++i) {
      if (++iterations_ > kMaxIterations)
        fail(n.line, "the template loops too long", "more than 10 million iterations");
      scopes_.emplace_back();
      bind_targets(n, items[static_cast<size_t>(i)]);
      scopes_.back()["loop"] = Value::object(
          dict_of({{"index", Value::integer(i + 1)},
                   {"index0", Value::integer(i)},
                   {"first", Value::boolean(i == 0)},
                   {"last", Value::boolean(i == len - 1)},
                   {"length", Value::integer(len)},
                   {"revindex", Value::integer(len - i)},
                   {"revindex0", Value::integer(len - i - 1)},
                   {"previtem", i > 0 ? items[static_cast<size_t>(i - 1)] : Value::undefined("previtem")},
                   {"nextitem", i + 1 < len ? items[static_cast<size_t>(i + 1)] : Value::undefined("nextitem")}}));
      LoopControl lc;
      render(*n.bodies[0], out, lc);
      // Jinja scoping: what a loop body sets does not outlive the iteration (namespaces do).
      scopes_.pop_back();
      if (lc.what == LoopControl::What::Break) break;
    }
  }

  void bind_targets(const Template::Node& n, const Value& item) {
    if (n.targets.size() == 1) {
      scopes_.back()[n.targets[0]] = item;
      return;
    }
    std::vector<Value> parts = item.t == Value::T::Array ? *item.a : std::vector<Value>{};
    if (parts.size() != n.targets.size())
      fail(n.line, "cannot unpack into " + std::to_string(n.targets.size()) + " loop variables", to_str(item));
    for (size_t k = 0; k < parts.size(); ++k) scopes_.back()[n.targets[k]] = parts[k];
  }

  void define_macro(const Template::Node& n) {
    const Template::Node* node = &n;
    std::vector<Value> defaults;
    for (const auto& d : n.exprs) defaults.push_back(d ? eval(*d) : Value::undefined(""));
    scopes_.back()[n.text] = Value::function([this, node, defaults](std::vector<Value>& args, Kwargs& kwargs) {
      if (scopes_.size() > kMaxScopes) fail(node->line, "macro calls nested too deeply", node->text + "()");
      scopes_.emplace_back();
      for (size_t k = 0; k < node->targets.size(); ++k) {
        Value v = k < args.size() ? args[k] : defaults[k];
        for (auto& [name, x] : kwargs)
          if (name == node->targets[k]) v = x;
        scopes_.back()[node->targets[k]] = v;
      }
      std::string out;
      LoopControl lc;
      render(*node->bodies[0], out, lc);
      scopes_.pop_back();
      return Value::str(out);
    });
  }

  // --- expressions --------------------------------------------------------------------------------

  Value eval(const Expr& e) {
    line_ = e.line;
    tick();
    switch (e.k) {
      case Expr::K::Literal: return e.lit;
      case Expr::K::Var: return lookup(e.name);
      case Expr::K::Attr: return attr(eval(*e.kids[0]), e.name, e.line);
      case Expr::K::Item: return item(eval(*e.kids[0]), eval(*e.kids[1]), e.line);
      case Expr::K::Slice: return slice(eval(*e.kids[0]), e.kids[1], e.kids[2], e.kids[3], e.line);
      case Expr::K::Call: return call(e);
      case Expr::K::Filter: return filter(e);
      case Expr::K::Test: {
        const bool r = test(e);
        return Value::boolean(e.negated ? !r : r);
      }
      case Expr::K::Not: return Value::boolean(!truthy(eval(*e.kids[0])));
      case Expr::K::Neg: {
        const Value v = eval(*e.kids[0]);
        if (v.t == Value::T::Int) return integer_op(e.line, "-", 0, v.i);
        if (v.is_number()) return Value::number(-v.as_double());
        fail(e.line, "bad operand for unary -", to_str(v));
      }
      case Expr::K::And: {
        Value l = eval(*e.kids[0]);
        return truthy(l) ? eval(*e.kids[1]) : l;
      }
      case Expr::K::Or: {
        Value l = eval(*e.kids[0]);
        return truthy(l) ? l : eval(*e.kids[1]);
      }
      case Expr::K::Cond:
        if (truthy(eval(*e.kids[1]))) return eval(*e.kids[0]);
        return e.kids.size() > 2 ? eval(*e.kids[2]) : Value::undefined("");
      case Expr::K::List:
      case Expr::K::Tuple: {
        ValueList a;
        for (const auto& k : e.kids) a.push_back(eval(*k));
        return e.k == Expr::K::Tuple ? Value::tuple(std::move(a)) : Value::array(std::move(a));
      }
      case Expr::K::Dict: {
        ValueDict o;
        for (size_t k = 0; k + 1 < e.kids.size(); k += 2) {
          Value key = eval(*e.kids[k]);
          if (!hashable(key)) fail(e.line, "a dict key must be a string, number, boolean or none", to_str(key));
          Value value = eval(*e.kids[k + 1]);
          // A repeated key keeps its first place and takes the last value, as in Python.
          const auto same = std::find_if(o.begin(), o.end(), [&](const auto& kv) { return same_key(kv.first, key); });
          if (same != o.end())
            same->second = std::move(value);
          else
            o.emplace_back(std::move(key), std::move(value));
        }
        return Value::object(std::move(o));
      }
      case Expr::K::Binary: return binary(e);
    }
    fail(e.line, "unsupported expression");
  }

  Value attr(const Value& v, const std::string& name, int line) {
    if (v.t == Value::T::Undefined) fail(line, undefined_message(v), "." + name);
    // transformers renders in jinja2's ImmutableSandboxedEnvironment, which refuses the methods that
    // change a list or a dict (a namespace's attributes change through set).
    static const std::string kListMutators[] = {"append", "extend", "insert", "pop",
                                                "remove", "clear",  "sort",   "reverse"};
    static const std::string kDictMutators[] = {"update", "pop", "popitem", "setdefault", "clear"};
    const auto mutates = [&](const auto& names) {
      return std::find(std::begin(names), std::end(names), name) != std::end(names);
    };
    if ((v.t == Value::T::Array && !v.is_generator && mutates(kListMutators)) ||
        (v.t == Value::T::Object && !v.is_namespace && mutates(kDictMutators)))
      fail(line, "access to attribute '" + name + "' of '" + python_type_name(v) + "' object is unsafe.");
    if (v.t == Value::T::Object) {
      if (const Value* x = v.find(name)) return *x;
      if (!v.is_namespace) {
        if (auto m = bound_method(v, name); m.defined()) return m;
      }
      return Value::undefined(name);
    }
    if (auto m = bound_method(v, name); m.defined()) return m;
    return Value::undefined(name);
  }

  static int64_t norm_index(int64_t i, size_t n) { return i < 0 ? i + static_cast<int64_t>(n) : i; }

  Value item(const Value& v, const Value& key, int line) {
    if (v.t == Value::T::Undefined) fail(line, undefined_message(v), "[" + to_str(key) + "]");
    if (v.t == Value::T::Object) {
      if (const Value* x = v.find(key)) return *x;
      return Value::undefined(to_str(key));
    }
    if (v.is_generator) fail(line, "'generator' object is not subscriptable", "[" + to_str(key) + "]");
    if ((v.t == Value::T::Array || v.t == Value::T::Str) && key.t == Value::T::Int) {
      const auto items = v.t == Value::T::Array ? *v.a : items_of(v, line);
      const int64_t i = norm_index(key.i, items.size());
      if (i < 0 || i >= static_cast<int64_t>(items.size())) return Value::undefined("[" + std::to_string(key.i) + "]");
      return items[static_cast<size_t>(i)];
    }
    if (key.t == Value::T::Str) return attr(v, key.s, line);
    return Value::undefined(to_str(key));
  }

  Value slice(const Value& v, const ExprP& b, const ExprP& e, const ExprP& s, int line) {
    if (v.is_generator) fail(line, "'generator' object is not subscriptable", "[:]");
    const int64_t step = s ? eval(*s).i : 1;
    if (step == 0) fail(line, "slice step cannot be zero");
    const std::vector<Value> items = items_of(v, line);
    const auto n = static_cast<int64_t>(items.size());
    auto clamp = [&](const ExprP& x, int64_t dflt) {
      if (!x) return dflt;
      const Value xv = eval(*x);
      if (xv.t == Value::T::None) return dflt;
      int64_t i = xv.i < 0 ? xv.i + n : xv.i;
      return step > 0 ? std::clamp<int64_t>(i, 0, n) : std::clamp<int64_t>(i, -1, n - 1);
    };
    const int64_t lo = clamp(b, step > 0 ? 0 : n - 1), hi = clamp(e, step > 0 ? n : -1);
    ValueList out;
    for (int64_t i = lo; step > 0 ? i < hi : i > hi;) {
      out.push_back(items[static_cast<size_t>(i)]);
      if (__builtin_add_overflow(i, step, &i)) break;  // past int64, so past the ends too
    }
    if (v.t == Value::T::Str) {
      std::string s2;
      for (const auto& c : out) s2 += c.s;
      return Value::str(s2);
    }
    return v.is_tuple ? Value::tuple(std::move(out)) : Value::array(std::move(out));
  }

  void args_of(const Expr& e, size_t from, std::vector<Value>& args, Kwargs& kwargs) {
    for (size_t k = from; k < e.kids.size(); ++k) args.push_back(eval(*e.kids[k]));
    for (const auto& [name, x] : e.kwargs) kwargs.emplace_back(name, eval(*x));
  }

  Value call(const Expr& e) {
    const Value f = eval(*e.kids[0]);
    if (f.t != Value::T::Function) {
      const std::string name =
          e.kids[0]->k == Expr::K::Var || e.kids[0]->k == Expr::K::Attr ? e.kids[0]->name : "expression";
      fail(e.line, f.defined() ? "not callable" : "unknown function", name + "()");
    }
    std::vector<Value> args;
    Kwargs kwargs;
    args_of(e, 1, args, kwargs);
    return (*f.fn)(args, kwargs);
  }

  Value filter(const Expr& e) {
    const std::string& f = e.name;
    Value v = eval(*e.kids[0]);
    std::vector<Value> a;
    Kwargs kw;
    args_of(e, 1, a, kw);
    if (f == "trim") return Value::str(strip_chars(to_str(v), a.empty() ? std::string_view() : a[0].s, true, true));
    if (f == "length" || f == "count") {  // Python's len()
      if (v.t == Value::T::Str) return Value::integer(static_cast<int64_t>(utf8_chars(v.s)));
      if ((v.t == Value::T::Array && !v.is_generator) || v.t == Value::T::Object)
        return Value::integer(static_cast<int64_t>(v.t == Value::T::Array ? v.a->size() : v.o->size()));
      if (v.t == Value::T::Undefined) return Value::integer(0);  // jinja2's Undefined has length 0
      fail(e.line, "object of type '" + python_type_name(v) + "' has no len()");
    }
    if (f == "tojson") {
      const Value ind = arg_or(a, 0, kw, "indent", Value::none());
      return Value::str(to_json(v, ind.t == Value::T::Int ? static_cast<int>(ind.i) : -1));
    }
    if (f == "default" || f == "d") {
      const bool boolean = truthy(arg_or(a, 1, kw, "boolean", Value::boolean(false)));
      if (!v.defined() || (boolean && !truthy(v))) return arg_or(a, 0, kw, "default_value", Value::str(""));
      return v;
    }
    if (f == "upper") return Value::str(case_of(to_str(v), Case::Upper));
    if (f == "lower") return Value::str(case_of(to_str(v), Case::Lower));
    if (f == "capitalize") return Value::str(case_of(to_str(v), Case::Capitalize));
    if (f == "title") return Value::str(case_of(to_str(v), Case::JinjaTitle));
    if (f == "string") return Value::str(to_str(v));
    if (f == "e" || f == "escape") return html_escape(v);
    if (f == "forceescape") return html_escape(Value::str(to_str(v)));  // markup too
    if (f == "attr") {  // getattr alone: a dict's keys are not its attributes, a namespace's are
      if (a.empty()) fail(e.line, "attr needs an attribute name");
      const std::string name = to_str(a[0]);
      if (v.is_namespace) {
        const Value* x = v.find(name);
        return x ? *x : Value::undefined(name);
      }
      return bound_method(v, name);
    }
    if (f == "safe") {
      Value r = v.t == Value::T::Str ? v : Value::str(to_str(v));
      r.is_markup = true;
      return r;
    }
    if (f == "format") {
      if (!a.empty() && !kw.empty()) fail(e.line, "format: positional and keyword arguments together");
      return Value::str(percent_format(to_str(v), a, kw));
    }
    if (f == "int") return int_filter(v, a, kw, e.line);
    if (f == "float") {  // jinja2's do_float: float(v), or the default where Python raises
      const Value fallback = arg_or(a, 0, kw, "default", Value::number(0.0));
      if (v.t == Value::T::Str) {
        const std::optional<double> d = python_float_of_string(v.s);
        return d ? Value::number(*d) : fallback;
      }
      return v.is_number() ? Value::number(v.as_double()) : fallback;
    }
    if (f == "abs")
      return v.t == Value::T::Int ? (v.i < 0 ? integer_op(e.line, "-", 0, v.i) : v)
                                  : Value::number(std::fabs(v.as_double()));
    if (f == "join") {
      const std::string sep = a.empty() ? "" : to_str(a[0]);
      const Value* attribute = kwarg(kw, "attribute");
      std::string out;
      bool first = true;
      for (const auto& x : items_of(v, e.line)) {
        out += (first ? "" : sep) + to_str(attribute ? attr(x, to_str(*attribute), e.line) : x);
        if (out.size() > kMaxTextBytes) fail(e.line, "join: the result is too long", "more than 64 MiB");
        first = false;
      }
      return Value::str(out);
    }
    if (f == "replace") {
      if (a.size() < 2) fail(e.line, "replace needs two arguments");
      return Value::str(replace_all(to_str(v), to_str(a[0]), to_str(a[1]), a.size() > 2 ? a[2].i : -1));
    }
    if (f == "first" || f == "last") {
      if (f == "last" && v.is_generator) fail(e.line, "'generator' object is not reversible");
      const auto items = items_of(v, e.line);
      if (items.empty()) return Value::undefined_because("No " + f + " item, sequence was empty.");
      return f == "first" ? items.front() : items.back();
    }
    if (f == "list") return Value::array(items_of(v, e.line));
    if (f == "reverse") {
      auto items = items_of(v, e.line);
      std::reverse(items.begin(), items.end());
      if (v.t == Value::T::Str) {
        std::string s;
        for (const auto& c : items) s += c.s;
        return Value::str(s);
      }
      return Value::array(std::move(items));
    }
    if (f == "items")
      return bound_method(v, "items").defined() ? (*bound_method(v, "items").fn)(a, kw) : Value::array();
    // jinja2's select/reject/map iterate only a truthy value: none gives an empty list.
    if ((f == "selectattr" || f == "rejectattr" || f == "map") && !truthy(v)) return Value::generator({});
    if (f == "dictsort") return dictsort(v, e.line);
    if (f == "selectattr" || f == "rejectattr") {
      if (a.empty()) fail(e.line, f + " needs an attribute name");
      const bool select = f == "selectattr";
      ValueList out;
      for (const auto& x : items_of(v, e.line)) {
        const Value at = attr(x, to_str(a[0]), e.line);
        const bool ok =
            a.size() < 2 ? truthy(at) : run_test(to_str(a[1]), at, std::vector<Value>(a.begin() + 2, a.end()), e.line);
        if (ok == select) out.push_back(x);
      }
      return Value::generator(std::move(out));
    }
    const FilterHooks hooks{[&](const Value& x) { return items_of(x, e.line); },
                            [&](const Value& x, const Value& key) { return item(x, key, e.line); },
                            [&](const std::string& t, const Value& x, const std::vector<Value>& args) {
                              return run_test(t, x, args, e.line);
                            }};
    if (f == "map") {
      ValueList out;
      const Value* attribute = kwarg(kw, "attribute");
      const Value* fallback = kwarg(kw, "default");
      for (const auto& x : items_of(v, e.line)) {
        if (attribute) {
          Value y = attribute_of(x, to_str(*attribute), hooks);
          out.push_back(fallback && !y.defined() ? *fallback : std::move(y));
        } else if (!a.empty()) {
          out.push_back(apply_named_filter(to_str(a[0]), x, e.line));
        } else {
          out.push_back(x);
        }
      }
      return Value::generator(std::move(out));
    }
    if (std::optional<Value> r = sequence_filter(f, v, a, kw, hooks)) return *r;
    fail(e.line, "unsupported filter", "|" + f);
  }

  // dict | dictsort: [key, value] pairs ordered by key, strings compared case-insensitively
  // (jinja2's default: case_sensitive=False, by="key").
  // jinja2's do_int: int(v), or int(v, base) for a string; failing that int(float(v)); failing
  // that the default. A value past 64 bits, which Python would keep as a big int, is an error.
  Value int_filter(const Value& v, const std::vector<Value>& a, const Kwargs& kw, int line) {
    const Value fallback = arg_or(a, 0, kw, "default", Value::integer(0));
    if (v.t == Value::T::Int || v.t == Value::T::Bool) return Value::integer(v.t == Value::T::Int ? v.i : v.b);
    double d = 0;
    if (v.t == Value::T::Str) {
      const Value base = arg_or(a, 1, kw, "base", Value::integer(10));
      if (base.t == Value::T::Int)
        if (const std::optional<int64_t> i = python_int_of_string(v.s, base.i)) return Value::integer(*i);
      const std::optional<double> f = python_float_of_string(v.s);
      if (!f || !std::isfinite(*f)) return fallback;  // int(inf) raises OverflowError, which the fallback catches
      d = *f;
    } else if (v.t == Value::T::Float) {
      if (std::isnan(v.f)) return fallback;  // int(nan) raises ValueError; int(inf) fails below, as in jinja2
      d = v.f;
    } else {
      return fallback;  // None, lists, dicts: TypeError
    }
    // int64's range, as doubles: [-2^63, 2^63).
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
      fail(line, "int: the number is past 64 bits", to_str(v));
    return Value::integer(static_cast<int64_t>(d));
  }

  Value dictsort(const Value& v, int line) {
    if (v.t != Value::T::Object) fail(line, "dictsort needs a mapping", to_str(v));
    ValueDict pairs = *v.o;
    // jinja2 sorts by the key, strings lower-cased; Python cannot order a string and a number.
    std::stable_sort(pairs.begin(), pairs.end(), [&](const auto& x, const auto& y) {
      const Value &a = x.first, &b = y.first;
      if (a.t == Value::T::Str && b.t == Value::T::Str) return case_of(a.s, Case::Lower) < case_of(b.s, Case::Lower);
      if (a.t == Value::T::Int && b.t == Value::T::Int) return a.i < b.i;
      if (a.is_number() && b.is_number()) return a.as_double() < b.as_double();
      fail(line, "dictsort: keys that cannot be ordered", to_str(a) + " and " + to_str(b));
    });
    ValueList out;
    for (auto& [k, x] : pairs) out.push_back(Value::tuple({k, x}));
    return Value::array(std::move(out));
  }

  Value apply_named_filter(const std::string& name, const Value& x, int line) {
    Expr e;
    e.k = Expr::K::Filter;
    e.name = name;
    e.line = line;
    auto lit = std::make_shared<Expr>();
    lit->lit = x;
    lit->line = line;  // eval() records it as the line being evaluated
    e.kids = {lit};
    return filter(e);
  }

  bool test(const Expr& e) {
    std::vector<Value> a;
    Kwargs kw;
    args_of(e, 1, a, kw);
    return run_test(e.name, eval(*e.kids[0]), a, e.line);
  }

  bool run_test(const std::string& t, const Value& v, const std::vector<Value>& a, int line) {
    if (t == "defined") return v.defined();
    if (t == "undefined") return !v.defined();
    if (t == "none") return v.t == Value::T::None;
    if (t == "string") return v.t == Value::T::Str;
    if (t == "mapping") return v.t == Value::T::Object;
    if (t == "sequence" || t == "iterable")
      return v.t == Value::T::Array || v.t == Value::T::Str || v.t == Value::T::Object;
    if (t == "number") return v.t == Value::T::Int || v.t == Value::T::Float;
    if (t == "integer") return v.t == Value::T::Int;
    if (t == "float") return v.t == Value::T::Float;
    if (t == "boolean") return v.t == Value::T::Bool;
    if (t == "true") return v.t == Value::T::Bool && v.b;
    if (t == "false") return v.t == Value::T::Bool && !v.b;
    if (t == "callable") return v.t == Value::T::Function;
    if (t == "odd" || t == "even") return v.t == Value::T::Int && (v.i % 2 != 0) == (t == "odd");
    if (t == "divisibleby") return !a.empty() && a[0].i != 0 && v.i % a[0].i == 0;
    if (t == "equalto" || t == "eq" || t == "==" || t == "sameas") return !a.empty() && equal(v, a[0]);
    if (t == "ne" || t == "!=") return !a.empty() && !equal(v, a[0]);
    if (t == "in") return !a.empty() && contains(a[0], v, line);
    static const std::pair<const char*, const char*> kOrderTests[] = {
        {"lt", "<"},  {"lessthan", "<"}, {"le", "<="}, {"gt", ">"}, {"greaterthan", ">"},
        {"ge", ">="}, {"<", "<"},        {"<=", "<="}, {">", ">"},  {">=", ">="}};
    for (const auto& [name, op] : kOrderTests)
      if (t == name) {
        if (a.empty()) fail(line, "the test needs a value to compare with", "is " + t);
        return ordered(op, v, a[0], line);
      }
    // str.islower() / isupper(): a cased letter, and none of the other case (ASCII letters).
    if (t == "lower" || t == "upper") {
      if (v.t != Value::T::Str) fail(line, "the test needs a string", "is " + t + ": " + to_str(v));
      const std::string other = case_of(v.s, t == "lower" ? Case::Upper : Case::Lower),
                        same = case_of(v.s, t == "lower" ? Case::Lower : Case::Upper);
      return v.s == same && v.s != other;
    }
    if (t == "escaped") return false;  // no value here is markup
    fail(line, "unsupported test", "is " + t);
  }

  // l op r for op in < > <= >=, as Python orders values; every one is false beside a NaN.
  bool ordered(const std::string& op, const Value& l, const Value& r, int line) const {
    if ((l.t == Value::T::Float && std::isnan(l.f)) || (r.t == Value::T::Float && std::isnan(r.f))) return false;
    int c = 0;
    try {
      c = python_compare(l, r);
    } catch (const Refused&) {
      fail(line, "cannot compare", to_str(l) + " " + op + " " + to_str(r));
    }
    return op == "<" ? c < 0 : op == ">" ? c > 0 : op == "<=" ? c <= 0 : c >= 0;
  }

  bool contains(const Value& container, const Value& x, int line) {
    if (container.t == Value::T::Str) return container.s.find(to_str(x)) != std::string::npos;
    if (container.t == Value::T::Object) return container.find(x) != nullptr;
    if (container.t == Value::T::Array) {
      for (const auto& y : *container.a)
        if (equal(x, y)) return true;
      return false;
    }
    if (container.t == Value::T::None) fail(line, "argument of type 'NoneType' is not iterable", "in");
    return false;  // jinja2: nothing is in an undefined (it iterates as empty)
  }

  Value binary(const Expr& e) {
    const std::string& op = e.name;
    const Value l = eval(*e.kids[0]), r = eval(*e.kids[1]);
    if (op == "==") return Value::boolean(equal(l, r));
    if (op == "!=") return Value::boolean(!equal(l, r));
    if (op == "in") return Value::boolean(contains(r, l, e.line));
    if (op == "not in") return Value::boolean(!contains(r, l, e.line));
    if (op == "~") return Value::str(to_str(l) + to_str(r));
    if (op == "<" || op == ">" || op == "<=" || op == ">=") return Value::boolean(ordered(op, l, r, e.line));
    if (op == "+") {
      if (l.t == Value::T::Str && r.t == Value::T::Str) {
        if (!l.is_markup && !r.is_markup) return Value::str(l.s + r.s);
        Value m = Value::str(html_escape(l).s + html_escape(r).s);  // Markup + str escapes the str
        m.is_markup = true;
        return m;
      }
      if (l.t == Value::T::Array && r.t == Value::T::Array && !l.is_generator && !r.is_generator) {
        ValueList out = *l.a;
        out.insert(out.end(), r.a->begin(), r.a->end());
        return Value::array(std::move(out));
      }
    }
    if (op == "*" && l.t == Value::T::Str && r.t == Value::T::Int) {
      if (r.i > 0 && l.s.size() * static_cast<size_t>(std::min<int64_t>(r.i, kMaxTextBytes)) > kMaxTextBytes)
        fail(e.line, "the rendered text is too long", "more than 64 MiB");
      if (l.s.empty() || r.i <= 0) return Value::str("");  // no bound on r.i's loop otherwise
      std::string out;
      out.reserve(l.s.size() * static_cast<size_t>(r.i));
      for (int64_t k = 0; k < r.i; ++k) out += l.s;
      return Value::str(std::move(out));
    }
    // jinja2's Undefined refuses arithmetic with its own message, which templates' users see.
    for (const Value* u : {&l, &r})
      if (!u->defined()) fail(e.line, undefined_message(*u), op);
    if (!l.is_number() || !r.is_number()) {  // Python's TypeError, in its words
      const std::string lt = python_type_name(l), rt = python_type_name(r);
      const std::string what = op == "+" && (lt == "str" || lt == "list" || lt == "tuple")
                                   ? "can only concatenate " + lt + " (not \"" + rt + "\") to " + lt
                                   : "unsupported operand type(s) for " + op + ": '" + lt + "' and '" + rt + "'";
      fail(e.line, what, printable_excerpt(to_str(l), 40) + ", " + printable_excerpt(to_str(r), 40));
    }
    const bool ints = l.t != Value::T::Float && r.t != Value::T::Float;
    const double x = l.as_double(), y = r.as_double();
    const int64_t xi = l.t == Value::T::Bool ? l.b : l.i, yi = r.t == Value::T::Bool ? r.b : r.i;
    if ((op == "/" || op == "//" || op == "%") && y == 0) fail(e.line, "division by zero");
    if (ints && (op == "+" || op == "-" || op == "*" || op == "//" || op == "%" || (op == "**" && yi >= 0)))
      return integer_op(e.line, op, xi, yi);
    if (op == "+") return Value::number(x + y);
    if (op == "-") return Value::number(x - y);
    if (op == "*") return Value::number(x * y);
    if (op == "/") return Value::number(x / y);
    if (op == "//") return Value::number(std::floor(x / y));
    if (op == "%") return Value::number(x - y * std::floor(x / y));
    if (op == "**") return Value::number(std::pow(x, y));
    fail(e.line, "unsupported operator", op);
  }

  // Python's int arithmetic, refused past 64 bits, where Python's ints would go on growing.
  Value integer_op(int line, const std::string& op, int64_t x, int64_t y) const {
    if (const std::optional<int64_t> r = python_int_op(op, x, y)) return Value::integer(*r);
    fail(line, "integer arithmetic past 64 bits",
         op == "-" && x == 0 ? "-(" + std::to_string(y) + ")" : std::to_string(x) + " " + op + " " + std::to_string(y));
  }

  void install_globals() {
    Scope& g = scopes_.back();
    const std::string where = where_;
    g["raise_exception"] = Value::function([where](std::vector<Value>& a, Kwargs&) -> Value {
      throw_input("the chat template refused the conversation: " + (a.empty() ? std::string() : to_str(a[0])),
                  {.file = where});
    });
    g["namespace"] =
        Value::function([](std::vector<Value>&, Kwargs& kw) { return Value::namespace_object(dict_of(kw)); });
    g["range"] = Value::function([](std::vector<Value>& a, Kwargs&) {
      int64_t lo = 0, hi = 0, step = 1;
      if (a.size() == 1) hi = a[0].i;
      if (a.size() >= 2) lo = a[0].i, hi = a[1].i;
      if (a.size() >= 3) step = a[2].i == 0 ? 1 : a[2].i;
      ValueList out;
      for (int64_t i = lo; step > 0 ? i < hi : i > hi;) {
        if (out.size() == kMaxItems)
          throw Refused{"range() too long", "more than " + std::to_string(kMaxItems) + " items"};
        out.push_back(Value::integer(i));
        if (__builtin_add_overflow(i, step, &i)) break;  // past int64, so past hi too
      }
      return Value::array(std::move(out));
    });
    g["strftime_now"] = Value::function([](std::vector<Value>& a, Kwargs&) {
      const std::tm tm = template_clock();
      char buf[256];
      const size_t n = std::strftime(buf, sizeof buf, a.empty() ? "%Y-%m-%d" : a[0].s.c_str(), &tm);
      return Value::str(std::string(buf, n));
    });
    g["dict"] = Value::function([](std::vector<Value>&, Kwargs& kw) { return Value::object(dict_of(kw)); });
  }

  static constexpr size_t kMaxScopes = 256;  // macro recursion and nested loops: the stack's bound
  static constexpr int64_t kMaxIterations = 10'000'000;
  int64_t iterations_ = 0;
  uint64_t steps_ = 0;
  int line_ = 0;  // of the node or expression being evaluated: where a Refused came from
  const std::string& where_;
  std::chrono::milliseconds time_limit_;
  std::chrono::steady_clock::time_point deadline_;
  std::vector<Scope> scopes_;
};

}  // namespace

Template::Template(const std::string& source, const std::string& where)
    : root_(parse_template(source, where)), where_(where) {}

std::string Template::render(const nlohmann::ordered_json& context, std::chrono::milliseconds time_limit) const {
  MemoryBudget budget;  // outlives the renderer, whose values it counts
  Renderer r(where_, time_limit);
  return r.run(root_, context);
}

}  // namespace s2d::jinja
