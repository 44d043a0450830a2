#include "s2d/engine/mt19937_words.h"

#include <algorithm>
#include <cstring>

namespace s2d {

namespace {

constexpr int kN = 624, kM = 397;  // MT19937's state size and its middle word's offset

// Eight lanes: two SSE2 or NEON registers (one AVX2 one where the compiler may use it), no
// dispatch. Measured on an AMD EPYC, built for plain x86-64: 0.58 ns a word, against 0.9 with
// four lanes and 1.8 through at::mt19937's operator().
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"  // these helpers are this file's own: no ABI to keep
#endif
using Words8 = uint32_t __attribute__((vector_size(32)));

Words8 load8(const uint32_t* p) {
  Words8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

void store8(uint32_t* p, Words8 v) { std::memcpy(p, &v, sizeof v); }

// MT19937's twist of words u and v (at::mt19937's twist(); the same per lane).
template <typename W>
W twisted(W u, W v) {
  return (((u & 0x80000000U) | (v & 0x7fffffffU)) >> 1) ^ (-(v & 1U) & 0x9908b0dfU);
}

template <typename W>
W tempered(W y) {
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680U;
  y ^= (y << 15) & 0xefc60000U;
  return y ^ (y >> 18);
}

}  // namespace

// at::mt19937's next_state(), eight words at a time. Word j reads words j + 1 (not yet rewritten)
// and j + M (j < N - M) or j + M - N (rewritten 227 words earlier), so no eight lanes depend on each
// other.
void Mt19937Words::twist() {
  uint32_t* s = data_.state_.data();
  int j = 0;
  for (; j + 8 <= kN - kM; j += 8) store8(s + j, load8(s + j + kM) ^ twisted(load8(s + j), load8(s + j + 1)));
  for (; j < kN - kM; ++j) s[j] = s[j + kM] ^ twisted(s[j], s[j + 1]);
  for (; j + 8 <= kN - 1; j += 8) store8(s + j, load8(s + j + kM - kN) ^ twisted(load8(s + j), load8(s + j + 1)));
  for (; j < kN - 1; ++j) s[j] = s[j + kM - kN] ^ twisted(s[j], s[j + 1]);
  s[kN - 1] = s[kM - 1] ^ twisted(s[kN - 1], s[0]);
  data_.left_ = kN + 1;
  data_.next_ = 0;
}

size_t Mt19937Words::take(size_t n) {
  if (words_left() == 0) twist();
  const size_t k = std::min(n, words_left());
  data_.next_ += static_cast<uint32_t>(k);
  data_.left_ -= static_cast<int>(k);
  return k;
}

void Mt19937Words::read(uint32_t* out, size_t n) {
  while (n > 0) {
    const size_t k = take(n);
    const uint32_t* s = data_.state_.data() + data_.next_ - k;
    size_t i = 0;
    for (; i + 8 <= k; i += 8) store8(out + i, tempered(load8(s + i)));
    for (; i < k; ++i) out[i] = tempered(s[i]);
    out += k;
    n -= k;
  }
}

void Mt19937Words::skip(size_t n) {
  while (n > 0) n -= take(n);
}

at::mt19937 Mt19937Words::engine() const {
  at::mt19937 engine;
  engine.set_data(data_);
  return engine;
}

}  // namespace s2d
