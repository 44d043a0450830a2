// Jinja tokens -> tree (the tokens from jinja_lex.cpp). Operator precedence follows jinja2's
// parser.
#include <cstdlib>

#include "jinja_internal.h"

namespace s2d::jinja {

namespace {

class Parser {
 public:
  Parser(std::vector<Tok> toks, const std::string& where) : t_(std::move(toks)), where_(where) {}

  NodeP parse() {
    auto root = parse_body({});
    if (peek().k != Tok::K::Eof) fail_at(where_, peek().line, "unexpected end tag", peek().v);
    return root;
  }

 private:
  const Tok& peek(size_t k = 0) const { return t_[std::min(p_ + k, t_.size() - 1)]; }
  const Tok& next() { return t_[std::min(p_++, t_.size() - 1)]; }
  bool is_op(const char* op, size_t k = 0) const { return peek(k).k == Tok::K::Op && peek(k).v == op; }
  bool is_name(const char* n, size_t k = 0) const { return peek(k).k == Tok::K::Name && peek(k).v == n; }
  // Comma-separated items up to `close` (a trailing comma allowed), then `close`; `item` parses one.
  template <class Item>
  void parse_items(const char* close, const Item& item) {
    while (!is_op(close)) {
      item();
      if (!is_op(",")) break;
      ++p_;
    }
    expect_op(close);
  }
  void expect_op(const char* op) {
    if (!is_op(op))
      fail_at(where_, peek().line, std::string("expected '") + op + "'", peek().v.empty() ? "end of tag" : peek().v);
    ++p_;
  }
  std::string expect_name() {
    if (peek().k != Tok::K::Name) fail_at(where_, peek().line, "expected a name", peek().v);
    return next().v;
  }
  void expect_block_end() {
    if (peek().k != Tok::K::BlockEnd) fail_at(where_, peek().line, "expected the end of the tag", peek().v);
    ++p_;
  }

  // Nodes up to a block tag whose name is in `stop` (left unconsumed: its BlockBegin and name).
  NodeP parse_body(const std::vector<std::string>& stop) {
    auto body = std::make_shared<Template::Node>();
    body->k = Template::Node::K::Body;
    while (peek().k != Tok::K::Eof) {
      const Tok& t = peek();
      if (t.k == Tok::K::Text) {
        auto n = std::make_shared<Template::Node>();
        n->k = Template::Node::K::Text;
        n->text = next().v;
        body->bodies.push_back(n);
      } else if (t.k == Tok::K::VarBegin) {
        ++p_;
        auto n = std::make_shared<Template::Node>();
        n->k = Template::Node::K::Output;
        n->line = t.line;
        n->exprs.push_back(parse_expr());
        if (peek().k != Tok::K::VarEnd) fail_at(where_, peek().line, "expected '}}'", peek().v);
        ++p_;
        body->bodies.push_back(n);
      } else if (t.k == Tok::K::BlockBegin) {
        const std::string name = peek(1).k == Tok::K::Name ? peek(1).v : "";
        for (const auto& s : stop)
          if (name == s) return body;
        ++p_;
        body->bodies.push_back(parse_statement());
      } else {
        fail_at(where_, t.line, "unexpected token", t.v);
      }
    }
    if (!stop.empty()) fail_at(where_, peek().line, "missing {% " + stop.back() + " %}");
    return body;
  }

  std::string end_tag(const std::vector<std::string>& names) {  // consumes "{% name" and returns name
    ++p_;                                                       // BlockBegin
    const std::string n = expect_name();
    (void)names;
    return n;
  }

