// How fast can this machine read SmolLM2-135M's 538 MB of fp32 weights? The floor of a batch-1
// decode step, which must read every weight once (docs/benchmarks.md quotes it).
//   g++ -O3 -mavx512f -fopenmp experiments/memory_bandwidth.cpp -o /tmp/bw && /tmp/bw
#include <immintrin.h>

#include <chrono>
#include <cstdio>
#include <vector>

int main() {
  const size_t n = (538u << 20) / sizeof(float);
  std::vector<float> a(n, 1.0f);
  for (int round = 0; round < 5; ++round) {
    const auto t0 = std::chrono::steady_clock::now();
    float total = 0;
#pragma omp parallel reduction(+ : total)
    {
      __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;  // four chains: loads, not adds, bound it
#pragma omp for
      for (size_t i = 0; i < n; i += 64) {
        s0 = _mm512_add_ps(s0, _mm512_loadu_ps(&a[i]));
        s1 = _mm512_add_ps(s1, _mm512_loadu_ps(&a[i + 16]));
        s2 = _mm512_add_ps(s2, _mm512_loadu_ps(&a[i + 32]));
        s3 = _mm512_add_ps(s3, _mm512_loadu_ps(&a[i + 48]));
      }
      total += _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("read 538 MB in %.2f ms: %.1f GB/s (sum %g)\n", s * 1e3, static_cast<double>(n) * 4 / s / 1e9, total);
  }
}
