#include "s2d/model/graph_memory.h"

namespace s2d {

std::shared_ptr<GraphMemory> make_graph_memory() { return std::make_shared<GraphMemory>(); }

#if S2D_HAS_CUDA_BUILD
namespace {
c10::cuda::CUDAStream side_stream_of(GraphMemory& memory, const c10::cuda::CUDAStream& current) {
  if (!memory.stream) memory.stream = c10::cuda::getStreamFromPool(false, current.device_index());
  return *memory.stream;
}

c10::cuda::CUDAStream after(const c10::cuda::CUDAStream& first, c10::cuda::CUDAStream then) {
  c10::Event ready(c10::DeviceType::CUDA);
  ready.record(first);
  ready.block(then);
  return then;
}
}  // namespace

OnSideStream::OnSideStream(GraphMemory& memory)
    : current_(c10::cuda::getCurrentCUDAStream()),
      side_(after(current_, side_stream_of(memory, current_))),
      guard_(side_) {}

OnSideStream::~OnSideStream() {
  c10::Event done(c10::DeviceType::CUDA);
  done.record(side_);
  done.block(current_);
}
#endif

}  // namespace s2d
