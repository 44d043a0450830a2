#include "s2d/model/few_row_matmul.h"

#include <cstdlib>
#include <string>

namespace s2d::few_rows {

#if defined(S2D_X86_KERNELS)
void matmul_panels_avx2(const float* x, int64_t M, int64_t K, const float* panels, int64_t N, int64_t p0, int64_t p1,
                        float* out, int64_t ldo);
void matmul_panels_avx512(const float* x, int64_t M, int64_t K, const float* panels, int64_t N, int64_t p0, int64_t p1,
                          float* out, int64_t ldo);
#endif

namespace {
Simd detect_uncapped() {
#if defined(S2D_X86_KERNELS)
  // __builtin_cpu_supports also checks that the OS saves the vector registers (XCR0).
  if (__builtin_cpu_supports("avx512f")) return Simd::Avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Simd::Avx2;
#endif
  return Simd::None;
}

Simd detect_once() {
  const Simd best = detect_uncapped();
  const char* cap = std::getenv("S2D_CPU_SIMD");
  const std::string c = cap == nullptr ? "" : cap;
  if (c != "none" && c != "avx2") return best;  // unset, empty or avx512: no cap
  const Simd want = c == "avx2" ? Simd::Avx2 : Simd::None;
  return static_cast<int>(want) < static_cast<int>(best) ? want : best;
}
}  // namespace

Simd detect() {
  static const Simd s = detect_once();
  return s;
}

int64_t max_rows() {
#if defined(S2D_X86_KERNELS)
  static const int64_t rows = (__builtin_cpu_init(), __builtin_cpu_is("intel")) ? 8 : kMaxRows;
  return rows;
#else
  return kMaxRows;
#endif
}

const char* simd_name(Simd s) {
  switch (s) {
    case Simd::Avx512: return "avx512";
    case Simd::Avx2: return "avx2";
    default: return "none";
  }
}

void matmul_panels(Simd s, const float* x, int64_t M, int64_t K, const float* panels, int64_t N, int64_t p0, int64_t p1,
                   float* out, int64_t ldo) {
#if defined(S2D_X86_KERNELS)
  if (s == Simd::Avx512) return matmul_panels_avx512(x, M, K, panels, N, p0, p1, out, ldo);
  if (s == Simd::Avx2) return matmul_panels_avx2(x, M, K, panels, N, p0, p1, out, ldo);
#endif
  const int64_t P = kPanelWidth;
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = p0 * P; n < p1 * P && n < N; ++n) {
      const float* column = panels + (n / P) * K * P + n % P;
      float sum = 0;
      for (int64_t k = 0; k < K; ++k) sum = __builtin_fmaf(x[m * K + k], column[k * P], sum);
      out[m * ldo + n] = sum;
    }
}

}  // namespace s2d::few_rows
