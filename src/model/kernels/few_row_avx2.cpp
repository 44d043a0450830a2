// The few-row matmul and decode attention for AVX2 with FMA (built with -mavx2 -mfma; called only where detect() finds
// it).
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
  static float sum(V v) {
    const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    return _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
  }
};
}  // namespace

#include "decode_attention_loops.h"
#include "few_row_strips.h"

namespace s2d::few_rows {
void matmul_panels_avx2(const float* x, int64_t M, int64_t K, const float* panels, int64_t N, int64_t p0, int64_t p1,
                        float* out, int64_t ldo) {
  all_panels(x, M, K, panels, N, p0, p1, out, ldo);
}
void decode_attention_avx2(const float* q, const float* k, const float* v, const int64_t* last, int64_t NH, int64_t KV,
                           int64_t C, int64_t D, float scale, int64_t i0, int64_t i1, float* out, float* scratch) {
  attend_items(q, k, v, last, NH, KV, C, D, scale, i0, i1, out, scratch);
}
}  // namespace s2d::few_rows
