// One register function per subcommand file in src/cli/. Each adds its (sub)commands to the root
// app; main.cpp parses, merges --config, and runs the chosen leaf.
#pragma once

#include "s2d/cli/options.h"

namespace s2d::cli {

void register_data(CLI::App& root, Commands& out);
void register_generate(CLI::App& root, Commands& out);
void register_filter(CLI::App& root, Commands& out);
void register_distill(CLI::App& root, Commands& out);
void register_eval(CLI::App& root, Commands& out);
void register_inspect(CLI::App& root, Commands& out);
void register_model(CLI::App& root, Commands& out);
void register_merge(CLI::App& root, Commands& out);
void register_serve(CLI::App& root, Commands& out);

// The whole program: parse, run, map errors to exit codes (0 ok, 1 runtime, 2 usage/bad input).
int run(int argc, char** argv);

}  // namespace s2d::cli
