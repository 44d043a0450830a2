// The loads, stores and roundings that the fused kernels share (fused_kernels.cu, train_kernels.cu):
// each kernel computes in fp32 and rounds where the ATen op it stands for rounds its result.
#pragma once

#ifndef S2D_CUDA_EMULATION
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#endif

#include <cstdint>

namespace s2d::cuda_kernels::numerics {

// Loads as fp32 and stores with the dtype's rounding (round to nearest even, as ATen's casts).
__device__ __forceinline__ float load(const float* p, int64_t i) { return p[i]; }
__device__ __forceinline__ float load(const __nv_bfloat16* p, int64_t i) { return __bfloat162float(p[i]); }
__device__ __forceinline__ float load(const __half* p, int64_t i) { return __half2float(p[i]); }
__device__ __forceinline__ void store(float* p, int64_t i, float v) { p[i] = v; }
__device__ __forceinline__ void store(__nv_bfloat16* p, int64_t i, float v) { p[i] = __float2bfloat16_rn(v); }
__device__ __forceinline__ void store(__half* p, int64_t i, float v) { p[i] = __float2half_rn(v); }
// The value a store then a load gives: the result of an ATen op in this dtype.
template <typename T>
__device__ __forceinline__ float rounded(float v) {
  T t;
  store(&t, 0, v);
  return load(&t, 0);
}

// ATen's silu in fp32, x / (1 + exp(-x)), as its kernel writes it (so that nvcc compiles it alike);
// the caller rounds it to the tensor's dtype.
__device__ __forceinline__ float aten_silu(float x) { return x / (1.0f + expf(-x)); }

// Element d of the rotated head at x (D elements), with cos and sin for its row: the chain's
// round(round(x * cos) + round(rotate_half(x) * sin)) with each product rounded to Out, the
// chain's result type (x's dtype, or fp32 where the tables are fp32 and x is not), and the sum
// rounded by the caller's store. rotate_half's negation is exact in x's dtype. The _rn intrinsics
// keep nvcc from contracting the multiply and add into one FMA, which would round once where
// ATen's separate ops round twice (fp32 differs in the last bit).
template <typename Out, typename T, typename C>
__device__ __forceinline__ float rope_at(const T* x, const C* cos, const C* sin, int64_t d, int64_t D) {
  const int64_t half = D / 2;
  const float rot = d < half ? -load(x, d + half) : load(x, d - half);
  return __fadd_rn(rounded<Out>(__fmul_rn(load(x, d), load(cos, d))), rounded<Out>(__fmul_rn(rot, load(sin, d))));
}

#ifndef S2D_CUDA_EMULATION
// Blocks for a grid-stride loop over n elements.
inline unsigned blocks_for(int64_t n, int threads) {
  const int64_t b = (n + threads - 1) / threads;
  return static_cast<unsigned>(b < 1 ? 1 : (b > 65535 ? 65535 : b));
}

// Returns fn<T>(args...) for the launcher's DType.
#define S2D_DISPATCH(dtype, fn, ...)                         \
  switch (dtype) {                                           \
    case DType::F32: return fn<float>(__VA_ARGS__);          \
    case DType::BF16: return fn<__nv_bfloat16>(__VA_ARGS__); \
    case DType::F16: return fn<__half>(__VA_ARGS__);         \
  }                                                          \
  return static_cast<int>(cudaErrorInvalidValue)
#endif

}  // namespace s2d::cuda_kernels::numerics
