#include "s2d/model/device.h"

#include <ATen/Context.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <limits>

#include "s2d/util/error.h"
#include "s2d/util/memory.h"
#include "s2d/version.h"

#if S2D_HAS_CUDA_BUILD
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <cuda_runtime_api.h>
#endif

namespace s2d {

c10::Device resolve_device(const std::string& name) {
  const bool cuda = at::hasCUDA();
  if (name == "auto") return cuda ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  if (name == "cpu") return c10::Device(c10::kCPU);
  if (name == "cuda" || name.rfind("cuda:", 0) == 0) {
    if (!cuda) {
      throw_input("CUDA was asked for but is not available",
                  {.field = "--device",
                   .expected = "auto or cpu",
                   .found = name,
                   .hint = "this libtorch has no CUDA or no GPU is visible"});
    }
    return c10::Device(name);
  }
  throw_input("unknown device", {.field = "--device", .expected = "auto|cpu|cuda", .found = name});
}

c10::ScalarType resolve_dtype(const std::string& name, const c10::Device& device) {
  if (name == "auto") return device.is_cuda() ? c10::kBFloat16 : c10::kFloat;
  if (name == "fp32" || name == "float32") return c10::kFloat;
  if (name == "bf16" || name == "bfloat16") return c10::kBFloat16;
  if (name == "fp16" || name == "float16") return c10::kHalf;
  throw_input("unknown dtype", {.field = "--dtype", .expected = "auto|fp32|bf16|fp16", .found = name});
}

uint64_t allocatable_bytes(const c10::Device& device) {
  if (device.is_cpu()) return available_host_memory();
#if S2D_HAS_CUDA_BUILD
  if (device.is_cuda()) {
    // What the driver has free, plus what torch's caching allocator holds without using it.
    const c10::cuda::CUDAGuard on(device);
    size_t free = 0, total = 0;
    if (cudaMemGetInfo(&free, &total) != cudaSuccess) {
      (void)cudaGetLastError();  // clear it: the next CUDA call must not see it
      return std::numeric_limits<uint64_t>::max();
    }
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(on.current_device().index());
    constexpr auto kAll = static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE);
    const int64_t idle = stats.reserved_bytes[kAll].current - stats.allocated_bytes[kAll].current;
    return static_cast<uint64_t>(free) + static_cast<uint64_t>(std::max<int64_t>(0, idle));
  }
#endif
  return std::numeric_limits<uint64_t>::max();
}

std::string dtype_name(c10::ScalarType t) {
  switch (t) {
    case c10::kFloat: return "fp32";
    case c10::kBFloat16: return "bf16";
    case c10::kHalf: return "fp16";
    default: return c10::toString(t);
  }
}

}  // namespace s2d
