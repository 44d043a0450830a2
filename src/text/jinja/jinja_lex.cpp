// Jinja source -> tokens, with transformers' settings: trim_blocks (a block tag eats the newline
// after it) and lstrip_blocks (spaces and tabs before a block tag on its line go), plus the "-"
// whitespace controls.
#include <cctype>
#include <cstring>
#include <string>
#include <vector>

#include "jinja_internal.h"
#include "s2d/util/error.h"

namespace s2d::jinja {

void fail_at(const std::string& where, int line, const std::string& what, const std::string& found) {
  throw_input(what, {.file = where,
                     .line = line,
                     .found = found,
                     .hint = "pass --chat-template NAME or FILE.jinja to use another template"});
}

namespace {

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string rstrip(const std::string& s) {
  size_t e = s.size();
  while (e > 0 && is_ws(s[e - 1])) --e;
  return s.substr(0, e);
}

class Lexer {
 public:
  Lexer(const std::string& src, const std::string& where) : src_(src), where_(where) {}

  std::vector<Tok> run() {
    size_t pos = 0;
    bool line_starting = true, strip_next = false;
    while (pos <= src_.size()) {
      size_t open = find_open(pos);
      std::string text = src_.substr(pos, (open == std::string::npos ? src_.size() : open) - pos);
      if (strip_next) {
        size_t b = 0;
        while (b < text.size() && is_ws(text[b])) ++b;
        text.erase(0, b);
      }
      strip_next = false;
      if (open == std::string::npos) {
        push_text(text);
        break;
      }
      const char kind = src_[open + 1];  // '{', '%' or '#'
      const char ctl = open + 2 < src_.size() ? src_[open + 2] : '\0';
      if (ctl == '-') {
        text = rstrip(text);
      } else if (kind != '{' && ctl != '+') {  // lstrip_blocks
        const size_t l = text.rfind('\n');
        const size_t from = l == std::string::npos ? 0 : l + 1;
        if ((l != std::string::npos || line_starting) && text.find_first_not_of(" \t", from) == std::string::npos)
          text.erase(from);
      }
      line_ += count_lines(src_, pos, open);
      push_text(text);
      pos = open + 2 + ((ctl == '-' || ctl == '+') ? 1 : 0);
      if (kind == '#') {
        const size_t close = src_.find("#}", pos);
        if (close == std::string::npos) fail_at(where_, line_, "unclosed comment");
        line_ += count_lines(src_, pos, close);
        strip_next = close > 0 && src_[close - 1] == '-';
        pos = close + 2;
      } else if (const size_t after = kind == '%' ? lex_raw(pos, strip_next) : std::string::npos;
                 after != std::string::npos) {
        pos = after;
      } else {
        toks_.push_back({kind == '{' ? Tok::K::VarBegin : Tok::K::BlockBegin, "", line_});
        pos = lex_tag(pos, kind == '{' ? '}' : '%', strip_next);
      }
      line_starting = false;
      if (kind != '{' && !strip_next && pos < src_.size() && src_[pos] == '\n') {  // trim_blocks
        ++pos;
        ++line_;
        line_starting = true;
      }
    }
    toks_.push_back({Tok::K::Eof, "", line_});
    return std::move(toks_);
  }

 private:
  static int count_lines(const std::string& s, size_t b, size_t e) {
    int n = 0;
    for (size_t i = b; i < e && i < s.size(); ++i) n += s[i] == '\n';
    return n;
  }

  size_t find_open(size_t pos) const {
    for (size_t i = src_.find('{', pos); i != std::string::npos; i = src_.find('{', i + 1))
      if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
    return std::string::npos;
  }

  void push_text(const std::string& text) {
    if (!text.empty()) toks_.push_back({Tok::K::Text, text, line_});
  }

