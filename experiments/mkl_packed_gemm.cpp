// Decode steps of more than the few-row kernel's rows (a batch of 48 or 64 sampled rows) go to
// at::matmul. In a profile of rar2 on SmolLM2 (8 samples, batch 64) MKL's
// mkl_blas_def_sgemm_scopy_down16_bdz took 16% of the run, and 29% of a batch-64 decode
// (s2d_bench_generate). It looked like the copy of the weight [K, N] into MKL's layout that sgemm
// makes on every call, which MKL can make once instead (cblas_sgemm_pack) and reuse
// (cblas_sgemm_compute). This times, for SmolLM2's projections and M rows, at::matmul, the weight
// packed once by MKL, and s2d's few-row kernel over its panels (few_row_matmul.h), and checks that
// one MKL packing (made for 1 row) serves every M.
//
// What it gave (2026-12-08, the 2-core AMD EPYC VM, torch 2.13.0): with the weights hot in cache,
// the packed head [576, 49152] was 1.1-1.5x at::matmul at 8 to 64 rows (e.g. 35.0 against 28.2 ms
// at 48), the projections 0.84-1.17x, and the packed products had at::matmul's bits exactly.
// Wired into the engine (the head packed, then every matrix), batch-64 decode of SmolLM2 did not
// move beyond this VM's noise (191.1 against 189.7 ms a step over five alternating runs), and the
// copy routine kept its 28-30% of the profile with every weight packed: on this CPU MKL copies
// inside cblas_sgemm_compute too, and the copy is where the weights stream from memory. The change
// was not kept. The kernel's times here are not its times in a decode step (at batch 8 the engine
// ran 32 ms a step with it against 82 ms with MKL), so this says nothing about the kernel.
//
// Build, after a build of s2d (libtorch_cpu.so exports MKL's cblas symbols):
//   T=.venv/lib/python3.11/site-packages/torch
//   g++ -O2 -std=c++17 experiments/mkl_packed_gemm.cpp -Iinclude -I$T/include \
//     -I$T/include/torch/csrc/api/include build/src/libs2d_kernels.a -L$T/lib -ltorch_cpu -lc10 \
//     -Wl,-rpath,$T/lib -o /tmp/mkl_packed_gemm && /tmp/mkl_packed_gemm
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "s2d/model/few_row_matmul.h"

extern "C" {
size_t cblas_sgemm_pack_get_size(int identifier, int m, int n, int k);
void cblas_sgemm_pack(int layout, int identifier, int trans, int m, int n, int k, float alpha, const float* src, int ld,
                      float* dest);
void cblas_sgemm_compute(int layout, int transa, int transb, int m, int n, int k, const float* a, int lda,
                         const float* b, int ldb, float beta, float* c, int ldc);
}
constexpr int kRowMajor = 101, kNoTrans = 111, kBMatrix = 162, kPacked = 151;

template <class F>
double best_ms(F f, int reps) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

int main() {
  struct Shape {
    const char* name;
    int K, N;
  };
  const Shape shapes[] = {
      {"qkv", 576, 960}, {"o", 576, 576}, {"gate_up", 576, 3072}, {"down", 1536, 576}, {"lm_head", 576, 49152}};
  std::printf("threads %d\n", at::get_num_threads());
  namespace fr = s2d::few_rows;
  std::printf("%-8s %5s %10s %10s %10s %14s %14s %10s\n", "matrix", "M", "matmul ms", "packed ms", "panels ms",
              "matmul/packed", "matmul/panels", "max diff");
  for (const Shape& s : shapes) {
    const at::Tensor w = at::randn({s.K, s.N});  // [K, N], as s2d stores a projection
    const size_t bytes = cblas_sgemm_pack_get_size(kBMatrix, 1, s.N, s.K);
    float* packed = static_cast<float*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64));
    cblas_sgemm_pack(kRowMajor, kBMatrix, kNoTrans, 1, s.N, s.K, 1.0f, w.const_data_ptr<float>(), s.N, packed);
    // s2d's panels: [count, K, P], panel p holding columns [p * P, p * P + P).
    const int64_t count = fr::panel_count(s.N), P = fr::kPanelWidth;
    const at::Tensor panels =
        at::constant_pad_nd(w, {0, count * P - s.N}).reshape({s.K, count, P}).permute({1, 0, 2}).contiguous();
    for (const int M : {1, 8, 16, 32, 33, 48, 64, 128, 512}) {
      const at::Tensor x = at::randn({M, s.K});
      at::Tensor out = at::empty({M, s.N});
      const int reps = s.N > 10000 ? 8 : 40;
      const double a = best_ms([&] { at::matmul(x, w); }, reps);
      const double b = best_ms(
          [&] {
            cblas_sgemm_compute(kRowMajor, kNoTrans, kPacked, M, s.N, s.K, x.const_data_ptr<float>(), s.K, packed, s.N,
                                0.0f, out.mutable_data_ptr<float>(), s.N);
          },
          reps);
      double diff = (out - at::matmul(x, w)).abs().max().item<double>();
      const double c = best_ms(
          [&] {
            at::parallel_for(0, count, 1, [&](int64_t p0, int64_t p1) {
              fr::matmul_panels(fr::detect(), x.const_data_ptr<float>(), M, s.K, panels.const_data_ptr<float>(), s.N,
                                p0, p1, out.mutable_data_ptr<float>(), s.N);
            });
          },
          reps);
      diff = std::max(diff, (out - at::matmul(x, w)).abs().max().item<double>());
      std::printf("%-8s %5d %10.3f %10.3f %10.3f %13.2fx %13.2fx %10.2e\n", s.name, M, a, b, c, a / b, a / c, diff);
    }
    std::free(packed);
  }
}
