// The option sets of util/option_set.h: one visit_options per set drives the CLI flags, the
// --config keys and the run identity, so these check that the three agree.
#include "s2d/util/option_set.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "s2d/api/openai_server.h"
#include "s2d/cli/options.h"
#include "s2d/pipeline/eval.h"
#include "s2d/pipeline/filter.h"
#include "s2d/pipeline/generate.h"
#include "s2d/train/distill.h"
#include "s2d/util/error.h"
#include "test_util.h"

namespace s2d {
namespace {

template <class Options>
std::vector<std::string> flags_of(Options& o) {
  std::vector<std::string> flags;
  visit_options(o, [&](const char* flag, const char*, auto&, const std::string&) { flags.emplace_back(flag); });
  return flags;
}

// Every visited flag becomes exactly one CLI11 option, and no set visits a flag twice.
template <class Options>
void expect_cli_mirrors_visit() {
  Options o;
  CLI::App app;
  cli::add_options(app, o);
  const auto flags = flags_of(o);
  EXPECT_EQ(std::set<std::string>(flags.begin(), flags.end()).size(), flags.size());
  for (const auto& f : flags) EXPECT_NE(app.get_option_no_throw(f), nullptr) << f;
  EXPECT_EQ(app.get_options().size(), flags.size() + 1);  // + --help
}

TEST(OptionSet, EveryVisitedFlagIsOneCliOption) {
  expect_cli_mirrors_visit<GenerateOptions>();
  expect_cli_mirrors_visit<EvalOptions>();
  expect_cli_mirrors_visit<FilterOptions>();
  expect_cli_mirrors_visit<DistillOptions>();
  expect_cli_mirrors_visit<api::ServeOptions>();
  expect_cli_mirrors_visit<LocalBackendOptions>();
  expect_cli_mirrors_visit<api::HttpBackendOptions>();
}

TEST(OptionSet, CommandLineWritesTheVisitedFields) {
  GenerateOptions o;
  CLI::App app;
  cli::add_options(app, o);
  std::vector<std::string> args = {"--swap", "--stop",    "b", "--stop",   "a",  "--temperature",
                                   "0.5",    "--samples", "3", "--method", "cot"};
  std::reverse(args.begin(), args.end());  // CLI11 parses a reversed vector
  app.parse(args);
  EXPECT_TRUE(o.swap);
  EXPECT_EQ(o.sampling.stop, (std::vector<std::string>{"b", "a"}));
  EXPECT_DOUBLE_EQ(o.sampling.temperature, 0.5);
  EXPECT_EQ(o.samples, 3);
  EXPECT_EQ(o.method, "cot");
}

TEST(OptionSet, ConfigKeysAreTheFlags) {
  const std::string path = (std::filesystem::temp_directory_path() / "s2d_option_set_config.json").string();
  std::ofstream(path) << R"({"max_new_tokens": 12, "top-p": 0.9, "swap": true, "stop": ["x", "y"]})";
  GenerateOptions o;
  CLI::App app;
  cli::add_options(app, o);
  app.parse(std::vector<std::string>{});
  cli::apply_config(app, path);
  EXPECT_EQ(o.sampling.max_new_tokens, 12);
  EXPECT_DOUBLE_EQ(o.sampling.top_p, 0.9);
  EXPECT_TRUE(o.swap);
  EXPECT_EQ(o.sampling.stop, (std::vector<std::string>{"x", "y"}));
  std::ofstream(path) << R"({"tempreature": 1})";
  EXPECT_S2D_ERROR(cli::apply_config(app, path), ErrorKind::Input, "tempreature", "temperature");
  std::remove(path.c_str());
}

TEST(OptionSet, IdentityHoldsWhatDecidesTheRun) {
  GenerateOptions g;
  const auto before = run_identity(g);
  for (const char* key : {"method", "template", "seed", "temperature", "top_p", "top_k", "max_new_tokens", "stop",
                          "answer_regex", "merge", "swap"})
    EXPECT_TRUE(before.contains(key)) << key;
  g.samples = 8;  // may grow on a resume
  g.shard = "1/2";
  g.out_path = "elsewhere.jsonl";
  EXPECT_EQ(run_identity(g), before);
  g.sampling.top_k = 40;
  EXPECT_NE(run_identity(g), before);

  DistillOptions d;
  const auto d0 = run_identity(d);
  EXPECT_TRUE(d0.contains("precision"));
  d.precision = "fp32";
  EXPECT_NE(run_identity(d), d0);
  d = DistillOptions{};
  d.resume = true;
  d.save_every = 10;
  EXPECT_EQ(run_identity(d), d0);
}

}  // namespace
}  // namespace s2d
