#include "s2d/cli/options.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "s2d/methods/method_def.h"
#include "s2d/text/chat_template.h"
#include "s2d/util/atomic_file.h"
#include "s2d/util/error.h"
#include "s2d/util/json.h"

namespace s2d::cli {

std::shared_ptr<Command> add_command(CLI::App& parent, Commands& out, const std::string& name,
                                     const std::string& description, const std::string& footer) {
  auto cmd = std::make_shared<Command>();
  cmd->app = parent.add_subcommand(name, description);
  if (!footer.empty()) cmd->app->footer(footer);
  cmd->app->add_option("--config", cmd->config_path,
                       "JSON file whose keys mirror the long flags (e.g. {\"seed\": 3}); flags given on the "
                       "command line win");
  out.push_back(cmd);
  return cmd;
}

namespace {
std::string json_scalar_to_arg(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  return v.dump();  // numbers
}

// "see 's2d model import-gguf --help'": the command's whole path below the root.
std::string help_hint(const CLI::App& cmd) {
  std::string path;
  for (const CLI::App* a = &cmd; a != nullptr && a->get_parent() != nullptr; a = a->get_parent())
    path = a->get_name() + (path.empty() ? "" : " " + path);
  return "see 's2d " + path + " --help'";
}

std::string known_flags(const CLI::App& cmd) {
  std::string out;
  for (const CLI::Option* o : cmd.get_options()) {
    for (const auto& ln : o->get_lnames()) {
      if (ln == "help" || ln == "config") continue;
      if (!out.empty()) out += ", ";
      out += ln;
    }
  }
  return out;
}
}  // namespace

void apply_config(CLI::App& cmd, const std::string& path) {
  const nlohmann::json j = read_json_file(path);
  if (!j.is_object()) {
    throw_input("config must be a JSON object",
                {.file = path, .expected = "{\"flag\": value, ...}", .found = std::string(j.type_name())});
  }
  for (auto it = j.begin(); it != j.end(); ++it) {
    std::string key = it.key();
    std::replace(key.begin(), key.end(), '_', '-');
    CLI::Option* opt = key == "config" ? nullptr : cmd.get_option_no_throw("--" + key);
    if (opt == nullptr) {
      throw_input("unknown config key",
                  {.file = path, .field = it.key(), .expected = "one of: " + known_flags(cmd), .found = it.key()});
    }
    if (opt->count() > 0 || it->is_null()) continue;  // the command line wins
    if (it->is_object()) {
      throw_input("wrong type in config",
                  {.file = path, .field = it.key(), .expected = opt->get_type_name(), .found = "an object"});
    }
    if (it->is_array()) {
      for (const auto& v : *it) opt->add_result(json_scalar_to_arg(v));
    } else {
      opt->add_result(json_scalar_to_arg(*it));
    }
    try {
      opt->run_callback();
    } catch (const CLI::Error& e) {
      throw_input("bad value in config", {.file = path,
                                          .field = it.key(),
                                          .expected = opt->get_type_name(),
                                          .found = printable_excerpt(it->dump(), 80) + " (" + e.what() + ")"});
    }
  }
}

std::string integer_flag_error(const std::string& text, const std::string& min, const std::string& max) {
  return format_error("not a whole number in range", {.expected = "a decimal integer in " + min + ".." + max,
                                                      .found = "'" + printable_excerpt(text, 40) + "'"});
}

std::string methods_help() {
  std::string out = "Methods:\n";
  for (const auto& d : method_defs())
    if (d.run) out += "  " + d.name + std::string(d.name.size() < 10 ? 10 - d.name.size() : 1, ' ') + d.summary + "\n";
  return out;
}

std::shared_ptr<BackendFlags> add_backend_flags(CLI::App& a) {
  auto f = std::make_shared<BackendFlags>();
  add_options(a, f->local);
  add_options(a, f->http, "Teacher over HTTP (vLLM, SGLang, TGI, llama.cpp, s2d serve; API key from $S2D_API_KEY)");
  return f;
}

std::unique_ptr<Backend> make_backend(const CLI::App& cmd, const BackendFlags& f) {
  const bool local = !f.local.model_dir.empty(), http = !f.http.endpoint.empty();
  if (local == http) {
    throw_input(local ? "--model and --endpoint both given" : "missing required flag",
                {.field = "--model / --endpoint",
                 .expected = "exactly one: a model directory or a server URL",
                 .found = local ? f.local.model_dir + " and " + f.http.endpoint : "none",
                 .hint = help_hint(cmd)});
  }
  if (http) {
    api::HttpBackendOptions h = f.http;
    h.chat_template_kwargs = template_kwargs(f.local.chat_template_kwargs, "--chat-template-kwargs");
    return api::make_http_backend(std::move(h));
  }
  return make_local_backend(f.local);
}

nlohmann::json flags_as_json(const CLI::App& cmd) {
  nlohmann::json j = nlohmann::json::object();
  for (const CLI::Option* o : cmd.get_options()) {
    if (o->count() == 0 || o->get_lnames().empty()) continue;
    const auto& r = o->results();
    j[o->get_lnames()[0]] = r.size() == 1 ? nlohmann::json(r[0]) : nlohmann::json(r);
  }
  return j;
}

void require_flags(const CLI::App& cmd, const std::vector<std::string>& flags) {
  for (const std::string& f : flags) {
    const CLI::Option* opt = cmd.get_option_no_throw(f);
    if (opt == nullptr || opt->count() == 0) {
      throw_input("missing required flag", {.field = f,
                                            .expected = "a value on the command line or in --config",
                                            .found = "none",
                                            .hint = help_hint(cmd)});
    }
  }
}

}  // namespace s2d::cli
