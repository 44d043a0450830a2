// The majority vote over a task's sampled answers, shared by `s2d filter` (self-consistency,
// perturbation) and `s2d eval --samples k`.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace s2d {

struct Vote {
  std::optional<std::string> answer;  // the most frequent answer; none when nothing parsed or on a tie
  int votes = 0;                      // samples that gave the top answer (on a tie, each tied one's count)
  int total = 0;                      // samples, unparsed ones included
  bool tie = false;                   // two or more answers share the top count
};

// `answers` holds one entry per sample; nullopt is a sample whose answer did not parse. A tie
// gives no answer: picking one of the tied answers (the alphabetically first, say) would favour
// some labels ("A" over "B" for a judge) for reasons that have nothing to do with the samples.
Vote majority_vote(const std::vector<std::optional<std::string>>& answers);

}  // namespace s2d
