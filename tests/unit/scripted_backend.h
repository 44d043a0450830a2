// A Backend that answers every request with a fixed reply, recording the prompts: for testing
// pipeline logic without a model.
#pragma once

#include <string>
#include <vector>

#include "s2d/engine/backend.h"

namespace s2d::testing {

class ScriptedBackend : public Backend {
 public:
  std::string reply;
  std::vector<std::string> prompts;
  void complete(const std::vector<CompletionRequest>& reqs,
                const std::function<void(CompletionResult&&)>& cb) override {
    for (const auto& r : reqs) {
      prompts.push_back(r.messages.at(0).content);
      CompletionResult res{r.id, {}, 10, 0.0};
      for (int s : r.samples) res.choices.push_back({s, reply, "stop", 5});
      cb(std::move(res));
    }
  }
  std::string describe() const override { return "scripted"; }
  int64_t generated_tokens() const override { return 0; }
};

}  // namespace s2d::testing
