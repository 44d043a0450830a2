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
}  // namespace

namespace {

// exponential_draws_at over n ids into q[n].
void exponential_draws_into(at::Generator& gen, int64_t V, const int64_t* id, int64_t n, float* q) {
  std::vector<std::pair<int64_t, int64_t>> by_id;  // (token id, its place in ids), by token id
  for (int64_t j = 0; j < n; ++j) {
    TORCH_CHECK(id[j] >= 0 && id[j] < V, "exponential_draws_at: id ", id[j], " outside [0, ", V, ")");
    by_id.emplace_back(id[j], j);
  }
  std::sort(by_id.begin(), by_id.end());
  auto* impl = at::check_generator<at::CPUGeneratorImpl>(gen);
  std::lock_guard<std::mutex> lock(impl->mutex_);
  at::mt19937 engine = impl->engine();
  const at::exponential_distribution<double> exponential(1.0);
  auto next = by_id.begin();
  for (int64_t i = 0; i < V; ++i) {
    // CPUGeneratorImpl::random64(): two outputs, the first one the high half.
    const uint64_t hi = engine(), lo = engine();
    if (next == by_id.end() || next->first != i) continue;
    DrawnBits bits{(hi << 32) | lo};
    const auto draw = static_cast<float>(exponential(&bits));  // exponential_ casts to the tensor's fp32
    for (; next != by_id.end() && next->first == i; ++next) q[next->second] = draw;
  }
  impl->set_engine(engine);
}

}  // namespace

at::Tensor exponential_draws_at(at::Generator& gen, int64_t V, const at::Tensor& ids) {
  const at::Tensor id_tensor = ids.to(at::kCPU, at::kLong).contiguous();
  at::Tensor out = at::empty({id_tensor.numel()}, at::kFloat);
  exponential_draws_into(gen, V, id_tensor.const_data_ptr<int64_t>(), id_tensor.numel(), out.mutable_data_ptr<float>());
  return out;
}

