// The GGUF reader over a file of the fuzzer's bytes: header, metadata, tensor table, every
// tensor's dequantisation, and the tokenizer files built from the metadata.
#include "fuzz_util.h"
#include "s2d/model/gguf.h"
#include "s2d/text/gguf_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = s2d::fuzz::write_input(data, size);
  s2d::fuzz::expect_clean([&] {
    s2d::GgufFile f(path);
    for (const auto& t : f.tensors())
      if (t.numel() <= (int64_t{1} << 20)) (void)s2d::dequantize(t, path);  // the data must lie inside the map
    (void)s2d::hf_tokenizer_from_gguf(f.metadata(), path);
  });
  return 0;
}
