#include <algorithm>
#include <array>
#include <cstring>

#include "cut_sampling_rules.h"
#include "sampling_rows.h"

namespace s2d {

namespace {

using namespace cut_sampling;

// Up to an eighth of the row in the bins that hold the nucleus, those tokens are sorted and walked;
// past it (flat rows: a random model's, a high temperature's) the selection's five passes over the
// row cost less than the sort (on a 2-core EPYC: about 1 ns a token a pass, 2-3 ns a token sorted).
size_t sorted_nucleus_limit(int64_t V) { return std::max<size_t>(2048, static_cast<size_t>(V) / 8); }

// The nucleus's target, top_p of the row's integer mass, known within [lo, hi] from the row's mass
// in double (relative error below 1e-9 for rows up to 2^23 tokens) less what truncating each
// token's mass drops (under 1 each). reached_by(m): whether a mass m is not under it, the rules'
// test, taking the exact sum (one more pass over the row) only where m falls between lo and hi.
class Target {
 public:
  Target(const float* e, int64_t V, float top_p, double row_mass_in_double)
      : e_(e), V_(V), top_p_(top_p), scaled_(row_mass_in_double * static_cast<double>(kMassScale)) {}

  bool reached_by(uint64_t mass) {
    const auto m = static_cast<double>(mass);
    if (m >= hi_) return true;
    if (m < lo_) return false;
    uint64_t total = 0;
    for (int64_t i = 0; i < V_; ++i) total += mass_of(e_[i]);
    lo_ = hi_ = top_p_target(top_p_, total);
    return m >= hi_;
  }

 private:
  const float* e_;
  int64_t V_;
  float top_p_;
  double scaled_;
  double lo_ = top_p_ * (scaled_ * (1 - 2e-9) - static_cast<double>(V_)) * (1 - 1e-15);
  double hi_ = top_p_ * scaled_ * (1 + 2e-9) * (1 + 1e-15);
};

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

Allowed allowed_tokens(const float* e, int64_t V, double top_p) {
  Allowed a;
  if (static_cast<float>(top_p) >= 1.0f) {  // in fp32, as the kernel's rules take it: nothing cut
    a.whole_row = true;
    a.kept = row_mass(e, V);
    return a;
  }
  const auto p = static_cast<float>(top_p);
  std::array<double, 128> bin_mass{};  // e <= 1: exponents 0..127, in double; they guide the search
  for (int64_t i = 0; i < V; ++i) bin_mass[static_cast<size_t>(exponent_of(e[i]))] += e[i];
  double row = 0;
  for (const double m : bin_mass) row += m;
  Target target(e, V, p, row);
  int lowest = 127;  // the lowest exponent taken
  for (double mass = bin_mass[127]; lowest > 0 && mass < p * row;) mass += bin_mass[static_cast<size_t>(--lowest)];
  const size_t limit = sorted_nucleus_limit(V);
  while (true) {  // the bins' tokens, while few; one bin more where their exact mass may fall short
    a.ids.clear();
    uint64_t taken = 0;
    for (int64_t i = 0; i < V && a.ids.size() <= limit; ++i)
      if (exponent_of(e[i]) >= lowest) a.ids.push_back(i), taken += mass_of(e[i]);
    if (a.ids.size() > limit || lowest == 0 || target.reached_by(taken)) break;
    --lowest;
  }
  if (a.ids.size() > limit) {  // a flat row: the selection finds the cut without a sort
    const Cut cut = select_on_host(e, V, TokenSet{true, keep_all()}, Goal{false, 0.0, p});
    a.ids.clear();
    uint64_t ties = 0;
    for (int64_t i = 0; i < V; ++i) {
      const uint32_t key = key_of(e[i]);
      if (kept(key, ties, cut)) a.ids.push_back(i);
      ties += key == cut.key;
    }
  } else {  // rank order, then the walk: a rank stays while the mass before it is under the target
    std::sort(a.ids.begin(), a.ids.end(), [&](int64_t i, int64_t j) {
      return key_of(e[i]) > key_of(e[j]) || (key_of(e[i]) == key_of(e[j]) && i < j);
    });
    uint64_t before = 0;
    size_t n = 0;
    while (n < a.ids.size() && (n == 0 || !target.reached_by(before))) before += mass_of(e[a.ids[n++]]);
    a.ids.resize(n);
    std::sort(a.ids.begin(), a.ids.end());
  }
  for (int64_t i : a.ids) a.kept += e[i];
  for (int64_t i : a.ids) a.probs.push_back(a.prob(e, i));
  return a;
}

}  // namespace s2d
