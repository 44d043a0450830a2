#include "s2d/engine/cut_sampling.h"

#include <ATen/ATen.h>

#include "cut_sampling_rules.h"
#include "s2d/model/fused_cuda_ops.h"
#include "s2d/version.h"

#if S2D_CUDA_KERNELS_BUILD
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>

#include "cuda/cut_sampling_kernel.h"
#endif

namespace s2d {

namespace {

using namespace cut_sampling;

void check_rows(const at::Tensor& probs, const at::Tensor& top_k, const at::Tensor& top_p, const at::Tensor& u,
                const at::Tensor& cut) {
  TORCH_CHECK(probs.dim() == 2 && probs.scalar_type() == at::kFloat, "sample_cut_rows: probs must be [B, V] fp32");
  const int64_t B = probs.size(0);
  TORCH_CHECK(top_k.numel() == B && top_k.scalar_type() == at::kLong && top_p.numel() == B &&
                  top_p.scalar_type() == at::kFloat && u.numel() == B && u.scalar_type() == at::kFloat &&
                  cut.numel() == B && cut.scalar_type() == at::kBool,
              "sample_cut_rows: top_k [B] int64, top_p and u [B] fp32, cut [B] bool");
}

int64_t draw_row_on_host(const float* p, int64_t V, int64_t k, float top_p, float u) {
  const Cut cut =
      find_cut(k, V, top_p, [&](const TokenSet& set, const Goal& goal) { return select_on_host(p, V, set, goal); });
  uint64_t total = 0, ties = 0;
  for (int64_t i = 0; i < V; ++i) {
    const uint32_t key = key_of(p[i]);
    if (kept(key, ties, cut)) total += mass_of(p[i]);
    ties += key == cut.key;
  }
  const uint64_t point = draw_point(u, total);
  uint64_t running = 0;
  ties = 0;
  for (int64_t i = 0; i < V; ++i) {
    const uint32_t key = key_of(p[i]);
    if (kept(key, ties, cut) && (running += mass_of(p[i])) > point) return i;
    ties += key == cut.key;
  }
  return 0;  // a row whose kept tokens have no mass (not a softmax): token 0, as the kernel writes
}

}  // namespace

at::Tensor sample_cut_rows_host(const at::Tensor& probs, const at::Tensor& top_k, const at::Tensor& top_p,
                                const at::Tensor& u, const at::Tensor& cut) {
  check_rows(probs, top_k, top_p, u, cut);
  const at::Tensor p = probs.contiguous().cpu(), k = top_k.contiguous().cpu(), tp = top_p.contiguous().cpu();
  const at::Tensor uu = u.contiguous().cpu(), c = cut.contiguous().cpu();
  const int64_t B = p.size(0), V = p.size(1);
  at::Tensor out = at::zeros({B}, at::kLong);
  for (int64_t b = 0; b < B; ++b)
    if (c.const_data_ptr<bool>()[b])
      out.mutable_data_ptr<int64_t>()[b] =
          draw_row_on_host(p.const_data_ptr<float>() + b * V, V, k.const_data_ptr<int64_t>()[b],
                           tp.const_data_ptr<float>()[b], uu.const_data_ptr<float>()[b]);
  return out;
}

bool cut_sampling_kernel_takes(const at::Tensor& x) {
  return fusable_on_cuda(x) && x.dim() == 2 && x.scalar_type() == at::kFloat && x.size(1) > 0;
}

#if S2D_CUDA_KERNELS_BUILD

at::Tensor sample_cut_rows_cuda(const at::Tensor& probs, const at::Tensor& top_k, const at::Tensor& top_p,
                                const at::Tensor& u, const at::Tensor& cut) {
  if (!cut_sampling_kernel_takes(probs)) return {};
  check_rows(probs, top_k, top_p, u, cut);
  const at::Tensor k = top_k.contiguous(), tp = top_p.contiguous(), uu = u.contiguous(), c = cut.contiguous();
  const int64_t B = probs.size(0), V = probs.size(1);
  at::Tensor out = at::empty({B}, probs.options().dtype(at::kLong));
  if (B == 0) return out;
  const int err =
      cuda_kernels::sample_cut_rows(probs.const_data_ptr<float>(), k.const_data_ptr<int64_t>(),
                                    tp.const_data_ptr<float>(), uu.const_data_ptr<float>(), c.const_data_ptr<bool>(),
                                    out.mutable_data_ptr<int64_t>(), B, V, c10::cuda::getCurrentCUDAStream().stream());
  TORCH_CHECK(err == 0,
              "s2d CUDA kernel sample_cut_rows did not launch: ", cudaGetErrorString(static_cast<cudaError_t>(err)));
  return out;
}

#else  // no kernels in this build: the caller sorts

at::Tensor sample_cut_rows_cuda(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                const at::Tensor&) {
  return {};
}

#endif

}  // namespace s2d
