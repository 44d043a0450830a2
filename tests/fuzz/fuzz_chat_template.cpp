// Chat-template rendering, two ways. With bit 6 of the first byte set, the rest is a Jinja
// template (a checkpoint's chat_template is untrusted input) rendered over a fixed conversation.
// Otherwise the first byte picks a built-in template and add_generation_prompt, and the rest is
// split at NUL bytes into messages whose roles cycle system/user/assistant, rendered with the
// toy model's sentencepiece tokenizer.
#include "fuzz_util.h"
#include "s2d/text/chat_template.h"
#include "s2d/text/jinja.h"
#include "s2d/text/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const s2d::Tokenizer tok = s2d::Tokenizer::load(S2D_SOURCE_DIR "/data/toy/model/tokenizer.model");
  static const char* kNames[] = {"llama-2", "mistral", "zephyr", "chatml", "plain"};
  if (size == 0) return 0;
  if (data[0] & 0x40) {
    static const nlohmann::ordered_json ctx = {{"messages",
                                                {{{"role", "system"}, {"content", "Be brief."}},
                                                 {{"role", "user"}, {"content", "2+2?"}},
                                                 {{"role", "assistant"}, {"content", "<think>x</think>4"}},
                                                 {{"role", "user"}, {"content", "and 3?"}}}},
                                               {"add_generation_prompt", true},
                                               {"bos_token", "<s>"},
                                               {"eos_token", "</s>"},
                                               {"tools", nullptr},
                                               {"enable_thinking", false}};
    s2d::fuzz::expect_clean([&] {
      const s2d::jinja::Template t(std::string(reinterpret_cast<const char*>(data) + 1, size - 1), "fuzz.jinja");
      // Well inside libFuzzer's -timeout=10 (scripts/fuzz.sh), so a slow template is the
      // interpreter's error, not a reported timeout.
      (void)t.render(ctx, std::chrono::seconds(2));
    });
    return 0;
  }
  const std::string name = kNames[data[0] % 5];
  const bool gen = (data[0] & 0x80) != 0;
  std::vector<s2d::ChatMessage> msgs;
  static const char* kRoles[] = {"system", "user", "assistant"};
  std::string cur;
  for (size_t i = 1; i <= size; ++i) {
    if (i == size || data[i] == 0) {
      msgs.push_back({kRoles[msgs.size() % 3], cur});
      cur.clear();
    } else {
      cur.push_back(static_cast<char>(data[i]));
    }
  }
  s2d::fuzz::expect_clean([&] {
    const auto t = s2d::ChatTemplate::by_name(name);
    (void)t.render(tok, msgs, gen);
    (void)t.stop_ids(tok);
  });
  return 0;
}
