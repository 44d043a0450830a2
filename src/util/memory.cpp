#include "s2d/util/memory.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace s2d {

uint64_t available_host_memory() {
  std::ifstream in("/proc/meminfo");
  std::string key, unit;
  uint64_t kb = 0;
  while (in >> key >> kb >> unit)
    if (key == "MemAvailable:") return kb * 1024;
  // No /proc: physical memory as the bound.
  return static_cast<uint64_t>(::sysconf(_SC_PHYS_PAGES)) * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

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