  // {% raw %}...{% endraw %} from `pos` (just after "{%" and its sign), as jinja2's lexer reads it:
  // the body is text, verbatim; "-%}" after raw drops the whitespace that follows it (and no
  // newline is trimmed there), "{%-" before endraw drops the body's trailing whitespace, and
  // endraw's "%}" trims one newline (trim_blocks). Returns the position after endraw's "%}", or
  // npos where the tag is not raw.
  size_t lex_raw(size_t pos, bool& strip_after) {
    auto skip_ws = [&](size_t i) {
      while (i < src_.size() && is_ws(src_[i])) ++i;
      return i;
    };
    size_t i = skip_ws(pos);
    if (src_.compare(i, 3, "raw") != 0) return std::string::npos;
    i = skip_ws(i + 3);
    size_t body = 0;
    if (src_.compare(i, 3, "-%}") == 0)
      body = skip_ws(i + 3);
    else if (src_.compare(i, 2, "%}") == 0)
      body = i + 2;
    else
      return std::string::npos;  // "rawx" or "raw foo": an ordinary tag, which the parser refuses
    for (size_t open = src_.find("{%", body); open != std::string::npos; open = src_.find("{%", open + 2)) {
      const char sign = open + 2 < src_.size() ? src_[open + 2] : '\0';
      size_t j = skip_ws(open + 2 + (sign == '-' || sign == '+' ? 1 : 0));
      if (src_.compare(j, 6, "endraw") != 0) continue;
      j = skip_ws(j + 6);
      const char close_sign = src_[j] == '-' || src_[j] == '+' ? src_[j] : '\0';
      if (src_.compare(j + (close_sign != '\0' ? 1 : 0), 2, "%}") != 0) continue;
      std::string text = src_.substr(body, open - body);
      if (sign == '-') {
        text = rstrip(text);
      } else if (sign != '+') {  // lstrip_blocks, before endraw
        const size_t l = text.rfind('\n');
        const size_t from = l == std::string::npos ? 0 : l + 1;
        if (l != std::string::npos && text.find_first_not_of(" \t", from) == std::string::npos) text.erase(from);
      }
      line_ += count_lines(src_, pos, body);
      push_text(text);
      size_t end = j + (close_sign != '\0' ? 1 : 0) + 2;
      line_ += count_lines(src_, body, end);
      strip_after = close_sign == '-';
      if (close_sign == '\0' && end < src_.size() && src_[end] == '\n') {  // trim_blocks
        ++end;
        ++line_;
      }
      return end;
    }
    fail_at(where_, line_, "missing end of raw directive", "{% raw %} without {% endraw %}");
  }

  // Tokens of one tag from `pos` to its closing "}}" or "%}"; returns the position after it.
  size_t lex_tag(size_t pos, char close, bool& strip_after) {
    const int start_line = line_;
    int depth = 0;  // open ( [ {: jinja2 ends a tag only outside them, so {{ {'a': {'b': 1}} }} is one tag
    while (pos < src_.size()) {
      const char c = src_[pos];
      if (c == '\n') ++line_;
      if (is_ws(c)) {
        ++pos;
        continue;
      }
      const bool dash = c == '-' && pos + 2 < src_.size() && src_[pos + 1] == close && src_[pos + 2] == '}';
      if (depth == 0 && (dash || (c == close && pos + 1 < src_.size() && src_[pos + 1] == '}'))) {
        strip_after = dash;
        toks_.push_back({close == '}' ? Tok::K::VarEnd : Tok::K::BlockEnd, "", line_});
        return pos + (dash ? 3 : 2);
      }
      if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        size_t e = pos;
        while (e < src_.size() && (std::isalnum(static_cast<unsigned char>(src_[e])) || src_[e] == '_')) ++e;
        toks_.push_back({Tok::K::Name, src_.substr(pos, e - pos), line_});
        pos = e;
      } else if (std::isdigit(static_cast<unsigned char>(c))) {
        pos = lex_number(pos);
      } else if (c == '\'' || c == '"') {
        pos = lex_string(pos);
      } else {
        static const char* two[] = {"**", "//", "==", "!=", "<=", ">="};
        std::string op(1, c);
        for (const char* t : two)
          if (src_.compare(pos, 2, t) == 0) op = t;
        if (std::string("+-*/%~<>()[]{},.:|=!").find(c) == std::string::npos)
          fail_at(where_, line_, "unexpected character in a tag", std::string(1, c));
        if (c == '(' || c == '[' || c == '{') ++depth;
        if ((c == ')' || c == ']' || c == '}') && depth > 0) --depth;
        toks_.push_back({Tok::K::Op, op, line_});
        pos += op.size();
      }
    }
    fail_at(where_, start_line, "unclosed tag");
  }

  // The end of digits from `pos` in jinja2's form (\d+_)*\d+: "_" only between two digits.
  size_t digits_end(size_t pos) const {
    size_t e = pos;
    while (e < src_.size() && (std::isdigit(static_cast<unsigned char>(src_[e])) ||
                               (src_[e] == '_' && e > pos && e + 1 < src_.size() && src_[e - 1] != '_' &&
                                std::isdigit(static_cast<unsigned char>(src_[e + 1])))))
      ++e;
    return e;
  }

