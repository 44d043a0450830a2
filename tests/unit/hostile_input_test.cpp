// Hostile input: each case here crashed a command, lost a file or misreported its status before
// the fix it tests (see docs/notes/hostile-input.md). A case passes when the input gets a short
// InputError naming where it is at fault, and nothing on disk changes.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "s2d/api/openai_schema.h"
#include "s2d/model/config.h"
#include "s2d/model/safetensors.h"
#include "s2d/pipeline/filter.h"
#include "s2d/pipeline/generate.h"
#include "s2d/pipeline/shard_merge.h"
#include "s2d/text/chat_template.h"
#include "s2d/util/atomic_file.h"
#include "s2d/util/json.h"
#include "s2d/util/jsonl.h"
#include "s2d/util/resume.h"
#include "scripted_backend.h"
#include "test_util.h"

namespace s2d {
namespace {

using s2d::testing::fresh_dir;
using s2d::testing::read_text;
using s2d::testing::write_text;

std::string deep_array(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

std::string sample_line(const std::string& id, int sample, const std::string& answer) {
  return nlohmann::json{{"id", id},        {"method", "cot"},  {"sample", sample}, {"input", "q " + id},
                        {"final", answer}, {"answer", answer}, {"task", "qa"}}
             .dump() +
         "\n";
}

TEST(HostileJson, DeepNestingIsAShortInputError) {
  const std::string text = "{\"a\": " + deep_array(100000) + "}";
  try {
    parse_json(text, {.file = "x.json"});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Input);
    EXPECT_NE(std::string(e.what()).find("nested too deeply"), std::string::npos) << e.what();
    EXPECT_LT(std::string(e.what()).size(), 300u) << "the message must not print the input";
  }
  EXPECT_NO_THROW(parse_json(deep_array(kMaxJsonDepth)));
  EXPECT_S2D_ERROR(parse_json(deep_array(kMaxJsonDepth + 1)), ErrorKind::Input, "nested too deeply");
  // Brackets inside strings do not count; an escaped quote does not end the string.
  EXPECT_NO_THROW(parse_json("[\"" + std::string(1000, '[') + "\\\"" + std::string(1000, '{') + "\"]"));
}

TEST(HostileJson, OverflowAndBadUtf8AreInputErrors) {
  EXPECT_S2D_ERROR(parse_json("{\"x\": 1e400}", {.file = "f.json", .line = 3}), ErrorKind::Input, "f.json:3",
                   "malformed JSON");
  EXPECT_S2D_ERROR(parse_json("{\"x\": \"\xff\xfe\"}", {.file = "f.json"}), ErrorKind::Input, "f.json",
                   "malformed JSON");
  EXPECT_EQ(printable_excerpt("a\xff"
                              "b\n"),
            "a\\xFFb\\x0A");
  EXPECT_EQ(printable_excerpt("h\xc3\xa9llo", 80), "h\xc3\xa9llo");
  EXPECT_EQ(printable_excerpt(std::string(100, 'x'), 10), std::string(10, 'x') + "...");
}

TEST(HostileJson, ErrorsNeverPrintQuestionMarks) {
  const std::string only_expected = format_error("bad", {.field = "f", .expected = "an int"});
  EXPECT_EQ(only_expected, "'f': bad: expected an int");
  EXPECT_EQ(format_error("bad", {.found = "3"}), "bad: found 3");
}

TEST(HostileJsonl, TypeErrorsAndNumbersNameFileLineAndField) {
  const std::string dir = fresh_dir("jsonl");
  const std::string in = dir + "/samples.jsonl";
  write_text(in, sample_line("a", 0, "x") +
                     "{\"id\": \"b\", \"method\": \"cot\", \"sample\": \"0\", \"input\": \"q\", \"final\": \"x\"}\n");
  FilterOptions o;
  o.in_path = in;
  o.out_path = dir + "/sft.jsonl";
  EXPECT_S2D_ERROR(run_filter(o, nullptr), ErrorKind::Input, "samples.jsonl:2", "/sample");
  write_text(in, "{\"id\": \"a\", \"sample\": 1e400}\n");
  EXPECT_S2D_ERROR(read_jsonl_all(in), ErrorKind::Input, "samples.jsonl:1", "malformed JSON");
  write_text(in, "{\"id\": " + deep_array(100000) + "}\n");
  EXPECT_S2D_ERROR(read_jsonl_all(in), ErrorKind::Input, "samples.jsonl:1", "nested too deeply");
}

TEST(HostileJsonl, SpecialFilesAreRefusedWithoutBlocking) {
  const std::string dir = fresh_dir("fifo");
  const std::string fifo = dir + "/pipe";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_S2D_ERROR(read_jsonl_all(fifo), ErrorKind::Input, "not a regular file", "a FIFO");
  EXPECT_S2D_ERROR(read_file(fifo), ErrorKind::Input, "not a regular file");
  EXPECT_S2D_ERROR(scan_for_resume(fifo), ErrorKind::Input, "not a regular file");
  EXPECT_S2D_ERROR(SafetensorsFile st(fifo), ErrorKind::Input, "not a regular file");
  EXPECT_S2D_ERROR(read_file(dir), ErrorKind::Input, "a directory");
}

TEST(HostileOutput, AtomicWriteNeverReplacesASpecialFile) {
  const std::string dir = fresh_dir("special");
  const std::string fifo = dir + "/pipe";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_S2D_ERROR(write_file_atomic(fifo, "x"), ErrorKind::Input, "not a regular file");
  struct stat st{};
  ASSERT_EQ(::stat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode)) << "the FIFO was replaced";
}

TEST(HostileOutput, FilterRefusesToOverwriteItsInput) {
  const std::string dir = fresh_dir("same");
  const std::string in = dir + "/samples.jsonl";
  const std::string body = sample_line("a", 0, "x") + sample_line("a", 1, "x");
  write_text(in, body);
  FilterOptions o;
  o.in_path = in;
  o.out_path = in;
  EXPECT_S2D_ERROR(run_filter(o, nullptr), ErrorKind::Input, "output is one of the inputs");
  ASSERT_EQ(::link(in.c_str(), (dir + "/hard").c_str()), 0);  // another name for the same file
  o.out_path = dir + "/hard";
  EXPECT_S2D_ERROR(run_filter(o, nullptr), ErrorKind::Input, "output is one of the inputs");
  EXPECT_EQ(read_text(in), body);
  EXPECT_S2D_ERROR(merge_shards({in}, in), ErrorKind::Input, "output is one of the inputs");
  EXPECT_EQ(read_text(in), body);
}

TEST(HostileOutput, OutputDirMayNotHoldAnInput) {
  const std::string dir = fresh_dir("dir");
  write_text(dir + "/data.jsonl", "{}\n");
  EXPECT_S2D_ERROR(check_output_dir(dir, {dir + "/data.jsonl"}), ErrorKind::Input, "inside the output directory");
  EXPECT_S2D_ERROR(check_output_dir(dir, {dir}), ErrorKind::Input, "inside the output directory");
  EXPECT_NO_THROW(check_output_dir(dir + "/new", {dir + "/data.jsonl"}));
  EXPECT_S2D_ERROR(check_output_dir(dir + "/data.jsonl", {}), ErrorKind::Input, "not a directory");
}

TEST(HostileOutput, GenerateRefusesItsTasksFileAndOtherFlags) {
  const std::string dir = fresh_dir("gen");
  const std::string tasks = dir + "/tasks.jsonl";
  const std::string body = "{\"id\": \"t1\", \"input\": \"2+2?\", \"task\": \"qa\"}\n";
  write_text(tasks, body);
  s2d::testing::ScriptedBackend backend;
  backend.reply = "4";
  GenerateOptions o;
  o.tasks_path = tasks;
  o.out_path = tasks;
  EXPECT_S2D_ERROR(run_generate(o, backend), ErrorKind::Input, "output is one of the inputs");
  EXPECT_EQ(read_text(tasks), body);

  o.out_path = dir + "/samples.jsonl";
  o.samples = 2;
  o.sampling.temperature = 0.7;
  o.sampling.seed = 1;
  EXPECT_EQ(run_generate(o, backend).samples_written, 2);
  const std::string first = read_text(o.out_path);
  o.sampling.seed = 2;
  o.sampling.temperature = 0.9;
  o.samples = 3;
  EXPECT_S2D_ERROR(run_generate(o, backend), ErrorKind::Input, "other generation flags", "seed", "temperature");
  EXPECT_EQ(read_text(o.out_path), first);
  EXPECT_EQ(nlohmann::json::parse(read_text(o.out_path + ".run.json"))["generation"]["seed"], 1);
  o.overwrite = true;
  EXPECT_EQ(run_generate(o, backend).samples_written, 3);
  EXPECT_EQ(read_jsonl_all(o.out_path).size(), 3u);
  EXPECT_EQ(nlohmann::json::parse(read_text(o.out_path + ".run.json"))["generation"]["seed"], 2);
  o.overwrite = false;
  o.samples = 4;  // more samples with the same flags extend the run
  EXPECT_EQ(run_generate(o, backend).samples_written, 1);
}

TEST(HostileSamples, DuplicateSampleIsRefusedNotCountedTwice) {
  const std::string dir = fresh_dir("dup");
  const std::string in = dir + "/samples.jsonl";
  write_text(in, sample_line("a", 0, "x") + sample_line("a", 1, "y") + sample_line("a", 0, "x"));
  FilterOptions o;
  o.in_path = in;
  o.out_path = dir + "/sft.jsonl";
  EXPECT_S2D_ERROR(run_filter(o, nullptr), ErrorKind::Input, "samples.jsonl:3", "duplicate sample", "first on line 1");
}

TEST(HostileModelFiles, ConfigTypesAndLimits) {
  nlohmann::json c = {{"vocab_size", 32},       {"hidden_size", 16},        {"intermediate_size", 32},
                      {"num_hidden_layers", 1}, {"num_attention_heads", 2}, {"torch_dtype", nullptr}};
  EXPECT_NO_THROW(parse_model_config(c, "config.json"));  // real checkpoints carry "torch_dtype": null
  c["tie_word_embeddings"] = "yes";
  EXPECT_S2D_ERROR(parse_model_config(c, "config.json"), ErrorKind::Input, "config.json", "tie_word_embeddings",
                   "true or false");
  c.erase("tie_word_embeddings");
  c["max_position_embeddings"] = int64_t{1} << 40;
  EXPECT_S2D_ERROR(parse_model_config(c, "config.json"), ErrorKind::Input, "max_position_embeddings",
                   "context too large");
  c.erase("max_position_embeddings");
  c["architectures"] = nlohmann::json::array({7});
  EXPECT_S2D_ERROR(parse_model_config(c, "config.json"), ErrorKind::Input, "architectures[0]", "a string");

  const std::string dir = fresh_dir("cfg");
  write_text(dir + "/config.json", "{\"vocab_size\": " + deep_array(100000) + "}");
  EXPECT_S2D_ERROR(load_model_config(dir + "/config.json"), ErrorKind::Input, "config.json", "nested too deeply");
  write_text(dir + "/tokenizer_config.json", "{\"chat_template\": ");
  EXPECT_S2D_ERROR(detect_chat_template(dir), ErrorKind::Input, "tokenizer_config.json", "malformed JSON");
}

TEST(HostileModelFiles, SizesThatWouldOverflowAreRefused) {  // found by fuzz_model_config (UBSan)
  nlohmann::json c = {{"vocab_size", 32000},
                      {"hidden_size", 888884096},
                      {"intermediate_size", 11008},
                      {"num_hidden_layers", 32},
                      {"num_attention_heads", 32}};
  EXPECT_S2D_ERROR(parse_model_config(c, "config.json"), ErrorKind::Input, "'hidden_size': too large",
                   "at most 1048576");
  c["hidden_size"] = 4096;
  c["vocab_size"] = int64_t{1} << 30;
  EXPECT_S2D_ERROR(parse_model_config(c, "config.json"), ErrorKind::Input, "'vocab_size': too large");
}

TEST(HostileRequests, AServersMistypedReplyIsARuntimeErrorNotACrash) {  // found by fuzz_openai_request
  EXPECT_S2D_ERROR(
      api::parse_response(api::Route::Chat, R"({"choices": [{"index": "0", "message": {"content": "x"}}]})"),
      ErrorKind::Runtime, "unexpected response from the server", "/choices/0/index");
  EXPECT_S2D_ERROR(api::parse_response(api::Route::Chat, R"({"choices": [7]})"), ErrorKind::Runtime,
                   "unexpected response");
}

TEST(HostileModelFiles, SafetensorsHeaderNesting) {
  const std::string dir = fresh_dir("st");
  const std::string header = "{\"a\": " + deep_array(100000) + "}";
  std::string file(8, '\0');
  for (int i = 0; i < 8; ++i) file[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  write_text(dir + "/model.safetensors", file + header);
  EXPECT_S2D_ERROR(SafetensorsFile st(dir + "/model.safetensors"), ErrorKind::Input, "model.safetensors",
                   "nested too deeply");
}

TEST(HostileModelFiles, ShardPathsStayInsideTheModelDirectory) {
  const std::string dir = fresh_dir("shards");
  for (const std::string shard : {"../../../../etc/passwd", "/etc/passwd", "sub/model.safetensors", ".."}) {
    write_text(dir + "/model.safetensors.index.json",
               nlohmann::json{{"weight_map", {{"model.norm.weight", shard}}}}.dump());
    EXPECT_S2D_ERROR(find_safetensors(dir), ErrorKind::Input, "shard path leaves the model directory",
                     "weight_map.model.norm.weight");
  }
  write_text(dir + "/model.safetensors.index.json",
             nlohmann::json{{"weight_map", {{"w", "model-00001-of-00001.safetensors"}}}}.dump());
  EXPECT_EQ(find_safetensors(dir).files.size(), 1u);
}

TEST(HostileRequests, ClientMistakesAre4xx) {
  const api::ServerLimits limits{.served_model = "m", .max_tokens_cap = 64};
  auto status_of = [&](const std::string& body) {
    try {
      api::parse_request(api::Route::Chat, body, limits, 1);
      return 200;
    } catch (const api::ApiError& e) {
      EXPECT_NO_THROW(api::error_body(e).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
      EXPECT_LT(std::string(e.what()).size(), 500u);
      return e.status;
    }
  };
  const std::string ok = R"({"messages": [{"role": "user", "content": "hi"}]})";
  EXPECT_EQ(status_of(ok), 200);
  EXPECT_EQ(status_of(R"({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1e400})"), 400);
  EXPECT_EQ(status_of("{\"messages\": [{\"role\": \"user\", \"content\": \"\xff\xfe\"}]}"), 400);
  EXPECT_EQ(status_of("{\"x\": " + deep_array(100000) + "}"), 400);
  EXPECT_EQ(status_of(R"({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1000000000})"), 422);
  EXPECT_EQ(
      status_of(R"({"messages": [{"role": "user", "content": "hi"}], "stream_options": {"include_usage": "yes"}})"),
      422);
  EXPECT_EQ(status_of(R"({"messages": [{"role": "user", "content": [{"type": 5}]}]})"), 422);
}

}  // namespace
}  // namespace s2d
