#include "s2d/model/device.h"

#include <ATen/Context.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <limits>

#include "s2d/util/error.h"
#include "s2d/util/memory.h"

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
  if (!device.is_cpu()) return std::numeric_limits<uint64_t>::max();
  return available_host_memory();
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
