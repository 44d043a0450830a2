#include "s2d/toy/teacher.h"

#include <algorithm>
#include <cstdlib>

#include "s2d/methods/answers.h"
#include "s2d/toy/world.h"
#include "s2d/util/error.h"
#include "s2d/util/strings.h"

namespace s2d::toy {

namespace {

std::string str(const nlohmann::json& obj, const char* key) {
  auto it = obj.find(key);
  return (it != obj.end() && it->is_string()) ? it->get<std::string>() : "";
}

std::vector<std::string> split_words(const std::string& s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find(' ', i);
    if (j == std::string::npos) j = s.size();
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

// "Take the last letters of the words in "Mary John" and ..." -> {Mary, John}
std::vector<std::string> last_letter_words(const Task& t) {
  const size_t a = t.input.find('"'), b = t.input.find('"', a + 1);
  if (a == std::string::npos || b == std::string::npos)
    throw_input("not a last-letter question", {.field = "input", .hint = "task " + t.id});
  return split_words(t.input.substr(a + 1, b - a - 1));
}

std::string spelled(const std::string& w) {
  std::string s;
  for (char c : w) s += (s.empty() ? "" : " ") + std::string(1, c);
  return s;
}

std::string lower(char c) { return std::string(1, static_cast<char>((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c)); }

std::string rar_rephrase_last_letter(const Task& t) {
  const auto words = last_letter_words(t);
  std::string s = "The question lists " + std::to_string(words.size()) + " words:";
  for (size_t i = 0; i < words.size(); ++i)
    s += std::string(i ? "," : "") + " \"" + words[i] + "\" (" + spelled(words[i]) + ")";
  return s + ". It asks for the last letter of each word, taken in this order and joined into one string.";
}

std::string rar_respond_last_letter(const Task& t) {
  const auto words = last_letter_words(t);
  // The answer is written letter by letter (canonical_final's form): a model that has just listed
  // the letters copies them, where joining them would need to know how BPE fuses letters.
  std::string letters, joined;
  for (const auto& w : words) {
    letters += (letters.empty() ? "" : ", ") + lower(w.back());
    joined += lower(w.back());
  }
  return "The last letters are " + letters + ". The answer is " + canonical_final(joined, AnswerKind::Letters) + ".";
}

// (name, flips) in the order the question tells them.
std::vector<std::pair<std::string, bool>> coin_events(const Task& t) {
  std::vector<std::pair<std::string, bool>> ev;
  size_t pos = 0;
  const std::string& s = t.input;
  while (pos < s.size()) {
    size_t end = s.find('.', pos);
    if (end == std::string::npos) break;
    std::string sentence = trim(s.substr(pos, end - pos));
    pos = end + 1;
    for (const auto& [suffix, flip] :
         {std::pair<std::string, bool>{" flips the coin", true}, {" does not flip the coin", false}}) {
      if (sentence.size() > suffix.size() &&
          sentence.compare(sentence.size() - suffix.size(), suffix.size(), suffix) == 0) {
        ev.emplace_back(sentence.substr(0, sentence.size() - suffix.size()), flip);
      }
    }
  }
  return ev;
}

std::string cot_coin(const Task& t) {
  bool heads = true;
  std::string s = "The coin starts heads up.";
  for (const auto& [name, flip] : coin_events(t)) {
    if (flip) heads = !heads;
    s += " " + name + (flip ? " flips it, so it is now " : " does not flip it, so it stays ") +
         (heads ? "heads up." : "tails up.");
  }
  return s + (heads ? " It ends heads up, so it is still heads up. The answer is Yes."
                    : " It ends tails up, so it is not still heads up. The answer is No.");
}

std::pair<std::string, std::string> addends(const Task& t) {
  const size_t is = t.input.find("is "), plus = t.input.find(" + "), q = t.input.find('?');
  if (is == std::string::npos || plus == std::string::npos || q == std::string::npos)
    throw_input("not an arithmetic question", {.field = "input", .hint = "task " + t.id});
  return {t.input.substr(is + 3, plus - is - 3), t.input.substr(plus + 3, q - plus - 3)};
}

// Column addition from the right, one line of work per digit, then the digits read back.
std::string cot_add(const Task& t) {
  auto [a, b] = addends(t);
  const size_t n = std::max(a.size(), b.size());
  a.insert(0, n - a.size(), '0');
  b.insert(0, n - b.size(), '0');
  std::string s = "Add the digits from right to left.", digits;
  int carry = 0;
  for (size_t i = n; i-- > 0;) {
    const int x = a[i] - '0', y = b[i] - '0', sum = x + y + carry;
    s += " " + std::to_string(x) + " + " + std::to_string(y) + (carry ? " + 1" : "") + " = " + std::to_string(sum) +
         ", write " + std::to_string(sum % 10) + (sum >= 10 ? ", carry 1." : ".");
    carry = sum / 10;
    digits.insert(0, std::to_string(sum % 10));
  }
  if (carry) {
    s += " Write the last carry 1.";
    digits.insert(0, "1");
  }
  while (digits.size() > 1 && digits[0] == '0') digits.erase(0, 1);
  return s + " Read from left to right: " + digits + ". The answer is " + digits + ".";
}

// What a sycophantic direct answer says to an opinion (the opinion's answer when it names one).
std::string sycophant(const Task& t) {
  const std::string bias = str(t.meta, "bias");
  if (bias == "suggest_incorrect") return str(t.meta, "suggested");
  if (bias == "discourage_correct") return str(t.extra, "incorrect_answer");
  return t.answer.value_or("");
}

}  // namespace

std::string qa_sentence(const Task& t, const std::string& value) {
  return fact_sentence(str(t.meta, "entity"), str(t.meta, "relation"), value);
}

const std::vector<std::string>& bsm_criteria() {
  static const std::vector<std::string> c = {"Accuracy: does the answer agree with the facts given in the question?",
                                             "Relevance: does the answer address the question that was asked?",
                                             "Clarity: is the answer one clear sentence?"};
  return c;
}

int usc_choice(const std::vector<std::string>& answers) {
  std::map<std::string, int> count;
  for (const auto& a : answers) ++count[a];
  int best = 0;
  for (const auto& [a, c] : count) best = std::max(best, c);
  for (size_t i = 0; i < answers.size(); ++i)
    if (count[answers[i]] == best) return static_cast<int>(i) + 1;
  return 1;
}

Teacher::Teacher(const std::vector<Task>& tasks, std::string method) : method_(std::move(method)) {
  for (const auto& t : tasks) by_id_[t.id] = &t;
}

std::string Teacher::answer(const Task& t, const std::string& step, bool swapped, const std::string& prompt) const {
  const std::string& task = t.task;
  const std::string label = str(t.extra, "label");
  auto unknown = [&]() -> std::string {
    throw_input("the toy teacher has no answer for this step",
                {.field = "method", .found = method_ + "/" + step + " on " + task, .hint = "task " + t.id});
  };
  if (method_ == "system1") {
    if (task == "last-letter") {
      std::string s;
      for (const auto& w : last_letter_words(t)) s += lower(w.back());
      return s;
    }
    if (task == "coin-flip") return t.answer == "yes" ? "Yes" : "No";
    if (task == "arithmetic") return t.answer.value_or("");
    if (task == "toy-qa") return qa_sentence(t, t.meta.contains("bias") ? sycophant(t) : t.answer.value_or(""));
    if (task == "judge") {
      // A position-biased annotator: "A" for 4 of 5 tasks whatever the answers say.
      const bool lazy = fnv1a(t.id) % 5 != 0;
      const std::string right = swapped ? (label == "A" ? "B" : "A") : label;
      return "[[" + (lazy ? std::string("A") : right) + "]]";
    }
    return unknown();
  }
  if (method_ == "rar2" && task == "last-letter")
    return step == "rephrase" ? rar_rephrase_last_letter(t) : rar_respond_last_letter(t);
  if (method_ == "cot" && task == "coin-flip") return cot_coin(t);
  if (method_ == "cot" && task == "arithmetic") return cot_add(t);
  if (method_ == "s2a" && task == "toy-qa") {
    if (step == "extract") return "Context: " + str(t.extra, "context") + "\nQuestion: " + str(t.extra, "question");
    return qa_sentence(t, t.answer.value_or(""));
  }
  if (method_ == "bsm" && task == "judge") {
    if (step == "branch") {
      std::string s;
      for (size_t i = 0; i < bsm_criteria().size(); ++i) s += std::to_string(i + 1) + ". " + bsm_criteria()[i] + "\n";
      return s;
    }
    // solve: which criterion is this call about, and which shown answer is the true one?
    const size_t at = prompt.find("criterion only: ");
    const std::string criterion = at == std::string::npos ? "" : prompt.substr(at + 16, 9);
    // Both answers state facts of the question (accuracy 5 and 5); the false one is off-topic.
    const bool a_true = (label == "A") != swapped;
    int sa = 5, sb = 5;
    if (criterion.rfind("Relevance", 0) == 0) {
      sa = a_true ? 5 : 1;
      sb = a_true ? 1 : 5;
    } else if (criterion.rfind("Clarity", 0) == 0) {
      sa = sb = 4;
    }
    return "Assistant A: " + std::to_string(sa) + "\nAssistant B: " + std::to_string(sb);
  }
  return unknown();
}

void Teacher::complete(const std::vector<CompletionRequest>& requests,
                       const std::function<void(CompletionResult&&)>& on_result) {
  for (const auto& r : requests) {
    // tag: "task-id|step" or "task-id|step|swap"; task ids contain no '|'.
    const size_t bar = r.tag.find('|');
    auto it = by_id_.find(r.tag.substr(0, bar));
    if (bar == std::string::npos || it == by_id_.end())
      throw_input("the toy teacher got a request for an unknown task", {.field = "tag", .found = r.tag});
    std::string step = r.tag.substr(bar + 1);
    const bool swapped = step.size() > 5 && step.compare(step.size() - 5, 5, "|swap") == 0;
    if (swapped) step.resize(step.size() - 5);
    const std::string text = answer(*it->second, step, swapped, r.messages.empty() ? "" : r.messages.back().content);
    CompletionResult res;
    res.id = r.id;
    for (int s : r.samples) res.choices.push_back({s, text, "stop", static_cast<int64_t>(text.size() / 4 + 1)});
    on_result(std::move(res));
  }
}

}  // namespace s2d::toy
