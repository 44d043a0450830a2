// Why the few-row kernel reads a panel-ordered copy of the weights (docs/benchmarks.md): the same
// 8-row x 3-vector AVX-512 loop over SmolLM2-135M's matrix shapes, once walking down the column
// strips of a row-major [K, N] matrix (row stride N) and once over panels of 48 columns, each
// [K, 48] contiguous (row stride 48). One thread; each matrix is cycled through 8 copies so that
// it comes from memory, as in a decode step.
//   g++ -O2 -mavx512f experiments/panel_layout.cpp -o /tmp/panel_layout && /tmp/panel_layout
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <vector>

constexpr int64_t P = 48;  // 3 vectors

// Rows [0, M) of x times the 48 columns at w (row stride ldw), into out (row stride ldo).
template <int M>
void strip(const float* x, int64_t K, const float* w, int64_t ldw, float* out, int64_t ldo) {
  __m512 acc[M][3];
  for (auto& row : acc)
    for (auto& a : row) a = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; ++k, w += ldw) {
    const __m512 w0 = _mm512_loadu_ps(w), w1 = _mm512_loadu_ps(w + 16), w2 = _mm512_loadu_ps(w + 32);
    for (int m = 0; m < M; ++m) {
      const __m512 xm = _mm512_set1_ps(x[m * K + k]);
      acc[m][0] = _mm512_fmadd_ps(xm, w0, acc[m][0]);
      acc[m][1] = _mm512_fmadd_ps(xm, w1, acc[m][1]);
      acc[m][2] = _mm512_fmadd_ps(xm, w2, acc[m][2]);
    }
  }
  for (int m = 0; m < M; ++m)
    for (int j = 0; j < 3; ++j) _mm512_storeu_ps(out + m * ldo + 16 * j, acc[m][j]);
}

// out [M, N] = x [M, K] @ w, M in {1, 8, 32}; panels: w as [N / 48][K][48], else row-major [K, N].
void matmul(const float* x, int M, int64_t K, const float* w, int64_t N, bool panels, float* out) {
  for (int64_t p = 0; p < N / P; ++p) {
    const float* col = panels ? w + p * K * P : w + p * P;
    const int64_t ldw = panels ? P : N;
    for (int m0 = 0; m0 < M; m0 += 8) {
      if (M == 1)
        strip<1>(x, K, col, ldw, out + p * P, N);
      else
        strip<8>(x + m0 * K, K, col, ldw, out + m0 * N + p * P, N);
    }
  }
}

int main() {
  const int64_t shapes[][2] = {{576, 960}, {576, 576}, {576, 3072}, {1536, 576}, {576, 49152}};  // [K, N]
  for (bool panels : {false, true})
    for (int M : {1, 8, 32})
      for (const auto& s : shapes) {
        const int64_t K = s[0], N = s[1];
        std::vector<float> x(M * K, 0.5f), out(M * N);
        std::vector<std::vector<float>> copies(8, std::vector<float>(K * N, 0.25f));
        const int reps = std::max<int>(8, static_cast<int>(400e6 / (4.0 * K * N)));
        matmul(x.data(), M, K, copies[0].data(), N, panels, out.data());
        const auto t0 = std::chrono::steady_clock::now();
        for (int r = 0; r < reps; ++r) matmul(x.data(), M, K, copies[r % 8].data(), N, panels, out.data());
        const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
        std::printf("%-7s M=%2d K=%5lld N=%5lld: %7.3f ms %5.1f GFLOP/s %5.1f GB/s of weights\n",
                    panels ? "panels" : "strided", M, static_cast<long long>(K), static_cast<long long>(N), t * 1e3,
                    2.0 * M * K * N / t / 1e9, 4.0 * K * N / t / 1e9);
      }
}
