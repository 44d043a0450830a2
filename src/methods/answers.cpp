#include "s2d/methods/answers.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <regex>

#include "s2d/util/error.h"
#include "s2d/util/strings.h"

namespace s2d {

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The text after the last "the answer is" / "answer:" (case-insensitive), up to the line's end.
std::optional<std::string> after_answer_phrase(const std::string& text) {
  static const std::regex re(R"((?:the )?(?:final )?answer(?: is|:)\s*([^\n]*))", std::regex::icase);
  std::optional<std::string> last;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator(); ++it)
    last = (*it)[1].str();
  return last;
}

// Single letters written one by one, "n n y a" or "n, n, y, a" (at least two), joined: "nnya".
// `whole`: the text is nothing else (bare, perhaps quoted); else they lead it.
std::optional<std::string> spelled_letters(const std::string& s, bool whole) {
  static const std::regex lead(R"(^[^A-Za-z]*([A-Za-z](?:[ ,]+[A-Za-z])+)(?![A-Za-z]))");
  static const std::regex all(R"(^["']?([A-Za-z](?:[ ,]+[A-Za-z])+)["']?\.?$)");
  std::smatch m;
  if (!std::regex_search(s, m, whole ? all : lead)) return std::nullopt;
  std::string out;
  for (char c : m[1].str())
    if (std::isalpha(static_cast<unsigned char>(c))) out.push_back(c);
  return lower(out);
}

std::optional<std::string> letters_of(const std::string& s) {
  if (auto spelled = spelled_letters(s, false)) return spelled;
  // The first run of letters (possibly quoted): "\"ya\"." -> "ya".
  static const std::regex re(R"([A-Za-z]+)");
  std::smatch m;
  if (!std::regex_search(s, m, re)) return std::nullopt;
  return lower(m.str());
}

std::optional<std::string> yes_no_of(const std::string& s, bool last) {
  static const std::regex re(R"(\b(yes|no)\b)", std::regex::icase);
  std::optional<std::string> found;
  for (auto it = std::sregex_iterator(s.begin(), s.end(), re); it != std::sregex_iterator(); ++it) {
    found = lower((*it)[1].str());
    if (!last) break;
  }
  return found;
}

std::string normalise_number(std::string n) {
  n.erase(std::remove(n.begin(), n.end(), ','), n.end());
  if (n.find('.') != std::string::npos) {
    while (!n.empty() && n.back() == '0') n.pop_back();
    if (!n.empty() && n.back() == '.') n.pop_back();
  }
  if (n == "-0") n = "0";
  return n;
}

std::optional<std::string> number_of(const std::string& s, bool last) {
  static const std::regex re(R"(-?\d[\d,]*(?:\.\d+)?)");
  std::optional<std::string> found;
  for (auto it = std::sregex_iterator(s.begin(), s.end(), re); it != std::sregex_iterator(); ++it) {
    found = normalise_number(it->str());
    if (!last) break;
  }
  return found;
}

std::optional<std::string> choice_of(const std::string& s) {
  static const std::regex bracket(R"(\[\[\s*(A|B|C|tie)\s*\]\])", std::regex::icase);
  static const std::regex named(R"(\b(?:assistant|response)\s+(A|B)\b)", std::regex::icase);
  static const std::regex tie(R"(\b(tie|draw|equally good|both equally)\b)", std::regex::icase);
  static const std::regex bare(R"(^\s*\(?(A|B)\)?\s*[.:)]?\s*$)");
  std::smatch m;
  if (std::regex_search(s, m, bracket)) {
    const std::string v = lower(m[1].str());
    return v == "a" ? "A" : v == "b" ? "B" : "tie";  // MT-bench's [[C]] means tie
  }
  if (std::regex_search(s, m, tie)) return "tie";
  if (std::regex_search(s, m, named)) return std::string(1, static_cast<char>(std::toupper(m[1].str()[0])));
  if (std::regex_search(s, m, bare)) return m[1].str();
  return std::nullopt;
}

std::string normalise_text(const std::string& s) {
  std::string out;
  bool space = false;
  for (unsigned char c : lower(s)) {
    if (std::isalnum(c) || c >= 0x80) {
      if (space && !out.empty()) out.push_back(' ');
      out.push_back(static_cast<char>(c));
      space = false;
    } else {
      space = true;
    }
  }
  // Drop leading articles, as SQuAD/TriviaQA normalisation does.
  for (const char* a : {"the ", "a ", "an "})
    if (out.rfind(a, 0) == 0) out = out.substr(std::char_traits<char>::length(a));
  return out;
}

std::optional<std::string> normalise(const std::string& s, AnswerKind kind, bool last) {
  switch (kind) {
    case AnswerKind::Letters: return letters_of(s);
    case AnswerKind::YesNo: return yes_no_of(s, last);
    case AnswerKind::Number: return number_of(s, last);
    case AnswerKind::Choice: return choice_of(s);
    case AnswerKind::Text: {
      auto t = normalise_text(s);
      return t.empty() ? std::nullopt : std::optional<std::string>(t);
    }
  }
  return std::nullopt;
}

}  // namespace

AnswerKind answer_kind_for_task(const std::string& task) {
  if (task == "last-letter") return AnswerKind::Letters;
  if (task == "coin-flip") return AnswerKind::YesNo;
  if (task == "arithmetic" || task == "gsm8k") return AnswerKind::Number;
  if (task == "judge") return AnswerKind::Choice;
  return AnswerKind::Text;
}

