#include "s2d/toy/world.h"

#include <string>

#include "../data/task_draw.h"
#include "s2d/util/error.h"
#include "s2d/util/strings.h"

namespace s2d::toy {

namespace {

using detail::draw_distinct;
using detail::generate_distinct;
using detail::uniform_below;

void check_n_k(const SyntheticTaskOptions& opt, const char* k_flag, int min_k, int max_k) {
  detail::check_n(opt);
  if (opt.k < min_k || opt.k > max_k) {
    throw_input("out of range", {.field = k_flag,
                                 .expected = std::to_string(min_k) + ".." + std::to_string(max_k),
                                 .found = std::to_string(opt.k)});
  }
}

// Invented words: two or three consonant-vowel syllables, capitalised ("Tosk", "Quilmar").
// Entities get a country-like ending so that they read differently from values.
std::string invented_word(std::mt19937_64& rng, bool entity) {
  static const char* onsets[] = {"b", "d", "f", "g", "k",  "l",  "m",  "n",  "p",  "r",
                                 "s", "t", "v", "z", "br", "dr", "gr", "kl", "st", "tr"};
  static const char* vowels[] = {"a", "e", "i", "o", "u"};
  static const char* codas[] = {"", "", "n", "r", "sk", "l", "m", "x"};
  static const char* endings[] = {"ia", "land", "ora", "mark", "stan"};
  std::string w;
  // Values are one syllable ("Tosk", "Dra"): short enough for a tiny model to copy reliably.
  const int syllables = entity ? 1 + static_cast<int>(uniform_below(rng, 2)) : 1;
  for (int s = 0; s < syllables; ++s) w += std::string(onsets[uniform_below(rng, 20)]) + vowels[uniform_below(rng, 5)];
  w += entity ? endings[uniform_below(rng, 5)] : codas[uniform_below(rng, 8)];
  w[0] = static_cast<char>(w[0] - 'a' + 'A');
  return w;
}

const char* kRelations[] = {"capital", "river", "mountain", "language", "currency"};

struct Fact {
  std::string entity, relation, value;
  // "Deia has the mountain Zal.": the relation word, which no other fact of the question uses,
  // comes right before the value. An answer that restates the fact ("Deia has the mountain")
  // finds the value by copying what followed "mountain" in the facts: an induction head's
  // one-token match. ("The mountain of Deia is Zal." put "is" after every entity, and entities
  // share their endings, so the match needed three tokens: the toy model never learnt it.)
  std::string sentence() const { return fact_sentence(entity, relation, value); }
};

// k facts about distinct entities with distinct values and distinct relations, so that the
// question's relation word alone finds its fact (one-token lookup, then a copy).
std::vector<Fact> draw_facts(std::mt19937_64& rng, int k) {
  const auto relations = draw_distinct(rng, 5, k);
  std::vector<Fact> facts;
  auto fresh = [&](bool entity) {
    for (;;) {
      std::string w = invented_word(rng, entity);
      bool used = false;
      for (const auto& f : facts) used |= (f.entity == w || f.value == w);
      if (!used) return w;
    }
  };
  for (int i = 0; i < k; ++i) {
    Fact f;
    f.entity = fresh(true);
    f.value = fresh(false);
    f.relation = kRelations[relations[static_cast<size_t>(i)]];
    facts.push_back(std::move(f));
  }
  return facts;
}

struct QaDraw {
  std::string context, question, input, answer, wrong;
  Fact asked, other;  // other: the fact whose value is `wrong`
};

// The asked fact sits at a random place among the k, so position says nothing.
QaDraw draw_qa(std::mt19937_64& rng, int k) {
  auto facts = draw_facts(rng, k);
  const size_t asked = uniform_below(rng, static_cast<uint64_t>(k));
  QaDraw q;
  for (const auto& f : facts) q.context += (q.context.empty() ? "" : " ") + f.sentence();
  q.asked = facts[asked];
  q.question = question_about(q.asked.entity, q.asked.relation);
  q.input = "Facts: " + q.context + " Question: " + q.question;
  q.answer = q.asked.value;
  q.other = facts[(asked + 1 + uniform_below(rng, static_cast<uint64_t>(k - 1))) % k];
  q.wrong = q.other.value;
  return q;
}

}  // namespace

std::string fact_sentence(const std::string& entity, const std::string& relation, const std::string& value) {
  return entity + " has the " + relation + " " + value + ".";
}

std::string question_about(const std::string& entity, const std::string& relation) {
  return "Which " + relation + " does " + entity + " have?";
}

std::vector<ParsedFact> facts_of(const std::string& context) {
  static const std::string kHas = " has the ";
  std::vector<ParsedFact> facts;
  for (size_t pos = 0; pos < context.size();) {
    size_t end = context.find('.', pos);
    if (end == std::string::npos) end = context.size();
    const std::string sentence = trim(context.substr(pos, end - pos));
    pos = end + 1;
    const size_t has = sentence.find(kHas), space = sentence.rfind(' ');
    if (has == std::string::npos || space <= has + kHas.size()) continue;
    const size_t rel = has + kHas.size();
    facts.push_back({sentence.substr(0, has), sentence.substr(rel, space - rel), sentence.substr(space + 1)});
  }
  return facts;
}

std::vector<Task> generate_arithmetic(const SyntheticTaskOptions& opt) {
  check_n_k(opt, "--digits", 1, 9);
  return generate_distinct(opt, "arithmetic", [&](std::mt19937_64& rng) {
    uint64_t lo = 1;
    for (int i = 1; i < opt.k; ++i) lo *= 10;
    const uint64_t span = lo * 10 - (opt.k == 1 ? 0 : lo);
    const uint64_t base = opt.k == 1 ? 0 : lo;
    const uint64_t a = base + uniform_below(rng, span), b = base + uniform_below(rng, span);
    Task t;
    t.input = "What is " + std::to_string(a) + " + " + std::to_string(b) + "?";
    t.answer = std::to_string(a + b);
    t.meta = {{"digits", opt.k}};
    return t;
  });
}

std::vector<Task> generate_qa(const SyntheticTaskOptions& opt) {
  check_n_k(opt, "--facts", 2, 5);
  return generate_distinct(opt, "toy-qa", [&](std::mt19937_64& rng) {
    QaDraw q = draw_qa(rng, opt.k);
    Task t;
    t.input = q.input;
    t.answer = q.answer;
    t.meta = {{"facts", opt.k}, {"relation", q.asked.relation}, {"entity", q.asked.entity}};
    // aliases: a direct answer is a sentence ("Loia has the river Ve."), right when it names the
    // value as a whole word (eval's TriviaQA rule).
    t.extra = {
        {"context", q.context}, {"question", q.question}, {"incorrect_answer", q.wrong}, {"aliases", {q.answer}}};
    return t;
  });
}

std::vector<Task> generate_judge(const SyntheticTaskOptions& opt) {
  check_n_k(opt, "--facts", 2, 5);
  return generate_distinct(opt, "judge", [&](std::mt19937_64& rng) {
    QaDraw q = draw_qa(rng, opt.k);
    // The true answer restates the asked fact word for word, as toy-qa's direct answers do. The
    // other is off-topic: another fact of the question, true but about another relation. (A false
    // answer that mixed up the value, "Loia has the river Ka.", left the judgement a comparison of
    // two values that the toy model never learnt, in one step or in BSM's scores; checking the
    // relation word against the question's is a one-token match. docs/toy-world.md "How the rows got here".)
    const std::string good = fact_sentence(q.asked.entity, q.asked.relation, q.answer);
    const std::string bad = q.other.sentence();
    const bool good_first = uniform_below(rng, 2) == 0;
    Task t;
    t.input = q.input;
    t.meta = {{"facts", opt.k}, {"source", "toy"}};
    t.extra = {{"question", q.input},
               {"response_a", good_first ? good : bad},
               {"response_b", good_first ? bad : good},
               {"label", good_first ? "A" : "B"},
               {"context", q.context}};
    return t;
  });
}

}  // namespace s2d::toy