  // A number literal as jinja2's lexer reads it: a float with a fraction and/or an exponent
  // ("1.5", "1e3", "2.5E-3"), else an integer, decimal or 0x/0o/0b; "_" between digits. An Int
  // token keeps its prefix (python_int_of_string reads it), a Float token drops its underscores.
  size_t lex_number(size_t pos) {
    size_t e = pos;
    bool is_float = false;
    if (src_[pos] == '0' && pos + 1 < src_.size() && std::strchr("xXoObB", src_[pos + 1]) != nullptr) {
      e = pos + 2;
      while (e < src_.size() && (std::isxdigit(static_cast<unsigned char>(src_[e])) || src_[e] == '_')) ++e;
    } else {
      e = digits_end(pos);
      // After a dot, an index (foo.0.1 is foo[0][1]), never a float: jinja2's (?<!\.) lookbehind.
      const bool after_dot = pos > 0 && src_[pos - 1] == '.';
      if (!after_dot && e + 1 < src_.size() && src_[e] == '.' &&
          std::isdigit(static_cast<unsigned char>(src_[e + 1]))) {
        is_float = true;
        e = digits_end(e + 1);
      }
      const size_t sign = e + 1 < src_.size() && (src_[e + 1] == '+' || src_[e + 1] == '-') ? 1 : 0;
      if (!after_dot && e + 1 + sign < src_.size() && (src_[e] == 'e' || src_[e] == 'E') &&
          std::isdigit(static_cast<unsigned char>(src_[e + 1 + sign]))) {
        is_float = true;
        e = digits_end(e + 1 + sign);
      }
    }
    std::string num = src_.substr(pos, e - pos);
    if (is_float) {
      std::erase(num, '_');
    } else {
      try {
        if (!python_int_of_string(num, 0))  // "010", "0x", "0b12": Python 3 and jinja2 read none of these
          fail_at(where_, line_, "malformed integer literal", num.substr(0, 40));
      } catch (const Refused& r) {
        fail_at(where_, line_, "integer literal out of range", num.substr(0, 40));
      }
    }
    toks_.push_back({is_float ? Tok::K::Float : Tok::K::Int, num, line_});
    return e;
  }

  // Python's \xhh, \uXXXX, \UXXXXXXXX and octal \ooo (one to three digits) escapes, which jinja2
  // reads as Python's unicode-escape codec does: the code point, in UTF-8, appended to out.
  // `pos` is just after the escape's letter (or first octal digit); returns the position after it.
  size_t lex_code_point_escape(char letter, size_t pos, std::string& out) {
    uint32_t cp = 0;
    if (letter >= '0' && letter <= '7') {
      cp = static_cast<uint32_t>(letter - '0');
      for (int k = 0; k < 2 && pos < src_.size() && src_[pos] >= '0' && src_[pos] <= '7'; ++k)
        cp = cp * 8 + static_cast<uint32_t>(src_[pos++] - '0');
    } else {
      const size_t digits = letter == 'x' ? 2 : letter == 'u' ? 4 : 8;
      for (size_t k = 0; k < digits; ++k, ++pos) {
        if (pos >= src_.size() || !std::isxdigit(static_cast<unsigned char>(src_[pos])))
          fail_at(where_, line_, "malformed escape in a string literal",
                  std::string("\\") + letter + " needs " + std::to_string(digits) + " hex digits");
        const char h = src_[pos];
        cp = cp * 16 +
             static_cast<uint32_t>(std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : (h | 0x20) - 'a' + 10);
      }
    }
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      fail_at(where_, line_, "escape in a string literal that is no character", "U+" + std::to_string(cp));
    append_utf8(cp, out);
    return pos;
  }

  size_t lex_string(size_t pos) {
    const char q = src_[pos++];
    std::string out;
    while (pos < src_.size() && src_[pos] != q) {
      char c = src_[pos++];
      if (c == '\n') ++line_;
      if (c == '\\' && pos < src_.size()) {
        const char e = src_[pos++];
        if (e == '\n') {  // a line continuation
          ++line_;
        } else if (e == 'x' || e == 'u' || e == 'U' || (e >= '0' && e <= '7')) {
          pos = lex_code_point_escape(e, pos, out);
        } else if (e == 'N') {
          fail_at(where_, line_, "unsupported escape in a string literal", "\\N{...}: write the character itself");
        } else if (const char ch = unescape(e)) {
          out += ch;
        } else {  // Python keeps an unknown escape as written
          out += '\\';
          out += e;
        }
        continue;
      }
      out += c;
    }
    if (pos >= src_.size()) fail_at(where_, line_, "unclosed string literal");
    toks_.push_back({Tok::K::Str, out, line_});
    return pos + 1;
  }

  const std::string& src_;
  const std::string& where_;
  std::vector<Tok> toks_;
  int line_ = 1;
};

}  // namespace

std::vector<Tok> lex_template(const std::string& source, const std::string& where) {
  // jinja2's lexer first reads every line break (\r\n, \r, \n) as \n, and drops the source's
  // last one (keep_trailing_newline is off): a template file's final newline renders as nothing.
  std::string src;
  src.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      src += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      src += source[i];
    }
  }
  if (!src.empty() && src.back() == '\n') src.pop_back();
  return Lexer(src, where).run();
}

}  // namespace s2d::jinja
