#ifndef S2D_CUDA_EMULATION  // tests/unit/cuda_emulation.h runs the kernel on the host
#include <cuda_runtime.h>
#endif

#include "../cut_sampling_rules.h"
#include "cut_sampling_kernel.h"

namespace s2d::cuda_kernels {

namespace {

using namespace s2d::cut_sampling;

constexpr int kThreads = 1024;  // per block; the kernel takes any multiple of 32 up to 1024
// Histogram copies, one per group of warps: the first rounds put most of a row's tokens into a
// few buckets (the exponent's bits), and one copy would serialise their shared-memory atomics.
constexpr int kCopies = 8;

template <int Threads>
struct Shared {
  static constexpr int kWarps = Threads / 32;
  uint32_t count[kCopies][kBuckets];
  unsigned long long mass[kCopies][kBuckets];
  unsigned long long warp_sums[kWarps];
  Selection sel;
};

// Exclusive prefix sum of one value per thread over the block; `total` gets the block's sum.
template <int Threads>
__device__ uint64_t block_exclusive_scan(uint64_t v, Shared<Threads>& sh, uint64_t& total) {
  constexpr int kWarps = Shared<Threads>::kWarps;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  uint64_t inclusive = v;
  for (int offset = 1; offset < 32; offset <<= 1) {
    const uint64_t up = __shfl_up_sync(0xffffffffu, inclusive, offset);
    if (lane >= offset) inclusive += up;
  }
  if (lane == 31) sh.warp_sums[warp] = inclusive;
  __syncthreads();
  if (warp == 0) {
    uint64_t s = lane < kWarps ? sh.warp_sums[lane] : 0;
    for (int offset = 1; offset < 32; offset <<= 1) {
      const uint64_t up = __shfl_up_sync(0xffffffffu, s, offset);
      if (lane >= offset) s += up;
    }
    if (lane < kWarps) sh.warp_sums[lane] = s;
  }
  __syncthreads();
  const uint64_t base = warp > 0 ? sh.warp_sums[warp - 1] : 0;
  total = sh.warp_sums[kWarps - 1];
  __syncthreads();  // warp_sums is reused by the next scan
  return base + inclusive - v;
}

// The four rounds of one selection over a row, the block's threads sharing each pass.
template <int Threads>
__device__ Cut select_in_block(const float* p, int64_t V, const TokenSet& set, const Goal& goal, Shared<Threads>& sh) {
  if (threadIdx.x == 0) sh.sel = start_selection();
  const int copy = (threadIdx.x >> 5) % kCopies;
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int i = threadIdx.x; i < kCopies * kBuckets; i += Threads) {
      (&sh.count[0][0])[i] = 0;
      (&sh.mass[0][0])[i] = 0;
    }
    __syncthreads();
    const uint32_t prefix = sh.sel.prefix;
    for (int64_t i = threadIdx.x; i < V; i += Threads) {
      const float pi = p[i];
      const uint32_t key = key_of(pi);
      if (!counted(key, set) || !under_prefix(key, prefix, shift)) continue;
      const int b = bucket_of(key, shift);
      atomicAdd(&sh.count[copy][b], 1u);
      if (!goal.by_count) atomicAdd(&sh.mass[copy][b], static_cast<unsigned long long>(mass_of(pi)));
    }
    __syncthreads();
    for (int b = threadIdx.x; b < kBuckets; b += Threads) {
      for (int c = 1; c < kCopies; ++c) {
        sh.count[0][b] += sh.count[c][b];
        sh.mass[0][b] += sh.mass[c][b];
      }
      if (goal.by_count) sh.mass[0][b] = sh.count[0][b];
    }
    __syncthreads();
    if (threadIdx.x == 0) finish_round(sh.count[0], sh.mass[0], shift, set, goal, sh.sel);
    __syncthreads();
  }
  const Cut cut = sh.sel.cut;
  __syncthreads();  // before a second selection's thread 0 restarts sh.sel
  return cut;
}

template <int Threads>
__global__ void __launch_bounds__(Threads)
    sample_cut_rows_kernel(const float* probs, const int64_t* top_k, const float* top_p, const float* u,
                           const bool* cut_rows, int64_t* out, int64_t V) {
  __shared__ Shared<Threads> sh;
  const int64_t row = blockIdx.x;
  if (!cut_rows[row]) {
    if (threadIdx.x == 0) out[row] = 0;
    return;
  }
  const float* p = probs + row * V;
  const Cut cut = find_cut(top_k[row], V, top_p[row],
                           [&](const TokenSet& set, const Goal& goal) { return select_in_block(p, V, set, goal, sh); });

  // The draw: each thread takes one stretch of the row; scans give each stretch the ties at the
  // cut's key and the kept mass before it, and the stretch holding the draw point walks to it.
  const int64_t stretch = (V + Threads - 1) / Threads;
  const int64_t begin = threadIdx.x * stretch < V ? threadIdx.x * stretch : V;
  const int64_t end = begin + stretch < V ? begin + stretch : V;
  uint64_t ties = 0;
  for (int64_t i = begin; i < end; ++i) ties += key_of(p[i]) == cut.key;
  uint64_t unused;
  const uint64_t ties_before = block_exclusive_scan(ties, sh, unused);
  uint64_t mass = 0, rank = ties_before;
  for (int64_t i = begin; i < end; ++i) {
    const uint32_t key = key_of(p[i]);
    if (kept(key, rank, cut)) mass += mass_of(p[i]);
    rank += key == cut.key;
  }
  uint64_t total;
  const uint64_t mass_before = block_exclusive_scan(mass, sh, total);
  if (threadIdx.x == 0) out[row] = 0;  // stays only for a row without mass
  __syncthreads();
  const uint64_t point = draw_point(u[row], total);
  if (mass == 0 || point < mass_before || point >= mass_before + mass) return;
  uint64_t running = mass_before;
  rank = ties_before;
  for (int64_t i = begin; i < end; ++i) {
    const uint32_t key = key_of(p[i]);
    if (kept(key, rank, cut) && (running += mass_of(p[i])) > point) {
      out[row] = i;
      return;
    }
    rank += key == cut.key;
  }
}

}  // namespace

#ifndef S2D_CUDA_EMULATION
int sample_cut_rows(const float* probs, const int64_t* top_k, const float* top_p, const float* u, const bool* cut,
                    int64_t* out, int64_t B, int64_t V, void* stream) {
  if (B <= 0 || B > 2147483647LL) return static_cast<int>(cudaErrorInvalidValue);
  sample_cut_rows_kernel<kThreads><<<static_cast<unsigned>(B), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
      probs, top_k, top_p, u, cut, out, V);
  return static_cast<int>(cudaGetLastError());
}
#endif

}  // namespace s2d::cuda_kernels
