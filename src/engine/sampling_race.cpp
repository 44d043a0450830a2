#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/DistributionsHelper.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <mutex>

#include "s2d/engine/mt19937_words.h"
#include "sampling_rows.h"

namespace s2d {

namespace {

// One random64() already drawn, for ATen's distribution templates (they call generator->random64()).
struct DrawnBits {
  uint64_t bits;
  uint64_t random64() const { return bits; }
};

// A race among a row's tokens: the best value of prob / q so far and its token.
struct Race {
  int64_t best = -1;
  float best_value = 0;
  // Token i, its probability prob (bound: the same, to within a few roundings) and the draw's 64
  // random bits: the best if it beats it. kRoundings covers q's rounding to fp32 and the
  // division's, with room.
  static constexpr double kRoundings = 1 + 1e-6;
  void enter(int64_t i, double bound, float prob, uint64_t random64);
};

void Race::enter(int64_t i, double bound, float prob, uint64_t random64) {
  static const at::uniform_real_distribution<double> uniform(0.0, 1.0);
  static const at::exponential_distribution<double> exponential(1.0);
  DrawnBits bits{random64};
  // prob / q < best when prob / u does (q >= u): tested as a product, u being >= 0.
  if (best >= 0 && bound * kRoundings < best_value * uniform(&bits)) return;
  const float value = prob / static_cast<float>(exponential(&bits));  // exponential_ casts to fp32
  if (best < 0 || value > best_value) {  // strictly: in token order the first of equals stays
    best = i;
    best_value = value;
  }
}

// Which of up to 4 tokens might beat a best value: bit k for token k, unless its e is 0 (it cannot
// be drawn) or e_k * c < u_k as a lower bound: u >= the high word's top 21 bits * 2^-21, exact in
// fp32. e: [n] fp32, finite; w: [2n] words, high first.
// Four lanes, one SSE2 or NEON register: wider vectors without AVX compiled slower here.
uint32_t might_win(const float* e, const uint32_t* w, float c, int64_t n) {
  using Floats4 = float __attribute__((vector_size(16)));
  using Ints4 = int32_t __attribute__((vector_size(16)));
  uint32_t bits = 0;
  if (n == 4) {
    Floats4 ev;
    Ints4 w0, w1;
    std::memcpy(&ev, e, sizeof ev);
    std::memcpy(&w0, w, sizeof w0);
    std::memcpy(&w1, w + 4, sizeof w1);
    const Ints4 hi = __builtin_shufflevector(w0, w1, 0, 2, 4, 6) & 0x1fffff;
    const Floats4 u = __builtin_convertvector(hi, Floats4) * 0x1p-21F;
    const Ints4 in = (ev != 0) & ~(ev * c < u);
    std::array<uint64_t, 2> any{};  // most groups have no token in: one test for the four
    std::memcpy(any.data(), &in, sizeof in);
    if ((any[0] | any[1]) == 0) return 0;
    for (int k = 0; k < 4; ++k) bits |= static_cast<uint32_t>(in[k] & 1) << k;
    return bits;
  }
  for (int64_t k = 0; k < n; ++k)
    if (e[k] != 0 && !(e[k] * c < static_cast<float>(w[2 * k] & 0x1fffffU) * 0x1p-21F)) bits |= 1U << k;
  return bits;
}

// A whole row's race, kChunk tokens at a time: their 2 * kChunk words are read in one go, and a
// token goes to the exact test only if might_win says so, for c from the best value as of the
// chunk's start (it only grows).
int64_t whole_row_winner(Mt19937Words& words, int64_t V, const Allowed& a, const float* e) {
  constexpr int64_t kChunk = 512;
  constexpr double kFilterRoundings = 1 + 1e-6;  // e * c's rounding to fp32 and c's, with room
  std::array<uint32_t, 2 * kChunk> w{};
  const double inverse_kept = 1 / a.kept;  // the bound on a token's prob: e * inverse_kept
  Race race;
  for (int64_t start = 0; start < V; start += kChunk) {
    const int64_t n = std::min(kChunk, V - start);
    words.read(w.data(), static_cast<size_t>(2 * n));
    // Token i can win only if e_i * inverse_kept * kRoundings >= best * u.
    const float c = race.best < 0 ? std::numeric_limits<float>::infinity()
                                  : static_cast<float>(inverse_kept * Race::kRoundings * kFilterRoundings /
                                                       static_cast<double>(race.best_value));
    for (int64_t j = 0; j < n; j += 4)
      for (uint32_t m = might_win(e + start + j, w.data() + 2 * j, c, std::min<int64_t>(4, n - j)); m != 0;
           m &= m - 1) {
        const int64_t i = j + __builtin_ctz(m);
        // CPUGeneratorImpl::random64(): two outputs, the first one the high half.
        const uint64_t random64 = (uint64_t{w[static_cast<size_t>(2 * i)]} << 32) | w[static_cast<size_t>(2 * i + 1)];
        race.enter(start + i, e[start + i] * inverse_kept, a.prob(e, start + i), random64);
      }
  }
  return race.best;
}

// A nucleus row's race: only its tokens' words are read (a.ids is in token order, the stream's);
// the generator steps over the rest.
int64_t nucleus_winner(Mt19937Words& words, int64_t V, const Allowed& a) {
  Race race;
  int64_t stepped = 0;  // tokens whose words are behind
  for (size_t place = 0; place < a.ids.size(); ++place) {
    const int64_t i = a.ids[place];
    words.skip(static_cast<size_t>(2 * (i - stepped)));
    std::array<uint32_t, 2> w{};
    words.read(w.data(), 2);
    stepped = i + 1;
    race.enter(i, a.probs[place], a.probs[place], (uint64_t{w[0]} << 32) | w[1]);
  }
  words.skip(static_cast<size_t>(2 * (V - stepped)));
  return race.best;
}

}  // namespace

int64_t race_winner(at::Generator& gen, int64_t V, const Allowed& a, const float* e) {
  auto* impl = at::check_generator<at::CPUGeneratorImpl>(gen);
  const std::lock_guard<std::mutex> lock(impl->mutex_);
  Mt19937Words words(impl->engine());
  const int64_t winner = a.whole_row ? whole_row_winner(words, V, a, e) : nucleus_winner(words, V, a);
  impl->set_engine(words.engine());
  return winner;
}

}  // namespace s2d
