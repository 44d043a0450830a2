#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "fused_kernels.h"

namespace s2d::cuda_kernels {

namespace {

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

template <typename T>
__global__ void rms_norm_scale_kernel(const T* x, const float* var, const T* weight, T* out, int64_t H, float eps) {
  const int64_t r = blockIdx.x;
  // ATen's rsqrt on a float tensor is CUDA's rsqrtf; var + eps is a float add (eps cast to float).
  const float inv = rsqrtf(var[r] + eps);
  for (int64_t i = threadIdx.x; i < H; i += blockDim.x)
    store(out, r * H + i, load(weight, i) * rounded<T>(load(x, r * H + i) * inv));
}

template <typename T>
__global__ void silu_mul_kernel(const T* gate_up, T* out, int64_t rows, int64_t I) {
  const int64_t n = rows * I;
  for (int64_t j = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; j < n;
       j += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = j / I, i = j % I;
    const float g = load(gate_up, r * 2 * I + i), u = load(gate_up, r * 2 * I + I + i);
    const float s = rounded<T>(g / (1.0f + expf(-g)));  // ATen's silu: x / (1 + exp(-x)) in fp32
    store(out, j, s * u);
  }
}

template <typename T>
__global__ void rope_qk_kernel(const T* qkv, const T* cos, const T* sin, T* q_out, T* k_out, int64_t rows, int64_t NH,
                               int64_t KV, int64_t D) {
  const int64_t F = (NH + 2 * KV) * D, half = D / 2, per_row = (NH + KV) * D, n = rows * per_row;
  for (int64_t j = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; j < n;
       j += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = j / per_row, hd = j % per_row, h = hd / D, d = hd % D;
    const T* x = qkv + r * F + h * D;
    const float rot = d < half ? -load(x, d + half) : load(x, d - half);
    const float y = rounded<T>(load(x, d) * load(cos, r * D + d)) + rounded<T>(rot * load(sin, r * D + d));
    if (h < NH)
      store(q_out, (r * NH + h) * D + d, y);
    else
      store(k_out, (r * KV + h - NH) * D + d, y);
  }
}

// Blocks for a grid-stride loop over n elements.
unsigned blocks_for(int64_t n, int threads) {
  const int64_t b = (n + threads - 1) / threads;
  return static_cast<unsigned>(b < 1 ? 1 : (b > 65535 ? 65535 : b));
}

template <typename T>
int rms_norm_scale_typed(const void* x, const float* var, const void* weight, void* out, int64_t rows, int64_t H,
                         float eps, cudaStream_t s) {
  const int threads = H >= 1024 ? 1024 : 256;
  rms_norm_scale_kernel<T><<<static_cast<unsigned>(rows), threads, 0, s>>>(
      static_cast<const T*>(x), var, static_cast<const T*>(weight), static_cast<T*>(out), H, eps);
  return static_cast<int>(cudaGetLastError());
}

template <typename T>
int silu_mul_typed(const void* gate_up, void* out, int64_t rows, int64_t I, cudaStream_t s) {
  silu_mul_kernel<T>
      <<<blocks_for(rows * I, 256), 256, 0, s>>>(static_cast<const T*>(gate_up), static_cast<T*>(out), rows, I);
  return static_cast<int>(cudaGetLastError());
}

template <typename T>
int rope_qk_typed(const void* qkv, const void* cos, const void* sin, void* q_out, void* k_out, int64_t rows, int64_t NH,
                  int64_t KV, int64_t D, cudaStream_t s) {
  rope_qk_kernel<T><<<blocks_for(rows * (NH + KV) * D, 256), 256, 0, s>>>(
      static_cast<const T*>(qkv), static_cast<const T*>(cos), static_cast<const T*>(sin), static_cast<T*>(q_out),
      static_cast<T*>(k_out), rows, NH, KV, D);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace

#define S2D_DISPATCH(dtype, fn, ...)                         \
  switch (dtype) {                                           \
    case DType::F32: return fn<float>(__VA_ARGS__);          \
    case DType::BF16: return fn<__nv_bfloat16>(__VA_ARGS__); \
    case DType::F16: return fn<__half>(__VA_ARGS__);         \
  }                                                          \
  return static_cast<int>(cudaErrorInvalidValue)

int rms_norm_scale(const void* x, const float* var, const void* weight, void* out, int64_t rows, int64_t H, float eps,
                   DType dtype, void* stream) {
  S2D_DISPATCH(dtype, rms_norm_scale_typed, x, var, weight, out, rows, H, eps, static_cast<cudaStream_t>(stream));
}

int silu_mul(const void* gate_up, void* out, int64_t rows, int64_t I, DType dtype, void* stream) {
  S2D_DISPATCH(dtype, silu_mul_typed, gate_up, out, rows, I, static_cast<cudaStream_t>(stream));
}

int rope_qk(const void* qkv, const void* cos, const void* sin, void* q_out, void* k_out, int64_t rows, int64_t NH,
            int64_t KV, int64_t D, DType dtype, void* stream) {
  S2D_DISPATCH(dtype, rope_qk_typed, qkv, cos, sin, q_out, k_out, rows, NH, KV, D, static_cast<cudaStream_t>(stream));
}

}  // namespace s2d::cuda_kernels
