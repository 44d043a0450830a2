#include <string>

#include "s2d/cli/commands.h"
#include "s2d/util/memory.h"

int main(int argc, char** argv) {
  // A server runs for days: its heap must not fragment without bound (see memory.h).
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "serve") s2d::reexec_with_bounded_heap(argc, argv);
  return s2d::cli::run(argc, argv);
}
