#include "s2d/methods/vote.h"

#include <map>

namespace s2d {

Vote majority_vote(const std::vector<std::optional<std::string>>& answers) {
  Vote v;
  v.total = static_cast<int>(answers.size());
  std::map<std::string, int> counts;
  for (const auto& a : answers)
    if (a) ++counts[*a];
  for (const auto& [a, c] : counts) {
    if (c > v.votes) {
      v.answer = a;
      v.votes = c;
      v.tie = false;
    } else if (c == v.votes) {
      v.tie = true;
    }
  }
  if (v.tie) v.answer.reset();
  return v;
}

}  // namespace s2d
