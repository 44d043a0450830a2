#include "s2d/util/memory.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace s2d {

void bound_heap_growth() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
#endif
}

}  // namespace s2d
