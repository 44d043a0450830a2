// The toy world's task generators (docs/toy-world.md), next to last-letter and coin-flip in
// generators.h. Deterministic in the seed, platform-independent.
//
//   arithmetic  "What is 4721 + 3856?"                                   -> "8577"
//   toy-qa      "Facts: Vorland has the capital Quilp. Tosia has the river ... Question: Which
//               capital does Vorland have?"                               -> "Quilp"
//               meta: {"relation", "entity"}, extra: "context", "question", "incorrect_answer"
//               (another value from the facts, the wrong answer a biased prompt suggests),
//               "aliases" ([answer]: a direct answer is a sentence, right when it names the value)
//   judge       a toy-qa question, its true answer and an off-topic one    -> label "A" | "B"
//
// toy-qa's facts are invented and stated in the question itself, so any question can be answered
// by reading, and no two splits need to share a fact. Each fact of a question has its own
// relation (capital, river, mountain, language, currency).
#pragma once

#include <string>
#include <vector>

#include "s2d/data/task_generators.h"

namespace s2d::toy {

// One toy-qa fact, as the facts and the answers that restate them word it: "Vorland has the
// capital Quilp.".
std::string fact_sentence(const std::string& entity, const std::string& relation, const std::string& value);
// The question about one fact: "Which capital does Vorland have?".
std::string question_about(const std::string& entity, const std::string& relation);
// The facts of a toy-qa context, read back from its sentences, in order: "Vorland has the capital
// Quilp. Tosia has ..." -> {{"Vorland", "capital", "Quilp"}, {"Tosia", ...}}. Sentences not in
// fact_sentence's form are skipped.
struct ParsedFact {
  std::string entity, relation, value;
};
std::vector<ParsedFact> facts_of(const std::string& context);

// Two numbers of exactly opt.k digits each.
std::vector<Task> generate_arithmetic(const SyntheticTaskOptions& opt);
// opt.k facts per question (2..5, one per relation), one of which is asked about.
std::vector<Task> generate_qa(const SyntheticTaskOptions& opt);
// A judge task per toy-qa question: the true answer and an off-topic one (another fact of the
// question, about another relation), in random order.
std::vector<Task> generate_judge(const SyntheticTaskOptions& opt);

}  // namespace s2d::toy