  NodeP parse_statement() {
    Depth d(*this);
    const int line = peek().line;
    const std::string kw = expect_name();
    auto n = std::make_shared<Template::Node>();
    n->line = line;
    if (kw == "if") {
      n->k = Template::Node::K::If;
      n->exprs.push_back(parse_expr());
      expect_block_end();
      for (;;) {
        n->bodies.push_back(parse_body({"elif", "else", "endif"}));
        const std::string tag = end_tag({});
        if (tag == "elif") {
          n->exprs.push_back(parse_expr());
          expect_block_end();
        } else if (tag == "else") {
          expect_block_end();
          n->bodies.push_back(parse_body({"endif"}));
          n->has_else = true;
          end_tag({});
          expect_block_end();
          break;
        } else {
          expect_block_end();
          break;
        }
      }
    } else if (kw == "for") {
      n->k = Template::Node::K::For;
      n->targets.push_back(expect_name());
      while (is_op(",")) {
        ++p_;
        n->targets.push_back(expect_name());
      }
      if (!is_name("in")) fail_at(where_, peek().line, "expected 'in'", peek().v);
      ++p_;
      n->exprs.push_back(parse_or_expr());  // no "if" here: a trailing if filters the loop
      if (is_name("if")) {
        ++p_;
        n->exprs.push_back(parse_expr());
      }
      if (is_name("recursive")) fail_at(where_, line, "unsupported construct", "for ... recursive");
      expect_block_end();
      n->bodies.push_back(parse_body({"else", "endfor"}));
      if (end_tag({}) == "else") {
        expect_block_end();
        n->bodies.push_back(parse_body({"endfor"}));
        n->has_else = true;
        end_tag({});
      }
      expect_block_end();
    } else if (kw == "set") {
      n->text = expect_name();
      if (is_op(".")) {
        ++p_;
        n->attr = expect_name();
      }
      if (is_op(",")) fail_at(where_, line, "unsupported construct", "set with several targets");
      if (is_op("=")) {
        ++p_;
        n->k = Template::Node::K::Set;
        n->exprs.push_back(parse_tuple_or_expr());
        expect_block_end();
      } else {
        n->k = Template::Node::K::SetBlock;
        expect_block_end();
        n->bodies.push_back(parse_body({"endset"}));
        end_tag({});
        expect_block_end();
      }
    } else if (kw == "macro") {
      n->k = Template::Node::K::Macro;
      n->text = expect_name();
      expect_op("(");
      while (!is_op(")")) {
        n->targets.push_back(expect_name());
        if (is_op("=")) {
          ++p_;
          n->exprs.push_back(parse_expr());
        } else {
          n->exprs.push_back(nullptr);
        }
        if (is_op(","))
          ++p_;
        else
          break;
      }
      expect_op(")");
      expect_block_end();
      n->bodies.push_back(parse_body({"endmacro"}));
      end_tag({});
      expect_block_end();
    } else if (kw == "filter") {  // {% filter trim %}...{% endfilter %}: the body through one filter
      n->k = Template::Node::K::FilterBlock;
      n->text = expect_name();
      if (is_op("(")) fail_at(where_, line, "unsupported construct", "{% filter " + n->text + "(...) %}");
      expect_block_end();
      n->bodies.push_back(parse_body({"endfilter"}));
      end_tag({});
      expect_block_end();
    } else if (kw == "with") {  // {% with a = 1, b = x %}...{% endwith %}: names for the body alone
      n->k = Template::Node::K::With;
      while (peek().k != Tok::K::BlockEnd) {
        n->targets.push_back(expect_name());
        expect_op("=");
        n->exprs.push_back(parse_expr());
        if (!is_op(",")) break;
        ++p_;
      }
      expect_block_end();
      n->bodies.push_back(parse_body({"endwith"}));
      end_tag({});
      expect_block_end();
    } else if (kw == "break" || kw == "continue") {
      n->k = kw == "break" ? Template::Node::K::Break : Template::Node::K::Continue;
      expect_block_end();
    } else if (kw == "generation") {  // transformers' assistant-mask tag: its body renders as is
      expect_block_end();
      NodeP body = parse_body({"endgeneration"});
      end_tag({});
      expect_block_end();
      return body;
    } else {
      fail_at(where_, line, "unsupported construct", "{% " + kw + " %}");
    }
    return n;
  }

  // --- expressions, loosest first -------------------------------------------------------------

  ExprP make(Expr::K k, int line) {
    auto e = std::make_shared<Expr>();
    e->k = k;
    e->line = line;
    return e;
  }

  ExprP parse_tuple_or_expr() {  // "a, b" at the top of a set is a tuple
    ExprP first = parse_expr();
    if (!is_op(",")) return first;
    auto t = make(Expr::K::Tuple, first->line);
    t->kids.push_back(first);
    while (is_op(",")) {
      ++p_;
      t->kids.push_back(parse_expr());
    }
    return t;
  }

  // Nesting of expressions and statements: deep enough for any real template, shallow enough that
  // the recursive descent cannot overflow the stack on "((((...".
  static constexpr int kMaxDepth = 200;
  struct Depth {
    Parser& p;
    explicit Depth(Parser& parser) : p(parser) {
      if (++p.depth_ > kMaxDepth)
        fail_at(p.where_, p.peek().line, "template nested too deeply", "more than 200 levels");
    }
    ~Depth() { --p.depth_; }
  };

