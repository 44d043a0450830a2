// Drives the real CLI entry point (s2d::cli::run) in-process: exit codes, messages, --config.
#include <gtest/gtest.h>

#include "s2d/cli/commands.h"
#include "s2d/data/task.h"
#include "test_util.h"

namespace s2d {
using namespace s2d::testing;

namespace {
struct Result {
  int code;
  std::string out, err;
};

Result run_cli(std::vector<std::string> args) {
  args.insert(args.begin(), "s2d");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  const int code = cli::run(static_cast<int>(argv.size()), argv.data());
  Result r{code, ::testing::internal::GetCapturedStdout(), ::testing::internal::GetCapturedStderr()};
  return r;
}

int count_lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }
}  // namespace

TEST(Cli, HelpAndVersionExitZero) {
  auto r = run_cli({"--help"});
  EXPECT_EQ(r.code, 0);
  for (const char* sub : {"generate", "filter", "distill", "eval", "data", "inspect"})
    EXPECT_NE(r.out.find(sub), std::string::npos) << sub;
  EXPECT_EQ(run_cli({"--version"}).code, 0);
  for (const char* sub : {"generate", "filter", "distill", "eval"}) {
    auto h = run_cli({sub, "--help"});
    EXPECT_EQ(h.code, 0) << sub;
    EXPECT_NE(h.out.find("--config"), std::string::npos) << sub;
  }
}

// Usage errors exit 2 with one line on stderr naming the flag and the subcommand's --help.
TEST(Cli, UsageErrorsExitTwo) {
  EXPECT_EQ(run_cli({}).code, 2);
  EXPECT_EQ(run_cli({"--log-level", "loud", "data", "validate", "x"}).code, 2);
  const auto bad_number = run_cli({"data", "last-letter", "--n", "notanumber", "--out", "x"});
  EXPECT_EQ(bad_number.code, 2);
  EXPECT_EQ(count_lines(bad_number.err), 1) << bad_number.err;
  EXPECT_NE(bad_number.err.find("--n"), std::string::npos) << bad_number.err;
  EXPECT_NE(bad_number.err.find("s2d data last-letter --help"), std::string::npos) << bad_number.err;
  const auto unknown = run_cli({"generate", "--bogus"});
  EXPECT_EQ(unknown.code, 2);
  EXPECT_EQ(count_lines(unknown.err), 1) << unknown.err;
  EXPECT_NE(unknown.err.find("--bogus"), std::string::npos) << unknown.err;
  EXPECT_NE(unknown.err.find("s2d generate --help"), std::string::npos) << unknown.err;
}

TEST(Cli, GeneratesDeterministicTaskFiles) {
  const auto dir = fresh_dir("d");
  auto r = run_cli({"data", "last-letter", "--n", "30", "--words", "4", "--seed", "5", "--out", dir + "/a.jsonl"});
  ASSERT_EQ(r.code, 0) << r.err;
  run_cli({"data", "last-letter", "--n", "30", "--words", "4", "--seed", "5", "--out", dir + "/b.jsonl"});
  EXPECT_EQ(read_text(dir + "/a.jsonl"), read_text(dir + "/b.jsonl"));
  EXPECT_EQ(count_lines(read_text(dir + "/a.jsonl")), 30);
}

