// tests/unit/cuda_emulation.h runs these kernels on the host: the CUDA headers and the launchers
// are left out there (S2D_CUDA_EMULATION).
#include "kernel_numerics.cuh"
#include "train_kernels.h"

namespace s2d::cuda_kernels {

namespace {

using namespace numerics;

template <typename T>
__global__ void silu_mul_backward_kernel(const T* gate_up, const T* grad, T* grad_gate_up, int64_t rows, int64_t I) {
  const int64_t n = rows * I;
  for (int64_t j = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; j < n;
       j += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = j / I, i = j % I, gate_at = r * 2 * I + i, up_at = gate_at + I;
    const float g = load(gate_up, gate_at), u = load(gate_up, up_at), dy = load(grad, j);
    const float silu = rounded<T>(aten_silu(g));  // the forward's
    // ATen's silu_backward, written as it is so that nvcc contracts it alike.
    const float s = 1.0f / (1.0f + expf(-g));
    const float d_silu = rounded<T>(dy * u);  // mul's gradient for silu(gate)
    store(grad_gate_up, gate_at, d_silu * s * (1.0f + g * (1.0f - s)));
    store(grad_gate_up, up_at, dy * silu);  // mul's gradient for up
  }
}

// Element j of a [B, T, H, D] output walks x's (or the gradient's) [B, H, T, D] strides.
struct RopeIndex {
  int64_t at;   // the head row's offset in the strided input
  int64_t tab;  // the row's offset in cos and sin [B, T, D]
  int64_t d;
};
__device__ __forceinline__ RopeIndex rope_index(int64_t j, int64_t sb, int64_t sh, int64_t st, int64_t H, int64_t T,
                                                int64_t D) {
  const int64_t d = j % D, h = (j / D) % H, bt = j / (H * D), t = bt % T, b = bt / T;
  return {b * sb + h * sh + t * st, bt * D, d};
}

template <typename T>
__global__ void rope_fp32_tables_kernel(const T* x, int64_t sb, int64_t sh, int64_t st, const float* cos,
                                        const float* sin, float* out, int64_t B, int64_t H, int64_t T_, int64_t D) {
  const int64_t n = B * T_ * H * D;
  for (int64_t j = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; j < n;
       j += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const RopeIndex i = rope_index(j, sb, sh, st, H, T_, D);
    out[j] = rope_at<float>(x + i.at, cos + i.tab, sin + i.tab, i.d, D);
  }
}

template <typename T>
__global__ void rope_fp32_tables_backward_kernel(const float* grad, int64_t sb, int64_t sh, int64_t st,
                                                 const float* cos, const float* sin, T* grad_x, int64_t B, int64_t H,
                                                 int64_t T_, int64_t D) {
  const int64_t n = B * T_ * H * D, half = D / 2;
  for (int64_t j = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; j < n;
       j += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const RopeIndex i = rope_index(j, sb, sh, st, H, T_, D);
    const float* g = grad + i.at;
    const int64_t e = i.d < half ? i.d + half : i.d - half;  // the element that rotate_half moved onto d
    const float through_cos = rounded<T>(__fmul_rn(g[i.d], cos[i.tab + i.d]));
    const float through_sin = rounded<T>(__fmul_rn(g[e], sin[i.tab + e]));
    store(grad_x, j, __fadd_rn(through_cos, i.d < half ? through_sin : -through_sin));
  }
}

}  // namespace

#ifndef S2D_CUDA_EMULATION  // the launchers (the emulation launches the kernels itself)

namespace {

template <typename T>
int silu_mul_backward_typed(const void* gate_up, const void* grad, void* grad_gate_up, int64_t rows, int64_t I,
                            cudaStream_t s) {
  silu_mul_backward_kernel<T><<<blocks_for(rows * I, 256), 256, 0, s>>>(
      static_cast<const T*>(gate_up), static_cast<const T*>(grad), static_cast<T*>(grad_gate_up), rows, I);
  return static_cast<int>(cudaGetLastError());
}

template <typename T>
int rope_fp32_tables_typed(const void* x, int64_t sb, int64_t sh, int64_t st, const float* cos, const float* sin,
                           float* out, int64_t B, int64_t H, int64_t T_, int64_t D, cudaStream_t s) {
  rope_fp32_tables_kernel<T><<<blocks_for(B * T_ * H * D, 256), 256, 0, s>>>(static_cast<const T*>(x), sb, sh, st, cos,
                                                                             sin, out, B, H, T_, D);
  return static_cast<int>(cudaGetLastError());
}

template <typename T>
int rope_fp32_tables_backward_typed(const float* grad, int64_t sb, int64_t sh, int64_t st, const float* cos,
                                    const float* sin, void* grad_x, int64_t B, int64_t H, int64_t T_, int64_t D,
                                    cudaStream_t s) {
  rope_fp32_tables_backward_kernel<T><<<blocks_for(B * T_ * H * D, 256), 256, 0, s>>>(
      grad, sb, sh, st, cos, sin, static_cast<T*>(grad_x), B, H, T_, D);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace

int silu_mul_backward(const void* gate_up, const void* grad, void* grad_gate_up, int64_t rows, int64_t I, DType dtype,
                      void* stream) {
  S2D_DISPATCH(dtype, silu_mul_backward_typed, gate_up, grad, grad_gate_up, rows, I, static_cast<cudaStream_t>(stream));
}

int rope_fp32_tables(const void* x, int64_t sb, int64_t sh, int64_t st, const float* cos, const float* sin, float* out,
                     int64_t B, int64_t H, int64_t T, int64_t D, DType dtype, void* stream) {
  S2D_DISPATCH(dtype, rope_fp32_tables_typed, x, sb, sh, st, cos, sin, out, B, H, T, D,
               static_cast<cudaStream_t>(stream));
}

int rope_fp32_tables_backward(const float* grad, int64_t sb, int64_t sh, int64_t st, const float* cos, const float* sin,
                              void* grad_x, int64_t B, int64_t H, int64_t T, int64_t D, DType dtype, void* stream) {
  S2D_DISPATCH(dtype, rope_fp32_tables_backward_typed, grad, sb, sh, st, cos, sin, grad_x, B, H, T, D,
               static_cast<cudaStream_t>(stream));
}

#endif

}  // namespace s2d::cuda_kernels
