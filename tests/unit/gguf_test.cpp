// GGUF files that are wrong in one way each: every one is an InputError (exit 2) naming the
// file and the key or tensor, and none reads out of bounds (the fuzz target covers the rest).
#include "s2d/model/gguf.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "s2d/model/gguf_import.h"
#include "s2d/text/gguf_tokenizer.h"
#include "s2d/util/atomic_file.h"
#include "s2d/util/error.h"
#include "test_util.h"

namespace s2d {
namespace {

// Builds GGUF bytes field by field.
struct Bytes {
  std::string b;
  template <typename T>
  Bytes& put(T v) {
    b.append(reinterpret_cast<const char*>(&v), sizeof v);
    return *this;
  }
  Bytes& str(const std::string& s) {
    put<uint64_t>(s.size());
    b += s;
    return *this;
  }
  Bytes& kv_string(const std::string& k, const std::string& v) { return str(k).put<uint32_t>(8).str(v); }
  Bytes& kv_u32(const std::string& k, uint32_t v) { return str(k).put<uint32_t>(4).put(v); }
};

// A valid file: `kv` metadata entries, one F32 tensor "t" of 8 values at offset 0.
Bytes header(uint32_t version = 3, uint64_t tensors = 1, uint64_t kv = 1) {
  Bytes x;
  x.b = "GGUF";
  x.put(version).put(tensors).put(kv);
  return x;
}
std::string with_tensor(Bytes x, uint32_t type = 0, uint64_t offset = 0, uint64_t ne0 = 8, size_t data_bytes = 32) {
  x.str("t").put<uint32_t>(1).put(ne0).put(type).put(offset);
  x.b.resize((x.b.size() + 31) / 32 * 32, '\0');
  x.b.append(data_bytes, '\0');
  return x.b;
}

std::string write(const std::string& name, const std::string& bytes) {
  const std::string path = ::testing::TempDir() + "/" + name;
  write_file_atomic(path, bytes);
  return path;
}

TEST(Gguf, ValidFileReads) {
  GgufFile f(write("ok.gguf", with_tensor(header().kv_string("general.architecture", "llama"))));
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.metadata()["general.architecture"], "llama");
  ASSERT_EQ(f.tensors().size(), 1u);
  EXPECT_EQ(dequantize(f.tensors()[0], f.path()), std::vector<float>(8, 0.0f));
}

TEST(Gguf, DefectsNameTheKeyOrTensor) {
  const auto kv = header().kv_string("general.architecture", "llama");
  EXPECT_S2D_ERROR(GgufFile(write("magic.gguf", "GGML" + with_tensor(kv).substr(4))), ErrorKind::Input, "magic",
                   "not a GGUF file");
  EXPECT_S2D_ERROR(GgufFile(write("version.gguf", with_tensor(header(7).kv_string("a", "b")))), ErrorKind::Input,
                   "'version'", "found 7");
  const std::string whole = with_tensor(kv);
  for (size_t cut : {size_t{3}, size_t{10}, size_t{30}, size_t{60}})  // inside magic, counts, a key, the tensor table
    EXPECT_S2D_ERROR(GgufFile(write("cut.gguf", whole.substr(0, cut))), ErrorKind::Input, "truncated GGUF file");
  EXPECT_S2D_ERROR(GgufFile(write("type.gguf", with_tensor(kv, 17))), ErrorKind::Input, "tensor t",
                   "unsupported tensor type", "type 17");
  EXPECT_S2D_ERROR(GgufFile(write("past.gguf", with_tensor(kv, 0, 64))), ErrorKind::Input, "tensor t", "past the end");
  EXPECT_S2D_ERROR(GgufFile(write("short.gguf", with_tensor(kv, 0, 0, 8, 16))), ErrorKind::Input, "tensor t",
                   "past the end");
  EXPECT_S2D_ERROR(GgufFile(write("blocks.gguf", with_tensor(kv, 8, 0, 40))), ErrorKind::Input, "tensor t",
                   "whole number of blocks");
  EXPECT_S2D_ERROR(GgufFile(write("count.gguf", with_tensor(header(3, uint64_t{1} << 40)))), ErrorKind::Input,
                   "tensor_count");
  Bytes big = header();
  big.str("k").put<uint32_t>(9).put<uint32_t>(8).put<uint64_t>(uint64_t{1} << 60);  // an array longer than the file
  EXPECT_S2D_ERROR(GgufFile(write("array.gguf", big.b)), ErrorKind::Input, "'k'", "array longer than the file");
  Bytes vt = header();
  vt.str("k").put<uint32_t>(99);
  EXPECT_S2D_ERROR(GgufFile(write("vtype.gguf", vt.b)), ErrorKind::Input, "'k'", "unknown GGUF value type");
}

// Found by fuzz_gguf: metadata strings are not validated UTF-8, and the error quoting one used to
// throw from nlohmann's dump instead of reporting the key.
TEST(Gguf, InvalidUtf8InMetadataIsReportedNotThrownFromJson) {
  GgufFile f(write("utf8.gguf", with_tensor(header().kv_string("tokenizer.ggml.model", "g\x87pt"))));
  EXPECT_S2D_ERROR(hf_tokenizer_from_gguf(f.metadata(), f.path()), ErrorKind::Input, "'tokenizer.ggml.model'",
                   "unsupported GGUF tokenizer", "found \"g\xEF\xBF\xBDpt\"");
}

// A metadata key of another type than the format's is named, not a bare nlohmann type_error.
TEST(Gguf, MistypedTokenizerKeysAreNamed) {
  auto tokenizer = [](Bytes x) {
    return x.kv_string("tokenizer.ggml.model", "gpt2")
        .str("tokenizer.ggml.tokens")
        .put<uint32_t>(9)
        .put<uint32_t>(8)
        .put<uint64_t>(1)
        .str("a")
        .str("tokenizer.ggml.merges")
        .put<uint32_t>(9)
        .put<uint32_t>(8)
        .put<uint64_t>(0);
  };
  GgufFile bos(write("bos.gguf", with_tensor(tokenizer(header(3, 1, 4)).kv_u32("tokenizer.ggml.add_bos_token", 1))));
  EXPECT_S2D_ERROR(hf_tokenizer_from_gguf(bos.metadata(), bos.path()), ErrorKind::Input,
                   "'tokenizer.ggml.add_bos_token'", "true or false");
  GgufFile types(
      write("types.gguf", with_tensor(tokenizer(header(3, 1, 4)).kv_string("tokenizer.ggml.token_type", "x"))));
  EXPECT_S2D_ERROR(hf_tokenizer_from_gguf(types.metadata(), types.path()), ErrorKind::Input,
                   "'tokenizer.ggml.token_type'");
  GgufFile ok(write("tok.gguf", with_tensor(tokenizer(header(3, 1, 3)))));
  EXPECT_EQ(hf_tokenizer_from_gguf(ok.metadata(), ok.path()).tokenizer["model"]["vocab"]["a"], 0);
}

TEST(Gguf, ImportRefusesAnotherArchitectureAndKeepsTheOutputUntouched) {
  const std::string in = write("gpt2.gguf", with_tensor(header().kv_string("general.architecture", "gpt2")));
  const std::string out = ::testing::TempDir() + "/gguf_out";
  std::filesystem::remove_all(out);
  EXPECT_S2D_ERROR(import_gguf({.gguf_path = in, .out_dir = out}), ErrorKind::Input, "'general.architecture'",
                   "found gpt2");
  EXPECT_FALSE(std::filesystem::exists(out));
  EXPECT_S2D_ERROR(import_gguf({.gguf_path = in, .out_dir = in}), ErrorKind::Input, "already exists");
  EXPECT_S2D_ERROR(import_gguf({.gguf_path = in, .out_dir = out, .dtype = "fp8"}), ErrorKind::Input, "--dtype");
}

}  // namespace
}  // namespace s2d