TEST(Cli, SplitWritesTwoDisjointFiles) {
  const auto dir = fresh_dir("d");
  auto r = run_cli({"data", "coin-flip", "--n", "50", "--people", "3", "--split", "0.2", "--out", dir + "/cf.jsonl"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto train = read_tasks(dir + "/cf.train.jsonl"), test = read_tasks(dir + "/cf.test.jsonl");
  EXPECT_EQ(train.size(), 40u);
  EXPECT_EQ(test.size(), 10u);
  std::set<std::string> seen;
  for (const auto& t : train) seen.insert(t.input);
  for (const auto& t : test) EXPECT_FALSE(seen.count(t.input));
}

TEST(Cli, ExcludeKeepsAnotherFilesQuestionsOut) {
  const auto dir = fresh_dir("d");
  ASSERT_EQ(run_cli({"data", "coin-flip", "--n", "100", "--people", "2", "--out", dir + "/a.jsonl"}).code, 0);
  auto r = run_cli({"data", "coin-flip", "--n", "100", "--people", "2", "--seed", "1", "--exclude", dir + "/a.jsonl",
                    "--out", dir + "/b.jsonl"});
  ASSERT_EQ(r.code, 0) << r.err;
  std::set<std::string> a;
  for (const auto& t : read_tasks(dir + "/a.jsonl")) a.insert(t.input);
  for (const auto& t : read_tasks(dir + "/b.jsonl")) EXPECT_FALSE(a.count(t.input));
}

TEST(Cli, ConfigFileSuppliesFlagsAndTheCommandLineWins) {
  const auto dir = fresh_dir("d");
  write_text(dir + "/cfg.json", "{\"n\": 7, \"words\": 3, \"seed\": 9, \"out\": \"" + dir + "/c.jsonl\"}");
  auto r = run_cli({"data", "last-letter", "--config", dir + "/cfg.json", "--n", "4"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto tasks = read_tasks(dir + "/c.jsonl");
  EXPECT_EQ(tasks.size(), 4u);  // --n on the command line beats "n": 7
  EXPECT_EQ(tasks[0].meta["words"], 3);
  EXPECT_NE(tasks[0].id.find("-s9-"), std::string::npos);
}

TEST(Cli, BadConfigsAreNamed) {
  const auto dir = fresh_dir("d");
  write_text(dir + "/unknown.json", "{\"wrods\": 3}");
  auto r = run_cli({"data", "last-letter", "--config", dir + "/unknown.json", "--out", dir + "/x.jsonl"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("unknown.json: 'wrods': unknown config key"), std::string::npos) << r.err;
  write_text(dir + "/type.json", "{\"n\": \"many\"}");
  r = run_cli({"data", "last-letter", "--config", dir + "/type.json", "--out", dir + "/x.jsonl"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("type.json: 'n': bad value"), std::string::npos) << r.err;
  write_text(dir + "/broken.json", "{\"n\": ");
  r = run_cli({"data", "last-letter", "--config", dir + "/broken.json", "--out", dir + "/x.jsonl"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("broken.json: malformed JSON: expected valid JSON, found [json.exception.parse_error.101] parse "
                       "error at line 1"),
            std::string::npos)
      << r.err;
}

// Each command line fails with exit 2 and one line of stderr holding its message.
void expect_one_line_input_errors(const std::vector<std::pair<std::vector<std::string>, std::string>>& cases) {
  for (const auto& [args, msg] : cases) {
    auto r = run_cli(args);
    EXPECT_EQ(r.code, 2) << msg;
    EXPECT_NE(r.err.find(msg), std::string::npos) << "got: " << r.err;
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
  }
}

// The five bad inputs the Foundation issue names: one clear line each, exit 2.
TEST(Cli, BadInputsGetOneLineErrorsAndExitTwo) {
  const auto dir = fresh_dir("d");
  write_text(dir + "/malformed.jsonl", "{\"id\":\"a\",\"input\":\"x\",\"task\":\"t\"}\n{\"id\":\"b\",\n");
  write_text(dir + "/missing.jsonl", "{\"id\":\"a\",\"task\":\"t\"}\n");
  write_text(dir + "/wrongtype.jsonl", "{\"id\":\"a\",\"input\":[1],\"task\":\"t\"}\n");
  write_text(dir + "/empty.jsonl", "");
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"data", "validate", dir + "/malformed.jsonl"}, "malformed.jsonl:2: malformed JSON"},
      {{"data", "validate", dir + "/missing.jsonl"}, "missing.jsonl:1: 'input': missing field"},
      {{"data", "validate", dir + "/wrongtype.jsonl"},
       "wrongtype.jsonl:1: 'input': wrong type: expected a string, found array"},
      {{"data", "validate", dir + "/empty.jsonl"}, "empty.jsonl: empty file"},
      {{"data", "validate", dir + "/does-not-exist.jsonl"}, "does-not-exist.jsonl: no such file"},
      {{"data", "last-letter", "--words", "0", "--out", dir + "/x.jsonl"},
       "'--words': must be positive: expected >= 1, found 0"},
  };
  expect_one_line_input_errors(cases);
  EXPECT_FALSE(std::filesystem::exists(dir + "/x.jsonl"));
}

// Counts that would make a command hold more than it can are refused before any work: one line, exit 2.
TEST(Cli, HugeCountsAreRefusedBeforeAnythingIsAllocated) {
  const auto dir = fresh_dir("huge");
  write_text(dir + "/t.jsonl", "{\"id\":\"a\",\"input\":\"x\",\"task\":\"t\"}\n");
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"data", "last-letter", "--n", "100000000000", "--out", dir + "/x.jsonl"},
       "'--n': bad number of questions: expected 1..1000000, found 100000000000"},
      {{"data", "arithmetic", "--n", "9223372036854775807", "--out", dir + "/x.jsonl"}, "'--n': bad number"},
      {{"data", "toy-corpus", "--scale", "1000000", "--out", dir + "/c"},
       "'--scale/--primer-n': corpus too large: one part would hold more questions than a draw makes: expected <= "
       "1000000 questions per part, found 40000000000"},
      {{"data", "toy-corpus", "--test-n", "2000000", "--out", dir + "/c"}, "'--test-n': too many questions per task"},
      {{"generate", "--model", "/nonexistent", "--tasks", dir + "/t.jsonl", "--out", dir + "/s.jsonl", "--samples",
        "2000000000"},
       "'--samples': bad number of samples per task: expected 1..1024, found 2000000000"},
      {{"model", "train-tokenizer", "--data", dir + "/t.jsonl", "--vocab-size", "2000000000", "--out",
        dir + "/x.jsonl"},
       "'--vocab-size': bad vocabulary size: expected 300..1000000"},
      {{"serve", "--model", "/nonexistent", "--port", "70000"},
       "'--port': out of range: a TCP port: expected 0..65535"},
      {{"serve", "--model", "/nonexistent", "--threads", "1000000000"}, "'--threads': out of range"},
      {{"serve", "--model", "/nonexistent", "--max-n", "2000000000"}, "'--max-n': out of range"},
      {{"serve", "--model", "/nonexistent", "--max-body-bytes", "0"},
       "'--max-body-bytes': out of range: a request's body is held whole: expected 1024..4294967296, found 0"},
  };
  expect_one_line_input_errors(cases);
  EXPECT_FALSE(std::filesystem::exists(dir + "/x.jsonl"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/c"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/s.jsonl"));
}

// An integer flag takes a decimal number within its field's type, or exits 2 naming what was typed:
// CLI11 alone would read "010" as octal, saturate 99999999999999999999, and wrap -1 into a uint64_t.
TEST(Cli, IntegerFlagsTakeDecimalNumbersWithinTheirTypeOnly) {
  const auto dir = fresh_dir("ints");
  const std::string out = dir + "/x.jsonl";
  const std::vector<std::pair<std::vector<std::string>, std::string>> refused = {
      {{"generate", "--model", "/nonexistent", "--batch-size", "99999999999999999999"},
       "--batch-size: not a whole number in range: expected a decimal integer in "
       "-9223372036854775808..9223372036854775807, found '99999999999999999999'"},
      {{"data", "last-letter", "--seed", "-1", "--out", out},
       "--seed: not a whole number in range: expected a decimal integer in 0..18446744073709551615, found '-1'"},
      {{"data", "last-letter", "--n", "0x10", "--out", out}, "found '0x10'"},
      {{"data", "last-letter", "--words", "4294967298", "--out", out},
       "expected a decimal integer in -2147483648..2147483647, found '4294967298'"},
      {{"serve", "--model", "/nonexistent", "--max-body-bytes", "-1"}, "--max-body-bytes: not a whole number"},
      {{"data", "last-letter", "--n", "12 ", "--out", out}, "found '12 '"},
  };
  for (const auto& [args, msg] : refused) {
    auto r = run_cli(args);
    EXPECT_EQ(r.code, 2) << msg;
    EXPECT_NE(r.err.find(msg), std::string::npos) << "got: " << r.err;
  }
  EXPECT_FALSE(std::filesystem::exists(out));

  // Leading zeros and a plus sign are still decimal.
  ASSERT_EQ(run_cli({"data", "last-letter", "--n", "010", "--seed", "+3", "--out", out}).code, 0);
  EXPECT_EQ(count_lines(read_text(out)), 10);
  ASSERT_EQ(run_cli({"data", "last-letter", "--n", "10", "--seed", "3", "--out", dir + "/y.jsonl"}).code, 0);
  EXPECT_EQ(read_text(out), read_text(dir + "/y.jsonl"));

  // A --config value goes through the same check, and the error names the file and key.
  write_text(dir + "/c.json", R"({"seed": -1})");
  auto r = run_cli({"data", "last-letter", "--config", dir + "/c.json", "--out", dir + "/z.jsonl"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("c.json: 'seed': bad value in config"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("found '-1'"), std::string::npos) << r.err;
}

// A bad flag or input file is refused before the model loads (which may take minutes): with a
// model directory that does not exist, the error names the flag or file, not the model.
TEST(Cli, BadFlagsAndFilesAreRefusedBeforeTheModelLoads) {
  const auto dir = fresh_dir("early");
  const std::string tasks = dir + "/t.jsonl";
  write_text(tasks, "{\"id\":\"a\",\"input\":\"x\",\"task\":\"t\",\"answer\":\"y\"}\n");
  const std::vector<std::string> gen = {"generate", "--model", "/nonexistent", "--tasks", tasks};
  const std::vector<std::string> ev = {"eval", "--model", "/nonexistent", "--tasks", tasks};
  auto with = [](std::vector<std::string> base, std::vector<std::string> more) {
    base.insert(base.end(), more.begin(), more.end());
    return base;
  };
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {with(gen, {"--out", dir + "/s.jsonl", "--method", "nope"}), "'--method': unknown method"},
      {with(gen, {"--out", dir + "/s.jsonl", "--template", dir + "/none.json"}), "none.json: no such file"},
      {{"generate", "--model", "/nonexistent", "--tasks", dir + "/none.jsonl", "--out", dir + "/s.jsonl"},
       "none.jsonl: no such file"},
      {with(gen, {"--out", tasks}), "'--out': output is one of the inputs"},
      {with(gen, {"--out", dir + "/s.jsonl", "--shard", "3/2"}), "'--shard': bad shard"},
      {with(gen, {"--out", dir + "/s.jsonl", "--batch-size", "0"}), "'--batch-size': batch size must be >= 1"},
      {with(gen, {"--out", dir + "/s.jsonl", "--prefix-cache-mb", "-2"}), "'--prefix-cache-mb'"},
      {with(ev, {"--out", dir + "/e", "--role", "bogus"}), "'--role': unknown role"},
      {with(ev, {"--out", dir + "/e", "--merge", "x"}), "'--merge': unknown merge"},
      {with(ev, {"--out", dir + "/e", "--top-p", "2"}), "'--top-p'"},
      {with(ev, {"--out", dir + "/e", "--method", "nope"}), "'--method': unknown method"},
      {{"eval", "--model", "/nonexistent", "--tasks", dir + "/none.jsonl", "--out", dir + "/e"},
       "none.jsonl: no such file"},
      {{"filter", "--by", "usc", "--model", "/nonexistent", "--in", dir + "/none.jsonl", "--out", dir + "/s.jsonl"},
       "none.jsonl: no such file"},
      {{"filter", "--by", "usc", "--model", "/nonexistent", "--in", tasks, "--out", dir + "/s.jsonl", "--template",
        dir + "/none.json"},
       "none.json: no such file"},
      {{"filter", "--by", "usc", "--model", "/nonexistent", "--in", tasks, "--out", tasks},
       "'--out': output is one of the inputs"},
  };
  expect_one_line_input_errors(cases);
  EXPECT_FALSE(std::filesystem::exists(dir + "/s.jsonl"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/e"));
}

TEST(Cli, MissingRequiredFlagIsAUsageError) {
  auto r = run_cli({"data", "last-letter", "--n", "3"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("'--out': missing required flag"), std::string::npos) << r.err;
}

TEST(Cli, StagesRequireTheirFlags) {
  for (const char* stage : {"generate", "filter", "distill", "eval"}) {
    auto r = run_cli({stage});
    EXPECT_EQ(r.code, 2) << stage;
    EXPECT_NE(r.err.find("missing required flag"), std::string::npos) << stage << ": " << r.err;
  }
}

TEST(Cli, ValidateCountsTasks) {
  const auto dir = fresh_dir("d");
  ASSERT_EQ(run_cli({"data", "coin-flip", "--n", "12", "--out", dir + "/t.jsonl"}).code, 0);
  auto r = run_cli({"data", "validate", dir + "/t.jsonl"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("coin-flip: 12 (12 with answer)"), std::string::npos) << r.out;
}

}  // namespace s2d
