// One declaration per option set (the model is gemma.cpp's ForEach). Each options struct that a
// command exposes declares, next to it,
//
//   template <OptionsOf<XOptions> O, class F> void visit_options(O& o, F&& f);
//
// which calls f(flag, key, field, help) once per option, in --help order:
//   flag   the long flag, "--max-new-tokens"; its --config key is the same without the dashes;
//   key    the option's name in the run's identity (what a resumed run must match, and what
//          OUT/train_config.json or OUT.run.json records), or "" when the option cannot change
//          the run's results (output paths, progress, resume switches, the shard);
//   field  the member itself, so one visit both binds the CLI and reads the identity;
//   help   one line for --help.
// cli::add_options derives the CLI11 flags from it, and with them the --config keys,
// flags_as_json and provenance; run_identity derives the identity. A new option added to a
// visit_options is in all of them, and an option cannot be in one and missing from another.
#pragma once

#include <concepts>
#include <nlohmann/json.hpp>
#include <type_traits>

namespace s2d {

// `O` is T or const T: visit_options serves both the CLI (which writes the fields) and the
// identity (which reads them).
template <class O, class T>
concept OptionsOf = std::same_as<std::remove_const_t<O>, T>;

// {key: value} for every option of `o` that has a key.
template <class Options>
nlohmann::json run_identity(const Options& o) {
  nlohmann::json id = nlohmann::json::object();
  visit_options(o, [&](const char*, const char* key, const auto& value, const auto&) {
    if (*key) id[key] = value;
  });
  return id;
}

}  // namespace s2d
