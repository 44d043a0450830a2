// The few-row matmul for AVX2 with FMA (built with -mavx2 -mfma; called only where detect() finds it).
#include <immintrin.h>

#include <cstdint>

namespace {
struct Vec {
  using V = __m256;
  static constexpr int kLanes = 8, kRegs = 16;
  static V zero() { return _mm256_setzero_ps(); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V broadcast(float f) { return _mm256_set1_ps(f); }
  static V fma(V a, V b, V acc) { return _mm256_fmadd_ps(a, b, acc); }
};
}  // namespace

#include "few_row_strips.h"

namespace s2d::few_rows {
void matmul_panels_avx2(const float* x, int64_t M, int64_t K, const float* panels, int64_t N, int64_t p0, int64_t p1,
                        float* out, int64_t ldo) {
  all_panels(x, M, K, panels, N, p0, p1, out, ldo);
}
}  // namespace s2d::few_rows
