// --device auto|cpu|cuda and --dtype auto|fp32|bf16|fp16.
// auto: CUDA when libtorch sees a GPU, else CPU; bf16 on CUDA, fp32 on the CPU.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>
#include <string>

namespace s2d {

c10::Device resolve_device(const std::string& name);
c10::ScalarType resolve_dtype(const std::string& name, const c10::Device& device);
std::string dtype_name(c10::ScalarType t);  // fp32 | bf16 | fp16

// Bytes a new allocation on `device` may take: the CPU's MemAvailable (/proc/meminfo); on CUDA the
// driver's free memory plus what torch's caching allocator has reserved and not allocated; UINT64_MAX
// where it cannot tell (another GPU, or CUDA refused the query).
uint64_t allocatable_bytes(const c10::Device& device);

}  // namespace s2d
