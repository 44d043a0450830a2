// Runs a CUDA kernel's source on the host, for machines without a GPU: include this, then the .cu
// file, then call emulate_launch(blocks, threads, kernel, args...). Each CUDA thread is a
// std::thread; blocks run one after another (so a kernel's __shared__ variables, made function
// statics here, belong to one block at a time). __syncthreads is a barrier over the block, warp
// shuffles exchange through a buffer between two barriers over the warp, and a thread that returns
// leaves both barriers, as an exited CUDA thread does. What this checks: the kernel's indexing,
// its cooperation through shared memory and shuffles, and its arithmetic where the host computes
// it alike (integer and correctly rounded float operations, not expf or rsqrtf). What it cannot:
// the GPU's memory model, timing, or races that a barrier-per-step schedule hides.
#pragma once

#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <thread>
#include <type_traits>
#include <vector>

#define S2D_CUDA_EMULATION 1
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
};

namespace s2d::cuda_emulation {

struct Block {
  std::unique_ptr<std::barrier<>> all;
  std::vector<std::unique_ptr<std::barrier<>>> warps;
  std::vector<uint64_t> lanes;  // one shuffle value per thread
};
inline thread_local dim3 thread_index, block_index;
inline dim3 block_dim, grid_dim;
inline Block* current = nullptr;

inline std::barrier<>& warp_barrier() { return *current->warps[thread_index.x / 32]; }

template <typename T>
T shfl_up(T v, unsigned delta) {
  static_assert(sizeof(T) <= sizeof(uint64_t) && std::is_trivially_copyable_v<T>);
  const unsigned lane = thread_index.x % 32;
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof v);
  current->lanes[thread_index.x] = bits;
  warp_barrier().arrive_and_wait();
  T out = v;
  if (lane >= delta) std::memcpy(&out, &current->lanes[thread_index.x - delta], sizeof out);
  warp_barrier().arrive_and_wait();
  return out;
}

template <typename Kernel, typename... Args>
void emulate_launch(unsigned blocks, unsigned threads, Kernel kernel, Args... args) {
  grid_dim = dim3{blocks};
  block_dim = dim3{threads};
  for (unsigned b = 0; b < blocks; ++b) {
    Block block;
    block.all = std::make_unique<std::barrier<>>(threads);
    for (unsigned w = 0; w < (threads + 31) / 32; ++w)
      block.warps.push_back(std::make_unique<std::barrier<>>(std::min(32u, threads - w * 32)));
    block.lanes.resize(threads);
    current = &block;
    std::vector<std::thread> pool;
    pool.reserve(threads);
    for (unsigned t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        thread_index = dim3{t};
        block_index = dim3{b};
        kernel(args...);
        block.all->arrive_and_drop();
        block.warps[t / 32]->arrive_and_drop();
      });
    for (auto& th : pool) th.join();
    current = nullptr;
  }
}

}  // namespace s2d::cuda_emulation

#define threadIdx ::s2d::cuda_emulation::thread_index
#define blockIdx ::s2d::cuda_emulation::block_index
#define blockDim ::s2d::cuda_emulation::block_dim
#define gridDim ::s2d::cuda_emulation::grid_dim

inline void __syncthreads() { ::s2d::cuda_emulation::current->all->arrive_and_wait(); }
template <typename T>
T __shfl_up_sync(unsigned, T v, unsigned delta) {
  return ::s2d::cuda_emulation::shfl_up(v, delta);
}
template <typename T>
T atomicAdd(T* p, T v) {
  return __atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}
// Correctly rounded, as on the GPU, where the host build does not contract a * b + c into an FMA
// (the baseline x86-64 this file is built for has none).
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
// Where the host's result differs from the GPU's (the kernels' rsqrtf and expf are approximations
// there), these give what ATen's CPU kernels compute: compare with the ATen chain on the CPU.
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
// The 16-bit types through c10's, which convert with the same rounding (to nearest even).
using __nv_bfloat16 = c10::BFloat16;
using __half = c10::Half;
inline float __bfloat162float(__nv_bfloat16 x) { return static_cast<float>(x); }
inline __nv_bfloat16 __float2bfloat16_rn(float x) { return __nv_bfloat16(x); }
inline float __half2float(__half x) { return static_cast<float>(x); }
inline __half __float2half_rn(float x) { return __half(x); }
