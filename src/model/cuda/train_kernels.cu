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

// Loads and stores through a pointer whose dtype the launch names at run time (the norm's tensors
// come in up to three dtypes; one branch per element, the same for every thread).
__device__ __forceinline__ float load_as(const void* p, DType t, int64_t i) {
  if (t == DType::BF16) return load(static_cast<const __nv_bfloat16*>(p), i);
  if (t == DType::F16) return load(static_cast<const __half*>(p), i);
  return load(static_cast<const float*>(p), i);
}
__device__ __forceinline__ void store_as(void* p, DType t, int64_t i, float v) {
  if (t == DType::BF16) return store(static_cast<__nv_bfloat16*>(p), i, v);
  if (t == DType::F16) return store(static_cast<__half*>(p), i, v);
  store(static_cast<float*>(p), i, v);
}
__device__ __forceinline__ float rounded_as(DType t, float v) {
  if (t == DType::BF16) return rounded<__nv_bfloat16>(v);
  if (t == DType::F16) return rounded<__half>(v);
  return v;
}

// The sum of every thread's v over the block (Threads a power of two), a tree in shared memory:
// the same order on every run.
template <int Threads>
__device__ __forceinline__ float block_sum(float* red, float v) {
  red[threadIdx.x] = v;
  __syncthreads();
  for (int stride = Threads / 2; stride > 0; stride /= 2) {
    if (static_cast<int>(threadIdx.x) < stride) red[threadIdx.x] += red[threadIdx.x + stride];
    __syncthreads();
  }
  const float total = red[0];
  __syncthreads();  // before the next call writes red
  return total;
}

// One block per row (grid-stride over rows); each thread reads back only the elements of s it wrote.
template <int Threads>
__global__ void add_rms_norm_forward_kernel(const void* h, const void* d, const void* w, void* s, void* y, float* rstd,
                                            int64_t rows, int64_t H, float eps, DType dtype, DType d_dtype,
                                            DType y_dtype) {
  __shared__ float red[Threads];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const int64_t base = r * H;
    float squares = 0.0f;
    for (int64_t j = threadIdx.x; j < H; j += Threads) {
      const float v = rounded_as(dtype, load_as(h, dtype, base + j) + load_as(d, d_dtype, base + j));
      store_as(s, dtype, base + j, v);
      squares += v * v;
    }
    const float inv = rsqrtf(block_sum<Threads>(red, squares) / static_cast<float>(H) + eps);
    if (threadIdx.x == 0) rstd[r] = inv;
    for (int64_t j = threadIdx.x; j < H; j += Threads)
      store_as(y, y_dtype, base + j, load_as(s, dtype, base + j) * inv * load_as(w, dtype, j));
  }
}

// Block b takes rows b, b + gridDim.x, ...; its weight-gradient partial is row b of gw_partial,
// each column of which only one thread touches (no atomics).
template <int Threads>
__global__ void add_rms_norm_backward_kernel(const void* gy, const void* gs, const void* s, const void* w,
                                             const float* rstd, void* gh, void* gd, float* gw_partial, int64_t rows,
                                             int64_t H, DType dtype, DType d_dtype, DType y_dtype) {
  __shared__ float red[Threads];
  float* gw = gw_partial != nullptr ? gw_partial + static_cast<int64_t>(blockIdx.x) * H : nullptr;
  if (gw != nullptr)
    for (int64_t j = threadIdx.x; j < H; j += Threads) gw[j] = 0.0f;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const int64_t base = r * H;
    const float inv = rstd[r];
    float dot = 0.0f;
    for (int64_t j = threadIdx.x; j < H; j += Threads) {
      const float g = load_as(gy, y_dtype, base + j), x = load_as(s, dtype, base + j);
      dot += g * load_as(w, dtype, j) * x;
      if (gw != nullptr) gw[j] += g * x * inv;
    }
    const float c = block_sum<Threads>(red, dot) * inv * inv * inv / static_cast<float>(H);
    for (int64_t j = threadIdx.x; j < H; j += Threads) {
      const float g = load_as(gy, y_dtype, base + j), x = load_as(s, dtype, base + j);
      float v = inv * g * load_as(w, dtype, j) - c * x;
      if (gs != nullptr) v += load_as(gs, dtype, base + j);
      store_as(gh, dtype, base + j, v);
      if (gd != nullptr) store_as(gd, d_dtype, base + j, v);
    }
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

constexpr int kNormThreads = 256;

}  // namespace

int add_rms_norm_forward(const void* h, const void* d, const void* w, void* s, void* y, float* rstd, int64_t rows,
                         int64_t H, float eps, DType dtype, DType d_dtype, DType y_dtype, void* stream) {
  const unsigned blocks = static_cast<unsigned>(rows < 65535 ? rows : 65535);
  add_rms_norm_forward_kernel<kNormThreads><<<blocks, kNormThreads, 0, static_cast<cudaStream_t>(stream)>>>(
      h, d, w, s, y, rstd, rows, H, eps, dtype, d_dtype, y_dtype);
  return static_cast<int>(cudaGetLastError());
}

int64_t add_rms_norm_backward_blocks(int64_t rows) {
  // Two blocks an SM, of the first device asked (read once: the query stays out of graph captures).
  static const int64_t want = [] {
    int device = 0, sms = 0;
    cudaGetDevice(&device);
    cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
    return 2 * static_cast<int64_t>(sms > 0 ? sms : 64);
  }();
  return rows < want ? rows : want;
}

int add_rms_norm_backward(const void* gy, const void* gs, const void* s, const void* w, const float* rstd, void* gh,
                          void* gd, float* gw_partial, int64_t rows, int64_t H, DType dtype, DType d_dtype,
                          DType y_dtype, void* stream) {
  const auto blocks = static_cast<unsigned>(add_rms_norm_backward_blocks(rows));
  add_rms_norm_backward_kernel<kNormThreads><<<blocks, kNormThreads, 0, static_cast<cudaStream_t>(stream)>>>(
      gy, gs, s, w, rstd, gh, gd, gw_partial, rows, H, dtype, d_dtype, y_dtype);
  return static_cast<int>(cudaGetLastError());
}

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
