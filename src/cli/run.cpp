#include <iostream>

#include "s2d/cli/commands.h"
#include "s2d/util/error.h"
#include "s2d/util/log.h"
#include "s2d/version.h"

namespace s2d::cli {

namespace {
const char* kIntro =
    "s2d: distil an LLM's System 2 reasoning into its System 1 answers\n"
    "(Yu, Xu, Weston, Kulikov 2024, 'Distilling System 2 into System 1').\n\n"
    "Pipeline:  s2d data ... -> tasks.jsonl  -> s2d generate -> samples.jsonl\n"
    "           -> s2d filter -> sft.jsonl -> s2d distill -> model dir -> s2d eval -> report\n"
    "Every subcommand takes --config FILE.json (keys = long flags) and has its own --help.";
}

int run(int argc, char** argv) {
  CLI::App root{kIntro, "s2d"};
  root.set_version_flag("--version", std::string("s2d ") + S2D_VERSION);
  root.require_subcommand(1);
  root.fallthrough();  // global flags may follow the subcommand
  int verbose = 0;
  std::string log_level = "info";
  root.add_flag("-v,--verbose", verbose, "More logging (-v debug, -vv trace)");
  root.add_option("--log-level", log_level, "trace|debug|info|warn|error|off")->capture_default_str();

  Commands commands;
  register_data(root, commands);
  register_generate(root, commands);
  register_filter(root, commands);
  register_distill(root, commands);
  register_eval(root, commands);
  register_inspect(root, commands);
  register_model(root, commands);
  register_merge(root, commands);
  register_serve(root, commands);

  try {
    root.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return root.exit(e);  // --help, --version
    // One line, as s2d's own errors are, naming the --help that lists the flags (CLI11's own
    // message adds a second line without the subcommand).
    std::string command = "s2d";
    for (const CLI::App* app = &root; !app->get_subcommands().empty();) {
      app = app->get_subcommands().front();
      command += " " + app->get_name();
    }
    log::error(std::string(e.what()) + " (see " + command + " --help)");
    return 2;
  }

  try {
    log::setup(verbose >= 2 ? "trace" : verbose == 1 ? "debug" : log_level);
    for (auto& cmd : commands) {
      if (!cmd->app->parsed()) continue;
      if (!cmd->config_path.empty()) apply_config(*cmd->app, cmd->config_path);
      return cmd->run();
    }
    std::cerr << root.help();
    return 2;
  } catch (const Error& e) {
    log::error(e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    log::error(e.what());
    return 1;
  }
}

}  // namespace s2d::cli
