// decode_attention's dispatch, and its reference: the same loops over one-float "vectors".
#include "s2d/model/decode_attention_kernel.h"

namespace {
struct Vec {
  using V = float;
  static constexpr int kLanes = 1;
  static V zero() { return 0; }
  static V load(const float* p) { return *p; }
  static void store(float* p, V v) { *p = v; }
  static V broadcast(float f) { return f; }
  static V fma(V a, V b, V acc) { return __builtin_fmaf(a, b, acc); }
  static float sum(V v) { return v; }
};
}  // namespace

#include "decode_attention_loops.h"

namespace s2d::few_rows {

#if defined(S2D_X86_KERNELS)
void decode_attention_avx2(const float* q, const float* k, const float* v, const int64_t* last, int64_t NH, int64_t KV,
                           int64_t C, int64_t D, float scale, int64_t i0, int64_t i1, float* out, float* scratch);
void decode_attention_avx512(const float* q, const float* k, const float* v, const int64_t* last, int64_t NH,
                             int64_t KV, int64_t C, int64_t D, float scale, int64_t i0, int64_t i1, float* out,
                             float* scratch);
#endif

int64_t head_dim_multiple(Simd s) { return s == Simd::Avx512 ? 16 : s == Simd::Avx2 ? 8 : 1; }

void decode_attention(Simd s, const float* q, const float* k, const float* v, const int64_t* last, int64_t NH,
                      int64_t KV, int64_t C, int64_t D, float scale, int64_t i0, int64_t i1, float* out,
                      float* scratch) {
#if defined(S2D_X86_KERNELS)
  if (s == Simd::Avx512) return decode_attention_avx512(q, k, v, last, NH, KV, C, D, scale, i0, i1, out, scratch);
  if (s == Simd::Avx2) return decode_attention_avx2(q, k, v, last, NH, KV, C, D, scale, i0, i1, out, scratch);
#endif
  attend_items(q, k, v, last, NH, KV, C, D, scale, i0, i1, out, scratch);
}

}  // namespace s2d::few_rows
