// The toy world's teacher: a symbolic Backend that answers every method step of the toy tasks
// the way a careful reasoner would, so that `s2d data toy-corpus` can run the real method runner
// (the very prompts `generate` renders) and record ideal outputs to train the toy model on.
//
// It knows each task (looked up by the request's tag "task-id|step[|swap]") and the method it is
// serving. System 1 answers are where the toy world plants the two habits that System 2 methods
// exist to fix, both documented in the README:
//   toy-qa with an opinion  the direct answer agrees with the user's opinion (sycophancy, as
//                           preference-tuned chat models show: Sharma et al. 2023)
//   judge                   the direct verdict comes from an annotator who mostly prefers the
//                           first answer (position bias, Zheng et al. 2023)
// System 2 outputs are always correct. Which task sizes get which methods is the corpus's choice.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "s2d/data/task.h"
#include "s2d/engine/backend.h"

namespace s2d::toy {

class Teacher : public Backend {
 public:
  // `tasks` must outlive the teacher. `method`: system1 | cot | rar1 | rar2 | s2a | bsm.
  Teacher(const std::vector<Task>& tasks, std::string method);

  void complete(const std::vector<CompletionRequest>& requests,
                const std::function<void(CompletionResult&&)>& on_result) override;
  std::string describe() const override { return "toy teacher (" + method_ + ")"; }
  int64_t generated_tokens() const override { return 0; }

  // The output for one step; InputError when the task or step is not one the teacher knows.
  std::string answer(const Task& task, const std::string& step, bool swapped, const std::string& prompt) const;

 private:
  std::map<std::string, const Task*> by_id_;
  std::string method_;
};

// A toy QA answer as one sentence that restates the asked fact: "Deia has the mountain Zal.".
// Restating is what lets a tiny model look the value up: once it has written "Deia has the
// mountain", an induction head finds "mountain" in the facts and copies what followed it.
std::string qa_sentence(const Task& task, const std::string& value);

// The BSM evaluation plan the teacher writes (one criterion per line, numbered).
const std::vector<std::string>& bsm_criteria();

// USC's ideal choice: the 1-based index of the first response whose answer is the most common.
int usc_choice(const std::vector<std::string>& answers);

}  // namespace s2d::toy
