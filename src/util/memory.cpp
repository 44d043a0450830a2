#include "s2d/util/memory.h"

#include <unistd.h>

#include <cstdlib>

namespace s2d {

void reexec_with_bounded_heap(int argc, char** argv) {
#if defined(__GLIBC__)
  if (argc < 1 || std::getenv("MALLOC_MMAP_THRESHOLD_") != nullptr) return;  // set already (by us, or the user)
  ::setenv("MALLOC_MMAP_THRESHOLD_", "262144", 0);
  ::execv("/proc/self/exe", argv);  // only returns on failure: run on as we are
#else
  (void)argc;
  (void)argv;
#endif
}

}  // namespace s2d
