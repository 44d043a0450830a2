// The memory that one owner's CUDA graphs share: the decode graphs of an engine's slot-count
// buckets, or the captured training steps of a trainer's batch shapes. One private pool (the first
// capture's) and one side stream on which every warm-up and capture runs. The caching allocator
// reuses a block freed in a pool only on the stream that freed it, so on one stream a capture
// reuses the activations that earlier captures freed, and the pool holds the largest graph's
// memory instead of the sum (torch.cuda.graph keeps one capture stream for the same reason).
// Sharing is safe because one owner's graphs never replay at once, each replay writes every
// intermediate before it reads it, and the owner copies a replay's outputs out before the next.
// Opaque outside CUDA builds, where nothing is captured.
#pragma once

#include <memory>

#include "s2d/version.h"

#if S2D_HAS_CUDA_BUILD
#include <ATen/cuda/CUDAGraph.h>
#include <c10/core/Event.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <optional>
#endif

namespace s2d {

struct GraphMemory {
#if S2D_HAS_CUDA_BUILD
  std::optional<c10::MempoolId_t> pool;
  std::optional<c10::cuda::CUDAStream> stream;

  // The graph of what `launch` issues on the current stream (the side stream, under
  // OnSideStream), allocating in the shared pool.
  template <class Launch>
  std::unique_ptr<at::cuda::CUDAGraph> capture(cudaStreamCaptureMode mode, Launch&& launch) {
    auto graph = std::make_unique<at::cuda::CUDAGraph>();
    graph->capture_begin(pool.value_or(c10::MempoolId_t{0, 0}), mode);
    launch();
    graph->capture_end();
    if (!pool) pool = graph->pool();
    return graph;
  }
#endif
};

std::shared_ptr<GraphMemory> make_graph_memory();

#if S2D_HAS_CUDA_BUILD
// For its lifetime, makes the memory's side stream current (capture cannot use the legacy default
// stream), ordered after the work issued so far on the stream that was current, which waits in
// turn for the side stream's work when this ends.
class OnSideStream {
 public:
  explicit OnSideStream(GraphMemory& memory);
  ~OnSideStream();
  OnSideStream(const OnSideStream&) = delete;
  OnSideStream& operator=(const OnSideStream&) = delete;
  const c10::cuda::CUDAStream& side() const { return side_; }

 private:
  c10::cuda::CUDAStream current_, side_;
  c10::cuda::CUDAStreamGuard guard_;
};
#endif

}  // namespace s2d
