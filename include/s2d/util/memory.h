// How the heap of a long-lived process (s2d serve) stays bounded.
#pragma once

#include <cstdint>

namespace s2d {

// Bytes a new host allocation may take: MemAvailable from /proc/meminfo, else physical memory.
uint64_t available_host_memory();

// For `s2d serve`: re-executes the process once with MALLOC_MMAP_THRESHOLD_=262144 in its
// environment (glibc), so that heap blocks of 256 KiB and more are mmap(2)ed and go back to the OS
// when freed. Without it glibc raises its mmap threshold after the first large free, the engine's
// prefill caches and logits of changing sizes then come from the heap and fragment it: in a
// 10-minute soak (scripts/bench/serve.sh --soak) the server grew from 220 MiB to 2.2 GiB. Calling
// mallopt(M_MMAP_THRESHOLD) from inside the process did not help in the same soak (220 -> 478 MiB in
// one minute, the same as without), while the environment variable set before exec kept it flat
// (208 -> 226 MiB); see docs/notes/hostile-input.md. Returns only when no re-exec was needed or
// it failed (the server then runs as before). A no-op off glibc.
void reexec_with_bounded_heap(int argc, char** argv);

}  // namespace s2d
