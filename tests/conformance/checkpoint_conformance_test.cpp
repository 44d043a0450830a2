// A today-style checkpoint end to end against transformers (make_checkpoint_reference.py): a
// model directory with a tokenizer.json, its own Jinja chat template and generation_config.json
// end-of-turn ids loads; the template renders to the ids apply_chat_template(tokenize=True) gives
// (enable_thinking passed through); and greedy decoding from the generation prompt gives HF's
// 16 tokens, stopping where HF stops.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "conformance_main.h"
#include "s2d/engine/generator.h"
#include "s2d/model/checkpoint.h"
#include "s2d/text/chat_template.h"
#include "s2d/util/json.h"

namespace {

std::string g_dir;

TEST(Checkpoint, TemplateIdsAndGreedyTokensEqualTransformers) {
  const s2d::ModelBundle b = s2d::load_model(g_dir + "/model", {.device = "cpu", .dtype = "fp32"});
  ASSERT_TRUE(b.tokenizer);
  EXPECT_NE(b.tokenizer->path().find("tokenizer.json"), std::string::npos);
  const nlohmann::json ref = s2d::read_json_file(g_dir + "/reference.json");
  int checked = 0, greedy = 0;
  for (const auto& c : ref["cases"]) {
    const s2d::ChatTemplate t = s2d::load_chat_template(g_dir + "/model", *b.tokenizer, "auto", c["kwargs"]);
    EXPECT_EQ(t.stop_ids(*b.tokenizer), ref["stop_ids"].get<std::vector<int>>());
    std::vector<s2d::ChatMessage> msgs;
    for (const auto& m : c["messages"]) msgs.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
    const bool gen = c["add_generation_prompt"].get<bool>();
    const auto rendered = t.render(*b.tokenizer, msgs, gen);
    EXPECT_EQ(rendered.ids, c["ids"].get<std::vector<int>>())
        << c["messages"].dump() << " gen=" << gen << " " << c["kwargs"].dump();
    ++checked;
    if (!gen) continue;
    s2d::Generator g(*b.model, *b.tokenizer, {.batch_size = 1});
    s2d::GenRequest r{.prompt_ids = rendered.ids, .stop_ids = t.stop_ids(*b.tokenizer)};
    r.sampling.temperature = 0;
    r.sampling.max_new_tokens = 16;
    std::vector<int> got;
    g.run({r}, [&](s2d::GenResult&& res) { got = res.samples.at(0).tokens; });
    std::vector<int> want = c["greedy"].get<std::vector<int>>();
    if (!want.empty() && std::count(r.stop_ids.begin(), r.stop_ids.end(), want.back()))
      want.pop_back();  // s2d keeps the stop token out
    EXPECT_EQ(got, want) << c["messages"].dump();
    ++greedy;
  }
  std::printf(
      "checkpoint (tokenizer.json + own template): %d renders identical to apply_chat_template, %d greedy runs "
      "identical\n",
      checked, greedy);
}

}  // namespace

int main(int argc, char** argv) {
  g_dir = s2d::conformance::Flags(argc, argv).get("--dir");
  if (g_dir.empty())
    return s2d::conformance::usage(
        "s2d_checkpoint_conformance_tests --dir DIR (made by tests/conformance/make_checkpoint_reference.py)");
  return RUN_ALL_TESTS();
}
