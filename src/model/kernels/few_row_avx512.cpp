// The few-row matmul and decode attention for AVX-512F (built with -mavx512f; called only where detect() finds it).
// GCC 12's AVX-512 intrinsics start from _mm512_undefined_ps(), which trips -Wmaybe-uninitialized
// inside the header wherever _mm512_reduce_add_ps is inlined (GCC bug 105593).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <cstdint>

namespace {
struct Vec {
  using V = __m512;
  static constexpr int kLanes = 16, kRegs = 32;
  static V zero() { return _mm512_setzero_ps(); }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V broadcast(float f) { return _mm512_set1_ps(f); }
  static V fma(V a, V b, V acc) { return _mm512_fmadd_ps(a, b, acc); }
  static float sum(V v) { return _mm512_reduce_add_ps(v); }
};
}  // namespace

#include "decode_attention_loops.h"
#include "few_row_strips.h"

namespace s2d::few_rows {
void matmul_panels_avx512(const float* x, int64_t M, int64_t K, const float* panels, int64_t N, int64_t p0, int64_t p1,
                          float* out, int64_t ldo) {
  all_panels(x, M, K, panels, N, p0, p1, out, ldo);
}
void decode_attention_avx512(const float* q, const float* k, const float* v, const int64_t* last, int64_t NH,
                             int64_t KV, int64_t C, int64_t D, float scale, int64_t i0, int64_t i1, float* out,
                             float* scratch) {
  attend_items(q, k, v, last, NH, KV, C, D, scale, i0, i1, out, scratch);
}
}  // namespace s2d::few_rows
