#include "s2d/model/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>

#include "s2d/util/error.h"
#include "test_util.h"

namespace s2d {
using namespace s2d::testing;

namespace {
// A raw file from a header string plus `data_bytes` zero bytes.
void write_raw(const std::string& path, const std::string& header, size_t data_bytes, uint64_t claimed_len = 0) {
  std::string out(8, '\0');
  const uint64_t n = claimed_len ? claimed_len : header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  out += header;
  out.append(data_bytes, '\0');
  write_text(path, out);
}
}  // namespace

TEST(Safetensors, WritesAndReadsBack) {
  const auto dir = fresh_dir("d");
  std::vector<float> a = {1.f, 2.f, 3.f, 4.f, 5.f, 6.f};
  std::vector<uint16_t> b = {0x3f80, 0x4000};  // bf16 1.0, 2.0
  write_safetensors(dir + "/m.safetensors",
                    {{"a", StDtype::F32, {2, 3}, reinterpret_cast<const uint8_t*>(a.data()), 24},
                     {"b", StDtype::BF16, {2}, reinterpret_cast<const uint8_t*>(b.data()), 4}});
  SafetensorsFile f(dir + "/m.safetensors");
  ASSERT_EQ(f.tensors().size(), 2u);
  const auto& va = f.tensors().at("a");
  EXPECT_EQ(va.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(std::memcmp(va.data, a.data(), 24), 0);
  EXPECT_EQ(f.tensors().at("b").dtype, StDtype::BF16);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(reinterpret_cast<uintptr_t>(va.data) % 8, 0u) << "tensor data should be 8-byte aligned";
}

TEST(Safetensors, ShardsAboveTheLimitWithAnIndex) {
  const auto dir = fresh_dir("d");
  std::vector<float> x(64, 1.f);
  std::vector<StTensorView> ts;
  for (const char* n : {"t0", "t1", "t2"})
    ts.push_back({n, StDtype::F32, {64}, reinterpret_cast<const uint8_t*>(x.data()), 256});
  auto files = write_safetensors_sharded(dir, ts, 600);
  EXPECT_EQ(files.size(), 3u);  // 2 shards + index
  auto set = find_safetensors(dir);
  EXPECT_EQ(set.files.size(), 2u);
  EXPECT_EQ(set.index_weight_map.at("t2"), "model-00002-of-00002.safetensors");
  size_t total = 0;
  for (const auto& f : set.files) total += SafetensorsFile(f).tensors().size();
  EXPECT_EQ(total, 3u);
}

TEST(Safetensors, EveryDefectIsANamedInputError) {
  const auto dir = fresh_dir("d");
  const std::string p = dir + "/bad.safetensors";
  write_text(p, "abc");
  EXPECT_S2D_ERROR(SafetensorsFile{p}, ErrorKind::Input, "bad.safetensors", "truncated");

  write_raw(p, "{not json", 0);
  EXPECT_S2D_ERROR(SafetensorsFile{p}, ErrorKind::Input, "bad.safetensors", "'header': malformed JSON");
  write_raw(p, "[1, 2]", 0);
  EXPECT_S2D_ERROR(SafetensorsFile{p}, ErrorKind::Input, "bad.safetensors", "not a JSON object", "found array");

  write_raw(p, "{}", 0, 200ull * 1000 * 1000);
  EXPECT_S2D_ERROR(SafetensorsFile{p}, ErrorKind::Input, "header too large", "<= 100 MB");

  write_raw(p, "{}", 0, 1000);
  EXPECT_S2D_ERROR(SafetensorsFile{p}, ErrorKind::Input, "header runs past the end");

  write_raw(p, R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8);
  EXPECT_S2D_ERROR(SafetensorsFile{p}, ErrorKind::Input, "tensor w", "past the end");

  write_raw(p, R"({"w":{"dtype":"I8","shape":[4],"data_offsets":[0,4]}})", 4);
  EXPECT_S2D_ERROR(SafetensorsFile{p}, ErrorKind::Input, "tensor w", "unsupported dtype", "I8");

  write_raw(p, R"({"w":{"dtype":"F16","shape":[4],"data_offsets":[0,6]}})", 6);
  EXPECT_S2D_ERROR(SafetensorsFile{p}, ErrorKind::Input, "tensor w", "does not match shape", "8 bytes");

  EXPECT_S2D_ERROR(SafetensorsFile{dir + "/missing.safetensors"}, ErrorKind::Input, "missing.safetensors");
  EXPECT_S2D_ERROR(find_safetensors(dir + "/nothing"), ErrorKind::Input, "no weights found");
}

}  // namespace s2d
