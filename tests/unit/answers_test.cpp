#include "s2d/methods/answers.h"

#include <gtest/gtest.h>

#include "s2d/util/error.h"
#include "test_util.h"

namespace s2d {

TEST(Answers, LettersPreferTheAgreedPhrase) {
  const auto k = AnswerKind::Letters;
  EXPECT_EQ(extract_answer("The last letters are a and y. The answer is \"ya\".", k), "ya");
  EXPECT_EQ(extract_answer("so we get YA. Answer: ya", k), "ya");
  EXPECT_EQ(extract_answer("ya", k), "ya");
  EXPECT_EQ(extract_answer("  \"nk\". ", k), "nk");
  EXPECT_EQ(extract_answer("I am not sure what you mean by that question", k), std::nullopt);
  EXPECT_EQ(extract_answer("", k), std::nullopt);
  // Spelled out one by one, after the phrase or bare: joined.
  EXPECT_EQ(extract_answer("The last letters are n, n, y, a. The answer is n n y a.", k), "nnya");
  EXPECT_EQ(extract_answer("The answer is n, y.", k), "ny");
  EXPECT_EQ(extract_answer("n n y a", k), "nnya");
  EXPECT_EQ(extract_answer("The answer is y, which ends it", k), "y") << "a word after a letter is not spelling";
  EXPECT_EQ(extract_answer("n n ya", k), std::nullopt) << "neither joined nor spelled";
  // What the distilled model is taught to say reads back as the answer.
  EXPECT_EQ(canonical_final("nnya", k), "n n y a");
  EXPECT_EQ(canonical_final("y", k), "y");
  EXPECT_EQ(extract_answer(canonical_final("nnya", k), k), "nnya");
}

TEST(Answers, YesNoTakesThePhraseElseTheLastMention) {
  const auto k = AnswerKind::YesNo;
  EXPECT_EQ(extract_answer("Yes, Alice flips it, so no longer heads up. The answer is No.", k), "no");
  EXPECT_EQ(extract_answer("No wait... after two flips it is heads up again: yes", k), "yes");
  EXPECT_EQ(extract_answer("The coin is heads up.", k), std::nullopt);
  EXPECT_EQ(canonical_final("no", k), "No");
  EXPECT_EQ(canonical_final("B", AnswerKind::Choice), "[[B]]");
  EXPECT_EQ(canonical_final("tie", AnswerKind::Choice), "[[C]]");
  EXPECT_EQ(extract_answer(canonical_final("tie", AnswerKind::Choice), AnswerKind::Choice), "tie");
}

TEST(Answers, NumbersGsm8kStyle) {
  const auto k = AnswerKind::Number;
  EXPECT_EQ(extract_answer("3 + 4 = 7, then 7 * 2 = 14\n#### 14", k), "14");
  EXPECT_EQ(extract_answer("She pays $1,234.50 in total. The answer is 1,234.50.", k), "1234.5");
  EXPECT_EQ(extract_answer("First 12, then 30, finally -7", k), "-7");
  EXPECT_EQ(extract_answer("no digits here", k), std::nullopt);
}

TEST(Answers, ChoicesFromJudgeVerdicts) {
  const auto k = AnswerKind::Choice;
  EXPECT_EQ(extract_answer("After weighing both, my verdict: [[B]]", k), "B");
  EXPECT_EQ(extract_answer("[[C]]", k), "tie");
  EXPECT_EQ(extract_answer("Overall, Assistant A is more helpful.", k), "A");
  EXPECT_EQ(extract_answer("Both are equally good, so it's a tie.", k), "tie");
  EXPECT_EQ(extract_answer("B", k), "B");
  EXPECT_EQ(extract_answer("I cannot decide.", k), std::nullopt);
}

TEST(Answers, FreeTextIsNormalised) {
  EXPECT_EQ(extract_answer("The Eiffel  Tower!", AnswerKind::Text), "eiffel tower");
  EXPECT_EQ(extract_answer("Hmm. The answer is: the Blue Lagoon.", AnswerKind::Text), "blue lagoon");
}

TEST(Answers, RegexOverride) {
  EXPECT_EQ(extract_answer("Result => 42 <= done; Result => 43 <=", AnswerKind::Number, "Result => (\\d+)"), "43");
  EXPECT_S2D_ERROR(extract_answer("x", AnswerKind::Text, "(unclosed"), ErrorKind::Input, "--answer-regex");
}

TEST(Answers, TaskKinds) {
  EXPECT_EQ(answer_kind_for_task("last-letter"), AnswerKind::Letters);
  EXPECT_EQ(answer_kind_for_task("coin-flip"), AnswerKind::YesNo);
  EXPECT_EQ(answer_kind_for_task("gsm8k"), AnswerKind::Number);
  EXPECT_EQ(answer_kind_for_task("judge"), AnswerKind::Choice);
  EXPECT_EQ(answer_kind_for_task("trivia"), AnswerKind::Text);
}

TEST(BsmParsers, CriteriaFromMessyPlans) {
  auto c = parse_criteria(
      "Sure! Here are the criteria:\n\n1. **Relevance**: does it answer the question?\n"
      "2) Accuracy - are the facts right\n- Helpfulness: is it useful\n* Clarity\n\n3.\n"
      "5. Depth: detail\n6. Creativity: new ideas\n7. Extra: too many");
  ASSERT_EQ(c.size(), 5u);
  EXPECT_EQ(c[0], "Relevance: does it answer the question?");
  EXPECT_EQ(c[1], "Accuracy - are the facts right");
  EXPECT_EQ(c[3], "Clarity");
  EXPECT_EQ(c[4], "Depth: detail");
  EXPECT_TRUE(parse_criteria("").empty());
  EXPECT_TRUE(parse_criteria("1.\n2.\n---").empty());
}

TEST(BsmParsers, ScoresFromMessyJudgements) {
  EXPECT_EQ(parse_pair_scores("4\n3"), std::make_pair(4, 3));
  EXPECT_EQ(parse_pair_scores("Assistant A: Score: 4/5 - clear.\nAssistant B: 2/5, vague."), std::make_pair(4, 2));
  EXPECT_EQ(parse_pair_scores("Assistant B's score: 5\nAssistant A's score: 1"), std::make_pair(1, 5));
  EXPECT_EQ(parse_pair_scores("A: 3, B: 3 (both fine)"), std::make_pair(3, 3));
  EXPECT_EQ(parse_pair_scores("Scores: 5/5 and 4/5"), std::make_pair(5, 4));
  EXPECT_EQ(parse_pair_scores("Assistant A is better."), std::nullopt);
  EXPECT_EQ(parse_pair_scores("10\n7"), std::nullopt) << "scores outside 1-5 are not scores";
  EXPECT_EQ(parse_pair_scores(""), std::nullopt);
}

TEST(UscParser, PicksTheNamedResponse) {
  EXPECT_EQ(parse_usc_choice("The most consistent response is Response 3.", 5), 3);
  EXPECT_EQ(parse_usc_choice("response #2 agrees with most", 4), 2);
  EXPECT_EQ(parse_usc_choice("The most consistent response is Response 9.", 5), std::nullopt);
  EXPECT_EQ(parse_usc_choice("The most consistent response is Response 3333333333334.", 5),
            std::nullopt);  // fuzz_answers
  EXPECT_EQ(parse_usc_choice("They all agree.", 5), std::nullopt);
}

}  // namespace s2d

namespace s2d {

TEST(Answers, ThinkingIsStrippedAndAnUnclosedThinkIsAParseFailure) {
  EXPECT_EQ(after_thinking("<think>\n2 + 2 is 4, not 5.\n</think>\n\nThe answer is 4."), "\n\nThe answer is 4.");
  EXPECT_EQ(*extract_answer(*after_thinking("<think>maybe 5</think>The answer is 4."), AnswerKind::Number), "4");
  EXPECT_EQ(after_thinking("The answer is 4."), "The answer is 4.");  // thinking off: the whole reply
  EXPECT_FALSE(after_thinking("<think>\nstill thinking when the tokens ran out").has_value());
  // Only the last </think> ends the thinking (a model may quote the tag while it thinks).
  EXPECT_EQ(after_thinking("<think>the tag </think> appears</think>Yes"), "Yes");
}

}  // namespace s2d
