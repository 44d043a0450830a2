// Small host <-> device copies that never make the host wait for the device's whole queue.
//
// A plain `.to(device)` from pageable host memory, or `.to(kCPU)` of a device tensor, blocks the
// host until every kernel queued before it has finished. A decode loop that does so each step
// leaves the GPU idle while the host prepares the next step. Here uploads go through pinned
// memory with a non-blocking copy (PyTorch's caching host allocator keeps the pinned block alive
// until the copy has run), and a readback waits on an event recorded right after its copy, not on
// the work queued after it. On the CPU both are plain synchronous copies.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Event.h>

#include <cstdint>
#include <optional>
#include <vector>

namespace s2d {

// [n] tensors on `device` holding `values`.
at::Tensor upload(const std::vector<int64_t>& values, const c10::Device& device);
at::Tensor upload(const std::vector<int32_t>& values, const c10::Device& device);
at::Tensor upload(const std::vector<float>& values, const c10::Device& device);
// A host tensor on `device`: on CUDA through a pinned copy and a non-blocking upload (a training
// batch: distill builds the next step's while the device runs the last one); elsewhere itself.
at::Tensor upload(const at::Tensor& host, const c10::Device& device);
// The same into an existing tensor of as many elements (a buffer a CUDA graph reads), in its shape.
void upload_into(const at::Tensor& dst, const std::vector<int64_t>& values);
void upload_into(const at::Tensor& dst, const std::vector<float>& values);

// Blocks until everything queued so far on `device`'s current stream has run (nothing on the CPU).
void wait_for_queue(const c10::Device& device);

// A device tensor's values on the host, read one step late:
//   readback.start(tokens);   // queued after the work that computes `tokens`
//   ...queue the next step...
//   readback.wait();          // returns once the copy has landed, while the next step runs
class Readback {
 public:
  void start(const at::Tensor& device_tensor);
  // The host copy (a CPU tensor) of what start() was given.
  const at::Tensor& wait();

 private:
  at::Tensor host_;
  std::optional<c10::Event> landed_;  // CUDA only
};

}  // namespace s2d
