// How the heap of a long-lived process (s2d serve) stays bounded.
#pragma once

namespace s2d {

// Serves heap blocks of 256 KiB and more with mmap(2), so that freeing one returns it to the OS
// at once (glibc's mallopt(M_MMAP_THRESHOLD); a no-op elsewhere). Without it glibc raises its mmap
// threshold after the first large free, the engine's prefill caches and logits of changing sizes
// then come from the heap and fragment it, and s2d serve's resident memory grew from 220 MiB to
// 2.2 GiB in a 10-minute soak (scripts/bench/serve.sh --soak; see docs/notes/hostile-input.md).
void bound_heap_growth();

}  // namespace s2d