namespace {

// The biased binary exponent of a float in [0, 1]: 127 for 1, less for smaller, 0 for 0 and
// subnormals. Monotone, so tokens with an exponent at least j are a top set of the row.
int exponent_of(float x) {
  uint32_t bits = 0;
  std::memcpy(&bits, &x, sizeof bits);
  return static_cast<int>((bits >> 23) & 0xFF);
}

// The tokens a row may draw, with their probabilities.
struct Allowed {
  std::vector<int64_t> ids;
  std::vector<float> probs;  // e[ids] over their sum: softmax(l)[ids], renormalised
};

// A row's allowed tokens. x: [V] logits divided by the temperature, -inf where top-k cut;
// e: [V] exp(x - max x). Without top-p (top_p >= 1) every token of nonzero probability; with it
// the nucleus: the tokens by descending logit, ties by id, up to the first whose mass before it
// already reaches top_p of the row's (the first always stays).
//
// The nucleus without a sort of the row: e is binned by binary exponent (one pass, each bin's mass
// summed), the bins from the top are taken until their mass reaches top_p, and only the tokens in
// them are sorted. A 49,152-token row at temperature 0.7 holds a few dozen such tokens; at::topk of
// the row cost more than the whole rest of the draw. Plain C++ over the row, sums in double in
// token order: the result depends on the row alone, on whatever thread runs it.
Allowed allowed_tokens(const float* x, const float* e, int64_t V, double top_p) {
  Allowed a;
  double total = 0;
  std::array<double, 128> bin_mass{};  // e <= 1: exponents 0..127
  for (int64_t i = 0; i < V; ++i) {
    total += e[i];
    bin_mass[static_cast<size_t>(exponent_of(e[i]))] += e[i];
  }
  if (top_p >= 1) {
    for (int64_t i = 0; i < V; ++i)
      if (e[i] > 0) a.ids.push_back(i);
  } else {
    const double reach = top_p * total;
    int lowest = 127;  // the lowest exponent taken
    for (double mass = bin_mass[127]; lowest > 0 && mass < reach;) mass += bin_mass[static_cast<size_t>(--lowest)];
    while (true) {
      a.ids.clear();
      for (int64_t i = 0; i < V; ++i)
        if (exponent_of(e[i]) >= lowest) a.ids.push_back(i);
      std::sort(a.ids.begin(), a.ids.end(),
                [&](int64_t p, int64_t q) { return x[p] > x[q] || (x[p] == x[q] && p < q); });
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
  }
  double kept = 0;
  for (int64_t i : a.ids) kept += e[i];
  for (int64_t i : a.ids) a.probs.push_back(static_cast<float>(e[i] / kept));
  return a;
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
  const Allowed a = allowed_tokens(l.const_data_ptr<float>(), e.const_data_ptr<float>(), V, top_p_of(p));
  return at::zeros({V}, at::kFloat).index_put_({at::tensor(a.ids, at::kLong)}, at::tensor(a.probs));  // [V]
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
  bool all_plain = true;
  for (int64_t b = 0; b < B; ++b)
    if (params[b]->temperature != 0.0)
      rows.push_back(b), all_plain &= !cuts_top_k(*params[b], V) && !cuts_top_p(*params[b]);
  if (rows.empty()) return out;
  const auto S = static_cast<int64_t>(rows.size());
  // The draw at::multinomial(probs[i], 1) makes on the CPU (the exponential race: argmax of p / q,
  // q ~ Exp(1) over the whole vocabulary from the row's generator), so the same seeds give the same
  // tokens; without its per-call validity checks, which a softmax's output always passes.
  if (all_plain) {  // one softmax for all rows: per row what sampling_distribution computes
    std::vector<float> temps;
    for (int64_t b : rows) temps.push_back(static_cast<float>(params[b]->temperature));
    at::Tensor l = logits.index_select(0, at::tensor(rows, at::kLong).to(logits.device())).to(at::kCPU, at::kFloat);
    at::Tensor probs = (l / at::tensor(temps).view({S, 1})).softmax(-1);  // [S, V]
    at::Tensor q = at::empty_like(probs);
    for (int64_t i = 0; i < S; ++i) q[i].exponential_(1.0, *gens[rows[i]]);
    at::Tensor drawn = (probs / q).argmax(-1);  // [S]
    const int64_t* d = drawn.data_ptr<int64_t>();
    for (int64_t i = 0; i < S; ++i) out[rows[i]] = d[i];
    return out;
  }
  // Rows with top-k or top-p: the race over the allowed tokens only (probability 0 elsewhere), with
  // the same draws of q over the whole vocabulary. A row's draw depends on its own logits and
  // generator only, so rows with generators of their own are drawn on parallel threads.
  const auto [l, e] = scaled_rows(logits, rows, params);  // [S, V] each
  auto draw = [&](int64_t i) {
    const Allowed a =
        allowed_tokens(l[i].const_data_ptr<float>(), e[i].const_data_ptr<float>(), V, top_p_of(*params[rows[i]]));
    std::vector<float> q(a.ids.size());
    exponential_draws_into(*gens[rows[i]], V, a.ids.data(), static_cast<int64_t>(a.ids.size()), q.data());
    size_t best = 0;  // argmax of probs / q, the first of equals (as at::argmax)
    for (size_t j = 1; j < q.size(); ++j)
      if (a.probs[j] / q[j] > a.probs[best] / q[best]) best = j;
    out[rows[i]] = a.ids[best];
  };
  std::vector<const at::GeneratorImpl*> used;
  for (int64_t b : rows) used.push_back(gens[b]->unsafeGetGeneratorImpl());
  std::sort(used.begin(), used.end());
  const bool own_generators = std::adjacent_find(used.begin(), used.end()) == used.end();
  parallel_each(S, own_generators ? at::get_num_threads() : 1, draw);  // a shared generator: in row order
  return out;
}

}  // namespace s2d
