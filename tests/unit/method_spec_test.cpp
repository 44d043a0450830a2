// Golden files for every built-in method's rendered prompts (tests/data/golden/), and template
// validation. To accept an intended wording change: S2D_UPDATE_GOLDEN=1, rerun, review the diff.
#include "s2d/methods/method_spec.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "s2d/methods/method_def.h"
#include "s2d/util/error.h"
#include "test_util.h"

namespace s2d {
using namespace s2d::testing;

namespace {
const std::map<std::string, std::string> kVars = {
    {"input", "A coin is heads up. Mary flips the coin. Is the coin still heads up?"},
    {"format_hint", " Answer Yes or No."},
    {"rephrased", "The coin starts heads up and Mary turns it over once. Is heads still showing?"},
    {"principles", "Each flip reverses the coin, so an odd number of flips leaves it tails up."},
    {"context", "none"},
    {"question", "What is the capital of Zembla?"},
    {"response_a", "The capital of Zembla is Onhava."},
    {"response_b", "I think it is Kobaltana."},
    {"criterion", "Accuracy: are the facts right?"},
    {"judgements", "- Accuracy: Assistant A 5/5, Assistant B 2/5\n"},
    {"responses", "Response 1: Onhava\nResponse 2: Onhava\nResponse 3: Kobaltana\n"},
};
}  // namespace

TEST(MethodTemplates, RenderedPromptsMatchGoldenFiles) {
  const std::string golden = std::string(S2D_SOURCE_DIR) + "/tests/data/golden";
  const bool update = std::getenv("S2D_UPDATE_GOLDEN") != nullptr;
  size_t checked = 0, steps = 0;
  for (const auto& def : method_defs()) {  // every registered method ships a template
    const std::string& m = def.name;
    steps += def.steps.size();
    MethodSpec spec = load_method_spec(m);
    EXPECT_FALSE(spec.source.empty()) << m << ": templates must cite their source";
    for (const auto& [step, tmpl] : spec.steps) {
      auto vars = kVars;
      vars["format_hint"] = spec.format_hint("coin-flip");
      const std::string got = render_template(tmpl, vars);
      const std::string path = golden + "/" + m + "." + step + ".txt";
      if (update) write_text(path, got);
      ASSERT_TRUE(std::filesystem::exists(path)) << path << " missing; run with S2D_UPDATE_GOLDEN=1";
      EXPECT_EQ(got, read_text(path)) << path;
      EXPECT_EQ(got.find('{'), std::string::npos) << path << ": unrendered placeholder";
      ++checked;
    }
  }
  EXPECT_EQ(checked, steps);
  EXPECT_GE(checked, 14u);  // system1 cot think rar1 rar2(2) stepback(2) s2a(2) bsm(3) usc
}

TEST(MethodTemplates, RenderHandlesEscapesAndUnknownNames) {
  EXPECT_EQ(render_template("{{x}} {input} {nope}", {{"input", "hi"}}), "{x} hi {nope}");
}

TEST(MethodTemplates, BadTemplatesAreNamed) {
  const auto dir = fresh_dir("d");
  write_text(dir + "/missing.json",
             R"({"method": "rar2", "steps": {"rephrase": "{input}", "respond": "{input} only"}})");
  EXPECT_S2D_ERROR(load_method_spec("rar2", dir + "/missing.json"), ErrorKind::Input, "missing.json", "steps.respond",
                   "{rephrased}");
  write_text(dir + "/unknown.json", R"({"method": "cot", "steps": {"reason": "{input} {answer}"}})");
  EXPECT_S2D_ERROR(load_method_spec("cot", dir + "/unknown.json"), ErrorKind::Input, "unknown placeholder", "{answer}");
  write_text(dir + "/other.json", R"({"method": "cot", "steps": {"reason": "{input}"}})");
  EXPECT_S2D_ERROR(load_method_spec("rar1", dir + "/other.json"), ErrorKind::Input, "another method");
  write_text(dir + "/nostep.json", R"({"method": "s2a", "steps": {"extract": "{input}"}})");
  EXPECT_S2D_ERROR(load_method_spec("s2a", dir + "/nostep.json"), ErrorKind::Input, "steps.answer");
  EXPECT_S2D_ERROR(load_method_spec("tot"), ErrorKind::Input, "--method", "tot");
}

}  // namespace s2d