  ExprP parse_expr() {
    Depth d(*this);
    ExprP e = parse_or_expr();
    while (is_name("if")) {  // a if cond else b
      ++p_;
      auto c = make(Expr::K::Cond, e->line);
      c->kids = {e, parse_or_expr()};
      if (is_name("else")) {
        ++p_;
        c->kids.push_back(parse_expr());
      }
      e = c;
    }
    return e;
  }

  // operand (word operand)*, left-associative: "or" over "and" over "not".
  template <class Operand>
  ExprP parse_chain(const char* word, Expr::K kind, Operand operand) {
    ExprP e = operand();
    while (is_name(word)) {
      ++p_;
      auto b = make(kind, e->line);
      b->kids = {e, operand()};
      e = b;
    }
    return e;
  }
  ExprP parse_or_expr() {
    return parse_chain("or", Expr::K::Or, [&] { return parse_and(); });
  }
  ExprP parse_and() {
    return parse_chain("and", Expr::K::And, [&] { return parse_not(); });
  }

  ExprP parse_not() {
    if (is_name("not")) {
      const int line = next().line;
      auto n = make(Expr::K::Not, line);
      n->kids = {parse_not()};
      return n;
    }
    return parse_compare();
  }

  ExprP parse_compare() {
    ExprP e = parse_math1();
    for (;;) {
      std::string op;
      if (peek().k == Tok::K::Op && (peek().v == "==" || peek().v == "!=" || peek().v == "<" || peek().v == ">" ||
                                     peek().v == "<=" || peek().v == ">=")) {
        op = next().v;
      } else if (is_name("in")) {
        ++p_;
        op = "in";
      } else if (is_name("not") && is_name("in", 1)) {
        p_ += 2;
        op = "not in";
      } else {
        return e;
      }
      auto b = make(Expr::K::Binary, e->line);
      b->name = op;
      b->kids = {e, parse_math1()};
      e = b;
    }
  }

  ExprP binary(ExprP l, const std::string& op, ExprP r) {
    auto b = make(Expr::K::Binary, l->line);
    b->name = op;
    b->kids = {std::move(l), std::move(r)};
    return b;
  }

  // operand (op operand)* for one precedence level of binary operators, left-associative.
  template <class Operand>
  ExprP parse_level(std::initializer_list<const char*> ops, Operand operand) {
    ExprP e = operand();
    for (;;) {
      const char* hit = nullptr;
      for (const char* op : ops)
        if (is_op(op)) hit = op;
      if (hit == nullptr) return e;
      ++p_;
      e = binary(e, hit, operand());
    }
  }
  ExprP parse_math1() {
    return parse_level({"+", "-"}, [&] { return parse_concat(); });
  }
  ExprP parse_concat() {
    return parse_level({"~"}, [&] { return parse_math2(); });
  }
  ExprP parse_math2() {
    return parse_level({"*", "/", "//", "%"}, [&] { return parse_pow(); });
  }
  ExprP parse_pow() {
    return parse_level({"**"}, [&] { return parse_unary(); });
  }

  ExprP parse_unary() {
    Depth d(*this);
    if (is_op("-")) {
      const int line = next().line;
      auto n = make(Expr::K::Neg, line);
      n->kids = {parse_unary()};
      return n;
    }
    if (is_op("+")) {
      ++p_;
      return parse_unary();
    }
    ExprP e = parse_postfix(parse_primary());
    return parse_filters(e);
  }

  void parse_args(Expr& call) {  // after "(": positional and keyword arguments, then ")"
    while (!is_op(")")) {
      if (peek().k == Tok::K::Name && is_op("=", 1)) {
        const std::string k = next().v;
        ++p_;
        call.kwargs.emplace_back(k, parse_expr());
      } else {
        call.kids.push_back(parse_expr());
      }
      if (is_op(","))
        ++p_;
      else
        break;
    }
    expect_op(")");
  }

