// Shared CLI plumbing: --config JSON files, required flags, and the command registry.
// Only the cli/ layer and the s2d executable include CLI11.
#pragma once

#include <CLI/CLI.hpp>
#include <charconv>
#include <functional>
#include <limits>
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

// Whole numbers for an integer flag of type T: decimal only, within T's range, given on to CLI11
// in canonical form. CLI11 alone reads "010" as octal and "0x10" as hex, saturates a number too
// large for 64 bits and wraps "-1" into an unsigned field: "--seed -1" would have become
// 18446744073709551615, and "--batch-size 99999999999999999999" 9223372036854775807.
std::string integer_flag_error(const std::string& text, const std::string& min, const std::string& max);
template <class T>
CLI::Validator integer_of() {
  static_assert(std::is_integral_v<T> && !std::is_same_v<T, bool>);
  return CLI::Validator(
      [](std::string& text) -> std::string {
        const char* first = text.data();
        const char* last = first + text.size();
        if (text.size() > 1 && text[0] == '+' && text[1] != '-') ++first;
        T v{};
        const auto [end, ec] = std::from_chars(first, last, v);  // base 10: no "0x", no octal
        if (ec != std::errc() || end != last) {
          return integer_flag_error(text, std::to_string(std::numeric_limits<T>::min()),
                                    std::to_string(std::numeric_limits<T>::max()));
        }
        text = std::to_string(v);
        return "";
      },
      "");
}

// One flag: a bool is a switch, anything else an option that shows its default (an integer one
// through integer_of); `group` heads it in --help.
template <class T>
CLI::Option* add_flag_or_option(CLI::App& cmd, const std::string& flag, T& field, const std::string& help,
                                const std::string& group = "") {
  CLI::Option* opt = nullptr;
  if constexpr (std::is_same_v<T, bool>) {
    opt = cmd.add_flag(flag, field, help);
  } else {
    opt = cmd.add_option(flag, field, help)->capture_default_str();
    if (opt->get_default_str() == "[]") opt->default_str("");  // an empty list has no default to show
    if constexpr (std::is_integral_v<T>) opt->transform(integer_of<T>());
  }
  if (!group.empty()) opt->group(group);
  return opt;
}

// The CLI11 flags of an option set, from its visit_options (util/option_set.h).
template <class Options>
void add_options(CLI::App& cmd, Options& o, const std::string& group = "") {
  visit_options(o, [&](const char* flag, const char*, auto& field, const std::string& help) {
    add_flag_or_option(cmd, flag, field, help, group);
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
