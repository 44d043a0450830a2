// The tokenizer.json reader, two ways: the input's first byte picks whether the rest is a
// tokenizer.json to load (then encode a fixed text with it), or a text to encode and decode with
// two fixed tokenizers (byte-level Llama-3 form, and Llama-2's Metaspace export with byte fallback).
#include "fuzz_util.h"
#include "s2d/text/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const s2d::Tokenizer fixed[] = {s2d::Tokenizer::load(S2D_SOURCE_DIR "/tests/fuzz/tokenizers/llama3.json"),
                                         s2d::Tokenizer::load(S2D_SOURCE_DIR "/tests/fuzz/tokenizers/legacy.json")};
  if (size == 0) return 0;
  if (data[0] & 1) {
    static const std::string path = "/dev/shm/s2d_fuzz_tok." + std::to_string(::getpid()) + ".json";
    FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) return 0;
    std::fwrite(data + 1, 1, size - 1, f);
    std::fclose(f);
    s2d::fuzz::expect_clean([&] {
      const auto t = s2d::Tokenizer::load(path);
      (void)t.decode(t.encode_with_special("Hello <|im_start|> world 123 \xe6\x97\xa5"));
    });
    return 0;
  }
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  for (const auto& t : fixed) {
    const auto ids = t.encode(text);
    for (int id : ids)
      if (id < 0 || id >= t.vocab_size()) __builtin_trap();  // an id the model could not embed
    (void)t.decode(ids);
    (void)t.encode_with_special(text);
  }
  return 0;
}
