#include "s2d/text/chat_template.h"

#include <gtest/gtest.h>

#include "s2d/util/error.h"
#include "sp_fixture.h"
#include "test_util.h"

namespace s2d {
using namespace s2d::testing;

namespace {
std::vector<int> cat(std::initializer_list<std::vector<int>> parts) {
  std::vector<int> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}
}  // namespace

TEST(Tokenizer, RoundTripsTextIncludingBytesOutsideTheVocabulary) {
  const auto& tok = tiny_tokenizer();
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_EQ(tok.eos_id(), 2);
  const std::string text = "Mary John ünïcödé 42 € \"quoted\"";
  EXPECT_EQ(tok.decode(tok.encode(text)), text);
  // "<s>" typed by a user is text, never the BOS id.
  for (int id : tok.encode("<s> </s>")) EXPECT_NE(id, tok.bos_id());
  EXPECT_EQ(tok.piece_to_id("no-such-piece"), -1);
  EXPECT_S2D_ERROR(tok.decode({999999}), ErrorKind::Input, "token id out of range");
}

TEST(ChatTemplate, Llama2PutsSpecialTokensAsIdsAndMasksTheAnswer) {
  const auto& tok = tiny_tokenizer();
  auto t = ChatTemplate::by_name("llama-2");
  auto r = t.render(tok, {{"system", "Be brief."}, {"user", "Q?"}, {"assistant", "yes"}}, false);
  const auto expected = cat({{tok.bos_id()},
                             tok.encode("[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nQ? [/INST]"),
                             tok.encode("yes"),
                             {tok.eos_id()}});
  EXPECT_EQ(r.ids, expected);
  const size_t answer_len = tok.encode("yes").size() + 1;
  for (size_t i = 0; i < r.ids.size(); ++i) EXPECT_EQ(r.assistant_mask[i], i >= r.ids.size() - answer_len) << i;
  // The generation prompt is exactly the prefix of the full conversation before the answer.
  auto prompt = t.render(tok, {{"system", "Be brief."}, {"user", "Q?"}}, true);
  EXPECT_EQ(prompt.ids, std::vector<int>(expected.begin(), expected.end() - answer_len));
}

TEST(ChatTemplate, PromptIsAPrefixOfTheTrainingSequenceForEveryTemplate) {
  const auto& tok = tiny_tokenizer();
  for (const auto& name : ChatTemplate::names()) {
    auto t = ChatTemplate::by_name(name);
    auto full = t.render(tok, {{"user", "Is the coin still heads up?"}, {"assistant", "no"}}, false);
    auto prompt = t.render(tok, {{"user", "Is the coin still heads up?"}}, true);
    ASSERT_LE(prompt.ids.size(), full.ids.size()) << name;
    EXPECT_TRUE(std::equal(prompt.ids.begin(), prompt.ids.end(), full.ids.begin())) << name;
    int masked = 0;
    for (auto m : full.assistant_mask) masked += m;
    EXPECT_EQ(masked, static_cast<int>(tok.encode("no").size()) + 1) << name;
    // The answer ends with exactly one stop token, and it is the last masked token.
    int masked_stops = 0;
    for (size_t i = 0; i < full.ids.size(); ++i)
      masked_stops += full.assistant_mask[i] && full.ids[i] == t.stop_ids(tok)[0];
    EXPECT_EQ(masked_stops, 1) << name;
  }
}

TEST(ChatTemplate, ChatMLUsesItsMarkersAsIds) {
  const auto& tok = tiny_tokenizer();
  auto r = ChatTemplate::by_name("chatml").render(tok, {{"user", "hi"}}, true);
  EXPECT_EQ(r.ids.front(), tok.piece_to_id("<|im_start|>"));
  EXPECT_EQ(ChatTemplate::by_name("chatml").stop_ids(tok)[0], tok.piece_to_id("<|im_end|>"));
}

TEST(ChatTemplate, BadInputs) {
  const auto& tok = tiny_tokenizer();
  EXPECT_S2D_ERROR(ChatTemplate::by_name("vicuna"), ErrorKind::Input, "--chat-template", "vicuna");
  auto t = ChatTemplate::by_name("llama-2");
  EXPECT_S2D_ERROR(t.render(tok, {{"robot", "x"}}, false), ErrorKind::Input, "messages[0].role");
  EXPECT_S2D_ERROR(t.render(tok, {{"user", "x"}, {"assistant", "y"}}, true), ErrorKind::Input, "user turn");
}

TEST(ChatTemplate, DetectsTemplateFromTokenizerConfig) {
  const auto dir = fresh_dir("d");
  EXPECT_EQ(detect_chat_template(dir), "");
  write_text(dir + "/tokenizer_config.json",
             R"({"chat_template": "{% for m in messages %}<|im_start|>{{m.role}}{% endfor %}"})");
  EXPECT_EQ(detect_chat_template(dir), "chatml");
  write_text(dir + "/tokenizer_config.json", R"({"chat_template": "[INST] <<SYS>>"})");
  EXPECT_EQ(detect_chat_template(dir), "llama-2");
}

}  // namespace s2d