std::optional<std::string> extract_answer(const std::string& text, AnswerKind kind, const std::string& regex) {
  if (!regex.empty()) {
    std::regex re;
    try {
      re = std::regex(regex);
    } catch (const std::regex_error& e) {
      throw_input("invalid regular expression", {.field = "--answer-regex", .found = regex + " (" + e.what() + ")"});
    }
    std::optional<std::string> last;
    for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator(); ++it)
      last = it->size() > 1 ? (*it)[1].str() : it->str();
    return last ? normalise(*last, kind, true) : std::nullopt;
  }
  if (kind == AnswerKind::Number) {  // GSM8k's "#### 42" is the agreed phrase for numbers
    static const std::regex hashes(R"(####\s*(-?[\d,]+(?:\.\d+)?))");
    std::smatch m;
    if (std::regex_search(text, m, hashes)) return normalise_number(m[1].str());
  }
  if (auto phrase = after_answer_phrase(text)) {
    if (auto v = normalise(*phrase, kind, /*last=*/false)) return v;
  }
  if (kind == AnswerKind::Text) return normalise(trim(text), kind, true);
  if (kind == AnswerKind::Letters) {  // a bare answer such as "ya" or "\"ya\""
    const std::string t = trim(text);
    static const std::regex bare(R"(^["']?([A-Za-z]+)["']?\.?$)");
    std::smatch m;
    if (std::regex_match(t, m, bare)) return lower(m[1].str());
    return spelled_letters(t, true);  // or spelled out, "n n y a"
  }
  return normalise(text, kind, /*last=*/true);
}

std::optional<std::string> after_thinking(const std::string& text) {
  const size_t close = text.rfind("</think>");
  if (close != std::string::npos) return text.substr(close + std::string("</think>").size());
  if (text.find("<think>") != std::string::npos) return std::nullopt;
  return text;
}

std::string canonical_final(const std::string& answer, AnswerKind kind) {
  if (kind == AnswerKind::YesNo) return answer == "yes" ? "Yes" : "No";
  // Letters one by one ("nnya" -> "n n y a"): each letter is then its own token, so the student
  // writes what it knows letter by letter instead of guessing how BPE fuses them ("nn" + "ya").
  if (kind == AnswerKind::Letters && answer.size() > 1) {
    std::string out;
    for (char c : answer) out += (out.empty() ? "" : " ") + std::string(1, c);
    return out;
  }
  // A verdict as the judge prompts ask for it (MT-bench's "[[A]]"), "[[C]]" for a tie.
  if (kind == AnswerKind::Choice) return "[[" + (answer == "tie" ? std::string("C") : answer) + "]]";
  return answer;
}

std::vector<std::string> parse_criteria(const std::string& text, size_t max_criteria) {
  std::vector<std::string> out;
  size_t pos = 0;
  static const std::regex lead(R"(^\s*(?:[-*•]|\d+[.)]|\(\d+\)|criterion\s*\d+\s*[:.-])?\s*)", std::regex::icase);
  while (pos <= text.size() && out.size() < max_criteria) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string line =
        std::regex_replace(text.substr(pos, nl - pos), lead, "", std::regex_constants::format_first_only);
    line.erase(std::remove(line.begin(), line.end(), '*'), line.end());
    line = trim(line);
    pos = nl + 1;
    const bool has_letters = std::any_of(line.begin(), line.end(), [](unsigned char c) { return std::isalpha(c); });
    const std::string l = lower(line);
    const bool preamble = l.rfind("here are", 0) == 0 || l.rfind("evaluation plan", 0) == 0 ||
                          l.rfind("sure", 0) == 0 || l.rfind("criteria:", 0) == 0;
    if (has_letters && !preamble && line.size() >= 3) out.push_back(line);
  }
  return out;
}

std::optional<std::pair<int, int>> parse_pair_scores(const std::string& text) {
  // Labelled: "Assistant A: 4/5", "A: Score: 4", "Assistant A's score: 4".
  static const std::regex labelled(
      R"((?:assistant\s+)?\b([AB])\b(?:'s)?\s*(?:score)?\s*[:=-]?\s*(?:score\s*[:=]?\s*)?([1-5])(?:\s*/\s*5|\s*out of 5)?)",
      std::regex::icase);
  std::optional<int> a, b;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), labelled); it != std::sregex_iterator(); ++it) {
    const char who = static_cast<char>(std::toupper((*it)[1].str()[0]));
    const int v = std::stoi((*it)[2].str());
    if (who == 'A' && !a) a = v;
    if (who == 'B' && !b) b = v;
  }
  if (a && b) return std::make_pair(*a, *b);
  // Unlabelled: the first two scores 1-5, each alone or as "n/5" (the prompt asks for A's score
  // on the first line and B's on the second).
  static const std::regex score(R"((?:^|[^\d.])([1-5])(?:\s*/\s*5)?(?![\d.]))");
  std::vector<int> found;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), score);
       it != std::sregex_iterator() && found.size() < 2; ++it)
    found.push_back(std::stoi((*it)[1].str()));
  if (found.size() == 2) return std::make_pair(found[0], found[1]);
  return std::nullopt;
}

std::optional<int> parse_usc_choice(const std::string& text, int n) {
  static const std::regex re(R"(response\s*#?\s*(\d+))", std::regex::icase);
  std::smatch m;
  if (!std::regex_search(text, m, re)) return std::nullopt;
  // "Response 3333333333334" names no response; it must not overflow an int on the way.
  const std::string digits = m[1].str();
  int k = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), k);
  if (ec != std::errc() || k < 1 || k > n) return std::nullopt;
  return k;
}

}  // namespace s2d
