// Parsing what a model said. Every parser takes messy LLM text and returns std::nullopt (or an
// empty list) when it finds nothing: callers record "unparsed", nothing throws.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace s2d {

// How a task's answers are compared, from the task's "task" field:
//   last-letter -> letters   coin-flip -> yes_no   arithmetic, gsm8k -> number
//   judge -> choice (A | B | tie)   anything else -> text
enum class AnswerKind { Letters, YesNo, Number, Choice, Text };
AnswerKind answer_kind_for_task(const std::string& task);

// The normalised answer in `text`, used for votes and accuracy:
//   letters: "The answer is \"ya\"." / "The answer is y a" -> "ya" (lower-case letters only;
//            single letters written one by one are joined)
//   yes_no:  "...so the coin is not heads up. The answer is No." -> "no"
//   number:  "#### 1,234" / "The answer is -3.50" / the last number -> "1234" / "-3.5"
//   choice:  "[[B]]", "Assistant A is better", "It's a tie" -> "B" / "A" / "tie"
//   text:    lower-cased, punctuation and articles removed, spaces collapsed
// An agreed phrase ("The answer is X", "####") wins over the last mention. `regex`, when not
// empty, overrides: its first capture group (or the whole match) of the last match, normalised.
std::optional<std::string> extract_answer(const std::string& text, AnswerKind kind, const std::string& regex = "");

// A reasoning model's reply without its thinking: the text after the last "</think>", or the
// whole text when it never opened a "<think>" (thinking off); nullopt when a "<think>" is never
// closed (the model ran out of tokens while thinking), which counts as a parse failure.
std::optional<std::string> after_thinking(const std::string& text);

// How a distilled model should say an answer: "Yes"/"No", "[[A]]"/"[[B]]"/"[[C]]" (tie), letters
// one by one ("y a", which extract_answer reads back as "ya"), or the answer itself.
std::string canonical_final(const std::string& answer, AnswerKind kind);

// BSM branch: up to `max_criteria` criteria, one per line ("1. Relevance: how well ..."), with
// numbering, bullets and bold markers stripped; lines without letters are skipped.
std::vector<std::string> parse_criteria(const std::string& text, size_t max_criteria = 5);

// BSM solve: Assistant A's and B's scores (1-5) for one criterion. Accepts "4\n3",
// "Assistant A: 4/5 ... Assistant B: Score: 3", "A: 4, B: 3"; nullopt when two scores in 1..5
// cannot be found.
std::optional<std::pair<int, int>> parse_pair_scores(const std::string& text);

// USC: "The most consistent response is Response 3" -> 3 (1-based), checked against `n`.
std::optional<int> parse_usc_choice(const std::string& text, int n);

}  // namespace s2d
