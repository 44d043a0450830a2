// C++ side of the GGUF conformance check (make_gguf_reference.py made the reference):
//   * every tensor type s2d dequantises equals the gguf package's dequantize bit for bit;
//   * each model case, imported with import_gguf, gives logits within 1e-4 of transformers' GGUF
//     load of the same file, the same greedy tokens through the KV cache, the same ids on the
//     corpus, and (the real model) the same chat-template ids and 64 greedy tokens per chat.
// Usage: s2d_gguf_conformance_tests --dir DIR. One test per case directory.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "conformance_main.h"
#include "conformance_util.h"
#include "s2d/model/checkpoint.h"
#include "s2d/model/gguf.h"
#include "s2d/model/gguf_import.h"
#include "s2d/text/chat_template.h"
#include "s2d/util/json.h"

namespace fs = std::filesystem;

namespace s2d {
namespace {

std::string g_dir;

void report(const std::string& line) { conformance::report(g_dir, line); }

TEST(GgufTypes, DequantiseEqualsTheGgufPackageBitForBit) {
  GgufFile g(g_dir + "/types/types.gguf");
  SafetensorsFile ref(g_dir + "/types/reference.safetensors");
  std::string names;
  for (const auto& t : g.tensors()) {
    const std::vector<float> got = dequantize(t, g.path());
    const auto& want = ref.tensors().at(t.name);
    ASSERT_EQ(got.size() * 4, want.nbytes) << t.name;
    size_t differ = 0;
    for (size_t i = 0; i < got.size(); ++i) differ += std::memcmp(&got[i], want.data + 4 * i, 4) != 0;
    EXPECT_EQ(differ, 0u) << t.name << ": " << differ << " of " << got.size() << " values differ";
    names += (names.empty() ? "" : " ") + ggml_type_name(t.type);
  }
  report("gguf types: " + names + ": dequantised values bit-identical to gguf.quants.dequantize");
}

class GgufCase : public ::testing::Test {
 public:
  explicit GgufCase(std::string name) : name_(std::move(name)) {}
  void TestBody() override {
    const std::string dir = g_dir + "/" + name_;
    std::string gguf = dir + "/model.gguf";
    if (fs::exists(dir + "/case.json")) gguf = read_json_file(dir + "/case.json")["gguf"].get<std::string>();
    const GgufImportSummary s = import_gguf({.gguf_path = gguf, .out_dir = dir + "/imported", .overwrite = true});
    const nlohmann::json ref = read_json_file(dir + "/reference.json");
    ModelBundle b = load_model(dir + "/imported", {.device = "cpu", .dtype = "fp32"});
    ASSERT_TRUE(b.tokenizer);
    c10::InferenceMode no_grad;
    at::Tensor ids = to_tensor(ref["input_ids"]), mask = to_tensor(ref["attention_mask"]);
    const double diff =
        masked_max_diff(b.model->forward_padded(ids, mask), load_logits(dir + "/logits.safetensors"), mask);
    EXPECT_LE(diff, 1e-4) << name_;
    at::Tensor want_greedy = to_tensor(ref["greedy"]);
    at::Tensor greedy = greedy_with_cache(*b.model, ids, mask, static_cast<int>(want_greedy.size(1)));
    EXPECT_TRUE(at::equal(greedy, want_greedy)) << name_ << "\n s2d " << greedy << "\n hf  " << want_greedy;

    int64_t lines = 0, same_lines = 0;
    if (ref.contains("corpus")) {
      const auto& texts = ref["corpus"]["texts"];
      const auto& want = ref["corpus"]["ids"];
      for (size_t i = 0; i < texts.size(); ++i, ++lines) {
        const bool same =
            b.tokenizer->encode_with_special(texts[i].get<std::string>()) == want[i].get<std::vector<int>>();
        same_lines += same;
        if (!same && lines - same_lines < 5) ADD_FAILURE() << name_ << " corpus line " << i << ": ids differ";
      }
    }
    int chats = 0, chat_tokens = 0;
    if (ref.contains("chats")) {
      const ChatTemplate t = load_chat_template(dir + "/imported", *b.tokenizer, "auto");
      for (const auto& c : ref["chats"]) {
        std::vector<ChatMessage> msgs;
        for (const auto& m : c["messages"])
          msgs.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
        const std::vector<int> rendered = t.render(*b.tokenizer, msgs, true).ids;
        EXPECT_EQ(rendered, c["ids"].get<std::vector<int>>()) << c["messages"].dump();
        at::Tensor x = at::tensor(std::vector<int64_t>(rendered.begin(), rendered.end()), at::kLong).view({1, -1});
        const std::vector<int> want = c["greedy"].get<std::vector<int>>();
        at::Tensor got = greedy_with_cache(*b.model, x, at::ones_like(x), static_cast<int>(want.size()));
        const bool same = at::equal(got[0].to(at::kInt), at::tensor(want, at::kInt));
        EXPECT_TRUE(same) << c["messages"].dump() << "\n s2d " << got << "\n hf  " << nlohmann::json(want).dump();
        chats += same;
        chat_tokens += same ? static_cast<int>(want.size()) : 0;
      }
    }
    report(c10::str("gguf ", name_, " (", s.architecture, ", ", s.types, "): logits max-abs-diff ", diff,
                    " vs transformers' GGUF load, greedy ", greedy.eq(want_greedy).sum().item<int64_t>(), "/",
                    want_greedy.numel(), " tokens equal",
                    lines ? c10::str(", corpus ", same_lines, "/", lines, " lines with identical ids") : std::string(),
                    ref.contains("chats") ? c10::str(", chat template + 64 greedy tokens identical in ", chats, "/",
                                                     ref["chats"].size(), " chats")
                                          : std::string()));
  }

 private:
  std::string name_;
};

}  // namespace
}  // namespace s2d

int main(int argc, char** argv) {
  s2d::g_dir = s2d::conformance::Flags(argc, argv).get("--dir");
  if (s2d::g_dir.empty())
    return s2d::conformance::usage(
        "s2d_gguf_conformance_tests --dir DIR (made by tests/conformance/make_gguf_reference.py)");
  std::filesystem::remove(s2d::g_dir + "/report.txt");
  for (const auto& name : s2d::case_names(s2d::g_dir))
    ::testing::RegisterTest("GgufConformance", name.c_str(), nullptr, nullptr, __FILE__, __LINE__,
                            [name]() -> ::testing::Test* { return new s2d::GgufCase(name); });
  return RUN_ALL_TESTS();
}