  ExprP parse_postfix(ExprP e) {
    for (;;) {
      if (is_op(".")) {
        ++p_;
        if (peek().k == Tok::K::Int) {  // jinja2 reads foo.0 as foo[0]
          auto index = make(Expr::K::Literal, e->line);
          index->lit = Value::integer(python_int_of_string(next().v, 0).value());
          auto s = make(Expr::K::Item, e->line);
          s->kids = {e, index, nullptr, nullptr};
          e = s;
          continue;
        }
        auto a = make(Expr::K::Attr, e->line);
        a->name = expect_name();
        a->kids = {e};
        e = a;
      } else if (is_op("[")) {
        ++p_;
        ExprP idx[3];
        int colons = 0;
        while (!is_op("]")) {
          if (is_op(":")) {
            ++p_;
            if (++colons > 2) fail_at(where_, peek().line, "bad slice");
            continue;
          }
          idx[colons] = parse_expr();
        }
        expect_op("]");
        if (colons == 0 && !idx[0]) fail_at(where_, peek().line, "empty subscript", "[]");
        auto s = make(colons ? Expr::K::Slice : Expr::K::Item, e->line);
        s->kids = {e, idx[0], idx[1], idx[2]};
        e = s;
      } else if (is_op("(")) {
        ++p_;
        auto c = make(Expr::K::Call, e->line);
        c->kids = {e};
        parse_args(*c);
        e = c;
      } else {
        return e;
      }
    }
  }

  ExprP parse_filters(ExprP e) {
    for (;;) {
      if (is_op("|")) {
        ++p_;
        auto f = make(Expr::K::Filter, e->line);
        f->name = expect_name();
        f->kids = {e};
        if (is_op("(")) {
          ++p_;
          parse_args(*f);
        }
        e = f;
      } else if (is_name("is")) {
        ++p_;
        auto t = make(Expr::K::Test, e->line);
        if (is_name("not")) {
          ++p_;
          t->negated = true;
        }
        t->name = peek().k == Tok::K::Name ? next().v
                                           : (peek().k == Tok::K::Op && peek().v == "==" ? next().v : expect_name());
        t->kids = {e};
        if (is_op("(")) {
          ++p_;
          parse_args(*t);
        } else if (peek().k == Tok::K::Str || peek().k == Tok::K::Int || peek().k == Tok::K::Name) {
          if (!is_name("and") && !is_name("or") && !is_name("else") && !is_name("if"))
            t->kids.push_back(parse_primary());
        }
        e = t;
      } else {
        return e;
      }
    }
  }

  ExprP parse_primary() {
    const Tok& t = next();
    switch (t.k) {
      case Tok::K::Str: {
        auto e = make(Expr::K::Literal, t.line);
        std::string s = t.v;
        while (peek().k == Tok::K::Str) s += next().v;  // adjacent literals concatenate
        e->lit = Value::str(s);
        return e;
      }
      case Tok::K::Int: {
        auto e = make(Expr::K::Literal, t.line);
        e->lit = Value::integer(python_int_of_string(t.v, 0).value());  // the lexer read it so
        return e;
      }
      case Tok::K::Float: {
        auto e = make(Expr::K::Literal, t.line);
        e->lit = Value::number(std::strtod(t.v.c_str(), nullptr));  // inf when out of range, as Python
        return e;
      }
      case Tok::K::Name: {
        auto e = make(Expr::K::Literal, t.line);
        if (t.v == "true" || t.v == "True")
          e->lit = Value::boolean(true);
        else if (t.v == "false" || t.v == "False")
          e->lit = Value::boolean(false);
        else if (t.v == "none" || t.v == "None")
          e->lit = Value::none();
        else {
          e->k = Expr::K::Var;
          e->name = t.v;
        }
        return e;
      }
      case Tok::K::Op:
        if (t.v == "(") {
          if (is_op(")")) {
            ++p_;
            return make(Expr::K::Tuple, t.line);
          }
          ExprP inner = parse_expr();
          if (is_op(",")) {
            auto tup = make(Expr::K::Tuple, t.line);
            tup->kids.push_back(inner);
            while (is_op(",")) {
              ++p_;
              if (is_op(")")) break;
              tup->kids.push_back(parse_expr());
            }
            inner = tup;
          }
          expect_op(")");
          return inner;
        }
        if (t.v == "[") {
          auto l = make(Expr::K::List, t.line);
          parse_items("]", [&] { l->kids.push_back(parse_expr()); });
          return l;
        }
        if (t.v == "{") {  // kids: key, value, key, value, ...
          auto d = make(Expr::K::Dict, t.line);
          parse_items("}", [&] {
            d->kids.push_back(parse_expr());
            expect_op(":");
            d->kids.push_back(parse_expr());
          });
          return d;
        }
        break;
      default: break;
    }
    fail_at(where_, t.line, "unexpected token in an expression", t.v.empty() ? "end of tag" : t.v);
  }

  std::vector<Tok> t_;
  size_t p_ = 0;
  int depth_ = 0;
  const std::string& where_;
};

}  // namespace

NodeP parse_template(const std::string& source, const std::string& where) {
  Parser parser(lex_template(source, where), where);
  return parser.parse();
}

}  // namespace s2d::jinja
