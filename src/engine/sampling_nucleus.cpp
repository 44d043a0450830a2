#include <algorithm>
#include <array>
#include <cstring>

#include "sampling_rows.h"

namespace s2d {

namespace {

// The biased binary exponent of a float in [0, 1]: 127 for 1, less for smaller, 0 for 0 and
// subnormals. Monotone, so tokens with an exponent at least j are a top set of the row.
int exponent_of(float x) {
  uint32_t bits = 0;
  std::memcpy(&bits, &x, sizeof bits);
  return static_cast<int>((bits >> 23) & 0xFF);
}

}  // namespace

double row_mass(const float* e, int64_t V) {
  using Floats4 = float __attribute__((vector_size(16)));
  using Doubles4 = double __attribute__((vector_size(32)));
  Doubles4 low = {0, 0, 0, 0}, high = {0, 0, 0, 0};  // lanes 0-3 and 4-7
  int64_t i = 0;
  for (; i + 8 <= V; i += 8) {
    Floats4 a, b;
    std::memcpy(&a, e + i, sizeof a);
    std::memcpy(&b, e + i + 4, sizeof b);
    low += __builtin_convertvector(a, Doubles4);
    high += __builtin_convertvector(b, Doubles4);
  }
  for (int64_t k = 0; i + k < V; ++k) k < 4 ? low[k] += e[i + k] : high[k - 4] += e[i + k];
  return ((low[0] + low[1]) + (low[2] + low[3])) + ((high[0] + high[1]) + (high[2] + high[3]));
}

Allowed allowed_tokens(const float* x, const float* e, int64_t V, double top_p) {
  Allowed a;
  if (top_p >= 1) {
    a.whole_row = true;
    a.kept = row_mass(e, V);
    return a;
  }
  const double reach = top_p * row_mass(e, V);
  std::array<double, 128> bin_mass{};  // e <= 1: exponents 0..127; they only guide the search below
  for (int64_t i = 0; i < V; ++i) bin_mass[static_cast<size_t>(exponent_of(e[i]))] += e[i];
  int lowest = 127;  // the lowest exponent taken
  for (double mass = bin_mass[127]; lowest > 0 && mass < reach;) mass += bin_mass[static_cast<size_t>(--lowest)];
  while (true) {
    a.ids.clear();
    for (int64_t i = 0; i < V; ++i)
      if (exponent_of(e[i]) >= lowest) a.ids.push_back(i);
    std::sort(a.ids.begin(), a.ids.end(), [&](int64_t p, int64_t q) { return x[p] > x[q] || (x[p] == x[q] && p < q); });
    double before = 0;
    size_t n = 0;
    while (n < a.ids.size() && (n == 0 || before < reach)) before += e[a.ids[n++]];
    // Rounding may leave the bins' mass a hair short of the tokens' own: then one bin more.
    if (before >= reach || lowest == 0) {
      a.ids.resize(n);
      break;
    }
    --lowest;
  }
  for (int64_t i : a.ids) a.kept += e[i];
  for (int64_t i : a.ids) a.probs.push_back(a.prob(e, i));
  return a;
}

}  // namespace s2d
