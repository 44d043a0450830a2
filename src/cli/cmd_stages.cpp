// The pipeline stages not built yet (generate, filter and distill have their own files). Registered now so that `--help` and `--config` work for each; their
// issues (#4-#7) fill in the flags and the work. Running one that is not built yet says so and
// exits 1, rather than pretending to succeed.
#include "s2d/cli/commands.h"
#include "s2d/util/error.h"

namespace s2d::cli {

namespace {
void add_stage(CLI::App& root, Commands& out, const std::string& name, const std::string& desc,
               const std::string& issue) {
  auto cmd = add_command(root, out, name, desc);
  cmd->run = [name, issue] {
    throw_runtime("'s2d " + name + "' is not implemented in this build yet",
                  {.hint = "tracked in issue " + issue});
    return 1;
  };
}
}  // namespace

void register_unbuilt_stages(CLI::App& root, Commands& out) {
  add_stage(root, out, "eval", "Stage 4: accuracy and tokens per answer for System 1, System 2, distilled", "#7");
}

}  // namespace s2d::cli
