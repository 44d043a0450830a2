// Python's case conversions of str (lower, upper, capitalize, title) and jinja2's title filter,
// over Unicode: Python's str.lower() turns "Äpfel" into "äpfel", where an ASCII table leaves the
// "Ä". Simple mappings come from utf8proc (which the tokenizers already use for normalization);
// Python's full mappings that produce more than one character (ß -> SS, İ -> i̇, the Latin
// ligatures) are written out below.
#include <utf8proc.h>

#include <cctype>
#include <string>
#include <string_view>

#include "../hf_parts.h"
#include "jinja_internal.h"

namespace s2d::jinja {

char32_t next_code_point(std::string_view s, size_t& i, bool& valid) {
  const auto b = static_cast<unsigned char>(s[i]);
  const size_t n = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
  valid = n > 0 && i + n <= s.size();
  for (size_t k = 1; valid && k < n; ++k) valid = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
  if (!valid) {
    ++i;
    return b;
  }
  char32_t c = n == 1 ? b : b & (0xFF >> (n + 1));
  for (size_t k = 1; k < n; ++k) c = (c << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  i += n;
  return c;
}

void append_utf8(char32_t c, std::string& out) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

namespace {

char32_t simple_lower(char32_t c) { return static_cast<char32_t>(utf8proc_tolower(static_cast<int32_t>(c))); }
char32_t simple_upper(char32_t c) { return static_cast<char32_t>(utf8proc_toupper(static_cast<int32_t>(c))); }
char32_t simple_title(char32_t c) { return static_cast<char32_t>(utf8proc_totitle(static_cast<int32_t>(c))); }

// Python's "cased" characters (upper, lower or title case), which str.title() words are made of.
bool is_cased(char32_t c) {
  const auto cp = static_cast<int32_t>(c);
  const utf8proc_category_t cat = utf8proc_category(cp);
  return cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL || cat == UTF8PROC_CATEGORY_LT ||
         utf8proc_islower(cp) || utf8proc_isupper(cp);
}

// Full mappings (SpecialCasing.txt, unconditional) that Python applies and towupper cannot give.
const char* special_upper(char32_t c) {
  switch (c) {
    case 0xDF: return "SS";  // ß
    case 0x149: return "\u02BCN";
    case 0xFB00: return "FF";
    case 0xFB01: return "FI";
    case 0xFB02: return "FL";
    case 0xFB03: return "FFI";
    case 0xFB04: return "FFL";
    case 0xFB05:
    case 0xFB06: return "ST";
    default: return nullptr;
  }
}

const char* special_title(char32_t c) {
  switch (c) {
    case 0xDF: return "Ss";
    case 0x149: return "\u02BCN";
    case 0xFB00: return "Ff";
    case 0xFB01: return "Fi";
    case 0xFB02: return "Fl";
    case 0xFB03: return "Ffi";
    case 0xFB04: return "Ffl";
    case 0xFB05:
    case 0xFB06: return "St";
    default: return nullptr;
  }
}

void append_lower(char32_t c, std::string& out) {
  if (c == 0x130) {  // İ: i and a combining dot above
    out += "i\u0307";
    return;
  }
  append_utf8(simple_lower(c), out);
}

void append_upper(char32_t c, std::string& out) {
  if (const char* s = special_upper(c)) {
    out += s;
    return;
  }
  append_utf8(simple_upper(c), out);
}

void append_title(char32_t c, std::string& out) {
  if (const char* s = special_title(c)) {
    out += s;
    return;
  }
  append_utf8(simple_title(c), out);
}

// The separators of jinja2's title filter: its regex [-\s({\[<]+, \s being Python's whitespace.
bool starts_jinja_word(char32_t c) {
  return c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || is_python_space(c);
}

}  // namespace

bool is_python_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

size_t utf8_chars(std::string_view s) {
  size_t n = 0;
  for (size_t i = 0; i < s.size(); i += hf::utf8_len(s, i)) ++n;
  return n;
}

std::string_view first_chars(std::string_view s, size_t n) {
  size_t i = 0;
  for (size_t k = 0; k < n && i < s.size(); ++k) i += hf::utf8_len(s, i);
  return s.substr(0, i);
}

bool is_python_word(char32_t c) {
  if (c < 0x80) return std::isalnum(static_cast<int>(c)) != 0 || c == '_';
  switch (utf8proc_category(static_cast<int32_t>(c))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO: return true;
    default: return false;
  }
}

std::string case_of(std::string_view s, Case mode) {
  std::string out;
  out.reserve(s.size());
  bool previous_cased = false, first = true, after_separator = true;
  for (size_t i = 0; i < s.size();) {
    const size_t at = i;
    bool valid = true;
    const char32_t c = next_code_point(s, i, valid);
    if (!valid) {
      out += s[at];
      first = previous_cased = after_separator = false;
      continue;
    }
    switch (mode) {
      case Case::Lower: append_lower(c, out); break;
      case Case::Upper: append_upper(c, out); break;
      case Case::Capitalize:  // str.capitalize(): the first character in title case, the rest lower
        first ? append_title(c, out) : append_lower(c, out);
        break;
      case Case::Title:  // str.title(): title case after an uncased character, lower case after a cased one
        previous_cased ? append_lower(c, out) : append_title(c, out);
        break;
      case Case::JinjaTitle:  // jinja2's title filter: item[0].upper() + item[1:].lower() for each word
        after_separator && !starts_jinja_word(c) ? append_upper(c, out) : append_lower(c, out);
        break;
    }
    previous_cased = is_cased(c);
    after_separator = starts_jinja_word(c);
    first = false;
  }
  return out;
}

}  // namespace s2d::jinja
