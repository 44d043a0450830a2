// Shared CLI plumbing: --config JSON files, required flags, and the command registry.
// Only the cli/ layer and the s2d executable include CLI11.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <type_traits>
#include <vector>

#include "s2d/api/http_backend.h"
#include "s2d/engine/local_backend.h"

namespace s2d::cli {

// A leaf subcommand: its CLI11 app, its --config path, and what runs it (returns an exit code).
struct Command {
  CLI::App* app = nullptr;
  std::string config_path;
  std::function<int()> run;
};
using Commands = std::vector<std::shared_ptr<Command>>;

// Creates `name` under `parent` with a --config flag (and `footer` below its --help) and adds it to `out`.
std::shared_ptr<Command> add_command(CLI::App& parent, Commands& out, const std::string& name,
                                     const std::string& description, const std::string& footer = "");

// Applies a --config file: a JSON object whose keys are the command's long flags without the
// leading dashes ("max-new-tokens" or "max_new_tokens"). A flag given on the command line wins.
// Unknown keys and values of the wrong type are InputErrors naming the file and key.
void apply_config(CLI::App& cmd, const std::string& path);

// After the config is merged: every flag named must have a value (from the CLI or the config).
void require_flags(const CLI::App& cmd, const std::vector<std::string>& flags);

// The CLI11 flags of an option set, from its visit_options (util/option_set.h): a bool is a
// switch, anything else an option that shows its default; `group` heads them in --help.
template <class Options>
void add_options(CLI::App& cmd, Options& o, const std::string& group = "") {
  visit_options(o, [&](const char* flag, const char*, auto& field, const std::string& help) {
    CLI::Option* opt = nullptr;
    if constexpr (std::is_same_v<std::decay_t<decltype(field)>, bool>) {
      opt = cmd.add_flag(flag, field, help);
    } else {
      opt = cmd.add_option(flag, field, help)->capture_default_str();
      if (opt->get_default_str() == "[]") opt->default_str("");  // an empty list has no default to show
    }
    if (!group.empty()) opt->group(group);
  });
}
// A command's own option set, bound to its flags; the command's run closure keeps it alive.
template <class Options>
std::shared_ptr<Options> add_option_set(CLI::App& cmd, const std::string& group = "") {
  auto o = std::make_shared<Options>();
  add_options(cmd, *o, group);
  return o;
}

// A leaf command whose flags are one option set: once every flag in `required` has a value,
// `run(options)` does the work and prints what it did; the command then exits 0.
template <class Options, class Run>
void add_leaf_command(CLI::App& parent, Commands& out, const std::string& name, const std::string& description,
                      std::vector<std::string> required, Run run, const std::string& footer = "") {
  auto cmd = add_command(parent, out, name, description, footer);
  auto o = add_option_set<Options>(*cmd->app);
  cmd->run = [o, cmd, required = std::move(required), run] {
    require_flags(*cmd->app, required);
    run(*o);
    return 0;
  };
}

// Where completions come from, shared by generate, filter (usc) and eval: the in-process model
// (LocalBackendOptions' flags) or an OpenAI-compatible server (HttpBackendOptions', in a group).
struct BackendFlags {
  LocalBackendOptions local;
  api::HttpBackendOptions http;
};
std::shared_ptr<BackendFlags> add_backend_flags(CLI::App& cmd);
// The backend the flags name; InputError when both or neither of --model and --endpoint are given.
std::unique_ptr<Backend> make_backend(const CLI::App& cmd, const BackendFlags& f);

// One line per method ("  rar2      Rephrase and Respond in two calls: ..."), for a command's footer.
std::string methods_help();

// The flags that have values (from the command line or --config), for provenance records.
nlohmann::json flags_as_json(const CLI::App& cmd);

}  // namespace s2d::cli
