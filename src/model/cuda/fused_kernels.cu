// tests/unit/cuda_emulation.h runs these kernels on the host: the CUDA headers and the launchers
// are left out there (S2D_CUDA_EMULATION).
#include "fused_kernels.h"
#include "kernel_numerics.cuh"

namespace s2d::cuda_kernels {

namespace {

using namespace numerics;

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
    const float s = rounded<T>(aten_silu(g));
    store(out, j, s * u);
  }
}

template <typename T>
__global__ void rope_qk_kernel(const T* qkv, const T* cos, const T* sin, T* q_out, T* k_out, int64_t rows, int64_t NH,
                               int64_t KV, int64_t D) {
  const int64_t F = (NH + 2 * KV) * D, per_row = (NH + KV) * D, n = rows * per_row;
  for (int64_t j = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; j < n;
       j += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = j / per_row, hd = j % per_row, h = hd / D, d = hd % D;
    const float y = rope_at<T>(qkv + r * F + h * D, cos + r * D, sin + r * D, d, D);
    if (h < NH)
      store(q_out, (r * NH + h) * D + d, y);
    else
      store(k_out, (r * KV + h - NH) * D + d, y);
  }
}

template <typename T>
__global__ void add_square_kernel(const T* h, const T* d, T* h_out, float* sq, int64_t n) {
  for (int64_t j = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; j < n;
       j += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float y = rounded<T>(load(h, j) + load(d, j));  // ATen's add: in fp32, then rounded
    store(h_out, j, y);
    sq[j] = y * y;  // pow(x, 2) is x * x in ATen
  }
}

template <typename T>
__global__ void rope_qk_append_kernel(const T* qkv, const T* cos, const T* sin, const int64_t* pos, T* q_out,
                                      T* k_cache, T* v_cache, int64_t B, int64_t NH, int64_t KV, int64_t D, int64_t C) {
  const int64_t F = (NH + 2 * KV) * D, n = B * F;
  for (int64_t j = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; j < n;
       j += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t b = j / F, hd = j % F, h = hd / D, d = hd % D;
    const T* x = qkv + b * F + h * D;
    if (h < NH) {
      store(q_out, (b * NH + h) * D + d, rope_at<T>(x, cos + b * D, sin + b * D, d, D));
      continue;
    }
    const int64_t p = pos[b];
    if (p < 0 || p >= C) continue;
    if (h < NH + KV)
      store(k_cache, ((b * KV + h - NH) * C + p) * D + d, rope_at<T>(x, cos + b * D, sin + b * D, d, D));
    else
      v_cache[((b * KV + h - NH - KV) * C + p) * D + d] = x[d];
  }
}

}  // namespace

#ifndef S2D_CUDA_EMULATION  // the launchers (the emulation launches the kernels itself)

namespace {

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

template <typename T>
int add_square_typed(const void* h, const void* d, void* h_out, float* sq, int64_t n, cudaStream_t s) {
  add_square_kernel<T><<<blocks_for(n, 256), 256, 0, s>>>(static_cast<const T*>(h), static_cast<const T*>(d),
                                                          static_cast<T*>(h_out), sq, n);
  return static_cast<int>(cudaGetLastError());
}

template <typename T>
int rope_qk_append_typed(const void* qkv, const void* cos, const void* sin, const int64_t* pos, void* q_out,
                         void* k_cache, void* v_cache, int64_t B, int64_t NH, int64_t KV, int64_t D, int64_t C,
                         cudaStream_t s) {
  rope_qk_append_kernel<T><<<blocks_for(B * (NH + 2 * KV) * D, 256), 256, 0, s>>>(
      static_cast<const T*>(qkv), static_cast<const T*>(cos), static_cast<const T*>(sin), pos, static_cast<T*>(q_out),
      static_cast<T*>(k_cache), static_cast<T*>(v_cache), B, NH, KV, D, C);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace

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

int add_square(const void* h, const void* d, void* h_out, float* sq, int64_t n, DType dtype, void* stream) {
  S2D_DISPATCH(dtype, add_square_typed, h, d, h_out, sq, n, static_cast<cudaStream_t>(stream));
}

int rope_qk_append(const void* qkv, const void* cos, const void* sin, const int64_t* pos, void* q_out, void* k_cache,
                   void* v_cache, int64_t B, int64_t NH, int64_t KV, int64_t D, int64_t C, DType dtype, void* stream) {
  S2D_DISPATCH(dtype, rope_qk_append_typed, qkv, cos, sin, pos, q_out, k_cache, v_cache, B, NH, KV, D, C,
               static_cast<cudaStream_t>(stream));
}

#endif

}  // namespace s2d::cuda_kernels
