// Launcher of the cut-row sampling kernel (cut_sampling_kernel.cu). Torch-free, so that nvcc
// compiles it without libtorch's headers; cut_sampling.cpp checks the tensors and calls it on the
// current stream. Returns the launch's cudaError_t as an int (0: launched).
#pragma once

#include <cstdint>

namespace s2d::cuda_kernels {

// One thread block per row of probs [B, V] (contiguous fp32); see s2d/engine/cut_sampling.h.
int sample_cut_rows(const float* probs, const int64_t* top_k, const float* top_p, const float* u, const bool* cut,
                    int64_t* out, int64_t B, int64_t V, void* stream);

}  // namespace s2d::cuda_kernels
