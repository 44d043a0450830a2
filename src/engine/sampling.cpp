#include "s2d/engine/sampling.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <ATen/core/DistributionsHelper.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <mutex>
#include <numeric>
#include <utility>

#include "s2d/util/parallel_each.h"

namespace s2d {

at::Generator make_cpu_generator(uint64_t seed) { return at::detail::createCPUGenerator(seed); }

namespace {

// One random64() already drawn, for ATen's distribution templates (they call generator->random64()).
struct DrawnBits {
  uint64_t bits;
  uint64_t random64() const { return bits; }
};

// The biased binary exponent of a float in [0, 1]: 127 for 1, less for smaller, 0 for 0 and
// subnormals. Monotone, so tokens with an exponent at least j are a top set of the row.
int exponent_of(float x) {
  uint32_t bits = 0;
  std::memcpy(&bits, &x, sizeof bits);
  return static_cast<int>((bits >> 23) & 0xFF);
}

// The tokens a row may draw and their probabilities: each one's e over the sum of theirs, in fp32.
struct Allowed {
  bool whole_row = false;    // every token (those of e 0 have probability 0); else:
  std::vector<int64_t> ids;  // the nucleus, by descending logit
  std::vector<float> probs;  // theirs
  double kept = 0;           // the allowed tokens' sum of e
  float prob(const float* e, int64_t token) const { return static_cast<float>(e[token] / kept); }
};

// A row's allowed tokens. x: [V] logits divided by the temperature, -inf where top-k cut;
// e: [V] exp(x - max x). Without top-p (top_p >= 1) the whole row; with it the nucleus: the tokens
// by descending logit, ties by id, up to the first whose mass before it already reaches top_p of
// the row's (the first always stays).
//
// The nucleus without a sort of the row: e is binned by binary exponent (one pass, each bin's mass
// summed), the bins from the top are taken until their mass reaches top_p, and only the tokens in
// them are sorted. A 49,152-token row at temperature 0.7 holds a few dozen such tokens; at::topk of
// the row cost more than the whole rest of the draw. Plain C++ over the row, sums in double in
// token order: the result depends on the row alone, on whatever thread runs it.
Allowed allowed_tokens(const float* x, const float* e, int64_t V, double top_p) {
  Allowed a;
  if (top_p >= 1) {
    a.whole_row = true;
    for (int64_t i = 0; i < V; ++i) a.kept += e[i];
    return a;
  }
  double total = 0;
  std::array<double, 128> bin_mass{};  // e <= 1: exponents 0..127
  for (int64_t i = 0; i < V; ++i) {
    total += e[i];
    bin_mass[static_cast<size_t>(exponent_of(e[i]))] += e[i];
  }
  const double reach = top_p * total;
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

// The token a row draws: argmax over its allowed tokens of prob / q in fp32, q being the Exp(1)
// draw that `exponential_(1.0, gen)` over the whole V-token row would make at the token (one
// random64() per token, in token order), the first of equals: what
// at::multinomial(distribution, 1, false, gen) draws, leaving gen where it does. The generator
// steps over the whole row, but the logarithm, most of a draw's cost, is taken only where the
// token could still win: on the CPU q = -log1p(-u) >= u for the draw's uniform u, so a token whose
// prob / u is below the best so far (by more than the roundings to fp32) cannot win.
int64_t race_winner(at::Generator& gen, int64_t V, const Allowed& a, const float* e) {
  std::vector<size_t> by_id(a.ids.size());  // the nucleus in stream order: places in a.ids
  std::iota(by_id.begin(), by_id.end(), size_t{0});
  std::sort(by_id.begin(), by_id.end(), [&](size_t p, size_t q) { return a.ids[p] < a.ids[q]; });
  const at::uniform_real_distribution<double> uniform(0.0, 1.0);
  const at::exponential_distribution<double> exponential(1.0);
  constexpr double kRoundings = 1 + 1e-6;  // q's rounding to fp32 and the division's, with room
  int64_t best = -1;
  float best_value = 0;
  auto* impl = at::check_generator<at::CPUGeneratorImpl>(gen);
  const std::lock_guard<std::mutex> lock(impl->mutex_);
  at::mt19937 engine = impl->engine();
  const double inverse_kept = 1 / a.kept;  // the whole row's bound: e * inverse_kept, no division
  auto next = by_id.begin();
  for (int64_t i = 0; i < V; ++i) {
    // CPUGeneratorImpl::random64(): two outputs, the first one the high half.
    const uint64_t hi = engine(), lo = engine();
    double bound = 0;  // the token's prob, to within a few roundings
    const float* nucleus_prob = nullptr;
    if (a.whole_row) {
      if (e[i] == 0) continue;
      bound = e[i] * inverse_kept;
    } else {
      if (next == by_id.end() || a.ids[*next] != i) continue;
      nucleus_prob = &a.probs[*next++];
      bound = *nucleus_prob;
    }
    DrawnBits bits{(hi << 32) | lo};
    // prob / q < best when prob / u does (q >= u): tested as a product, u being >= 0.
    if (best >= 0 && bound * kRoundings < best_value * uniform(&bits)) continue;
    const float prob = nucleus_prob ? *nucleus_prob : a.prob(e, i);
    const float value = prob / static_cast<float>(exponential(&bits));  // exponential_ casts to fp32
    if (best < 0 || value > best_value) {  // strictly: in token order the first of equals stays
      best = i;
      best_value = value;
    }
  }
  impl->set_engine(engine);
  return best;
}

// The rows' logits over their temperatures, top-k applied ([S, V] fp32 CPU), and exp(l - max)
// of each ([S, V]). e row by row: exp's vectorised loop takes a row's tail with the scalar exp,
// so a [S, V] call would give a row other bits at other batch positions.
std::pair<at::Tensor, at::Tensor> scaled_rows(const at::Tensor& logits, const std::vector<int64_t>& rows,
                                              const std::vector<const SamplingParams*>& params) {
  const auto S = static_cast<int64_t>(rows.size());
  const int64_t V = logits.size(1);
  std::vector<float> temps;
  for (int64_t b : rows) temps.push_back(static_cast<float>(params[b]->temperature));
  at::Tensor l = logits.index_select(0, at::tensor(rows, at::kLong).to(logits.device())).to(at::kCPU, at::kFloat);
  l = (l / at::tensor(temps).view({S, 1})).contiguous();  // [S, V]
  for (int64_t i = 0; i < S; ++i)
    if (const SamplingParams& p = *params[rows[i]]; cuts_top_k(p, V)) {
      at::Tensor row = l[i];
      row.masked_fill_(row < std::get<0>(row.topk(p.top_k)).min(), -std::numeric_limits<float>::infinity());
    }
  const at::Tensor max = l.amax(-1);  // [S]
  at::Tensor e = at::empty_like(l);
  for (int64_t i = 0; i < S; ++i) {
    at::Tensor row = e[i];
    at::exp_out(row, l[i] - max[i]);
  }
  return {l, e};
}

double top_p_of(const SamplingParams& p) { return cuts_top_p(p) ? p.top_p : 1.0; }

}  // namespace

at::Tensor sampling_distribution(const at::Tensor& logits, const SamplingParams& p) {
  const int64_t V = logits.size(0);
  const auto [l, e] = scaled_rows(logits.view({1, V}), {0}, {&p});
  const float* e_row = e.const_data_ptr<float>();
  const Allowed a = allowed_tokens(l.const_data_ptr<float>(), e_row, V, top_p_of(p));
  at::Tensor probs = at::zeros({V}, at::kFloat);  // [V]
  float* out = probs.mutable_data_ptr<float>();
  if (a.whole_row)
    for (int64_t i = 0; i < V; ++i) out[i] = a.prob(e_row, i);
  for (size_t j = 0; j < a.ids.size(); ++j) out[a.ids[j]] = a.probs[j];
  return probs;
}

std::vector<int64_t> sample_tokens(const at::Tensor& logits, const std::vector<const SamplingParams*>& params,
                                   const std::vector<at::Generator*>& gens) {
  const int64_t B = logits.size(0), V = logits.size(1);
  std::vector<int64_t> out(static_cast<size_t>(B));
  bool any_greedy = false;
  for (const auto* p : params) any_greedy |= p->temperature == 0.0;
  if (any_greedy) {  // one argmax for the whole batch, on the logits' device
    at::Tensor am = logits.argmax(-1).to(at::kCPU);
    const int64_t* a = am.data_ptr<int64_t>();
    for (int64_t b = 0; b < B; ++b) out[b] = a[b];
  }
  std::vector<int64_t> rows;  // the rows that draw
  for (int64_t b = 0; b < B; ++b)
    if (params[b]->temperature != 0.0) rows.push_back(b);
  if (rows.empty()) return out;
  const auto S = static_cast<int64_t>(rows.size());
  // Each row races over its allowed tokens (probability 0 elsewhere) with the draws that
  // at::multinomial(sampling_distribution(row), 1) makes from the row's generator, so the same
  // seeds give the same tokens. A row's draw depends on its own logits and generator only, so
  // rows with generators of their own are drawn on parallel threads.
  const auto [l, e] = scaled_rows(logits, rows, params);  // [S, V] each
  auto draw = [&](int64_t i) {
    const float* e_row = e[i].const_data_ptr<float>();
    const Allowed a = allowed_tokens(l[i].const_data_ptr<float>(), e_row, V, top_p_of(*params[rows[i]]));
    out[rows[i]] = race_winner(*gens[rows[i]], V, a, e_row);
  };
  std::vector<const at::GeneratorImpl*> used;
  for (int64_t b : rows) used.push_back(gens[b]->unsafeGetGeneratorImpl());
  std::sort(used.begin(), used.end());
  const bool own_generators = std::adjacent_find(used.begin(), used.end()) == used.end();
  parallel_each(S, own_generators ? at::get_num_threads() : 1, draw);  // a shared generator: in row order
  return out;
}

}  // namespace s2d
