#include "s2d/engine/sampling.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <limits>

namespace s2d {

at::Generator make_cpu_generator(uint64_t seed) { return at::detail::createCPUGenerator(seed); }

namespace {
// Whether top-k / top-p cut anything from a V-token distribution.
bool cuts_top_k(const SamplingParams& p, int64_t V) { return p.top_k > 0 && p.top_k < V; }
bool cuts_top_p(const SamplingParams& p) { return p.top_p < 1.0; }
}  // namespace

at::Tensor sampling_distribution(const at::Tensor& logits, const SamplingParams& p) {
  at::Tensor l = logits.to(at::kCPU, at::kFloat) / p.temperature;  // [V]
  const int64_t V = l.size(0);
  const float neg_inf = -std::numeric_limits<float>::infinity();
  if (cuts_top_k(p, V)) {
    const float kth = std::get<0>(l.topk(p.top_k)).min().item<float>();
    l = l.masked_fill(l < kth, neg_inf);
  }
  if (cuts_top_p(p)) {
    auto [sorted, order] = l.sort(/*dim=*/-1, /*descending=*/true);
    at::Tensor probs = sorted.softmax(-1);
    // Keep the smallest prefix whose mass reaches top_p: drop a token when the mass before it
    // already does. The first token always stays.
    at::Tensor drop = (probs.cumsum(-1) - probs) >= p.top_p;
    l = l.index_put({order.masked_select(drop)}, at::scalar_tensor(neg_inf));
  }
  return l.softmax(-1);
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
  // Their distributions [S, V]. Rows without top-k/top-p (the usual case) share one softmax: per
  // row it computes what sampling_distribution does, without B small ops per step.
  at::Tensor probs;
  if (all_plain) {
    std::vector<float> temps;
    for (int64_t b : rows) temps.push_back(static_cast<float>(params[b]->temperature));
    at::Tensor l = logits.index_select(0, at::tensor(rows, at::kLong).to(logits.device())).to(at::kCPU, at::kFloat);
    probs = (l / at::tensor(temps).view({S, 1})).softmax(-1);
  } else {
    probs = at::empty({S, V}, at::kFloat);
    for (int64_t i = 0; i < S; ++i) probs[i].copy_(sampling_distribution(logits[rows[i]], *params[rows[i]]));
  }
  // The draw at::multinomial(probs[i], 1) makes on the CPU (the exponential race: argmax of p / q,
  // q ~ Exp(1) from the row's generator), so the same seeds give the same tokens; without its
  // per-call validity checks, which a softmax's output always passes.
  at::Tensor q = at::empty_like(probs);
  for (int64_t i = 0; i < S; ++i) q[i].exponential_(1.0, *gens[rows[i]]);
  at::Tensor drawn = (probs / q).argmax(-1);  // [S]
  const int64_t* d = drawn.data_ptr<int64_t>();
  for (int64_t i = 0; i < S; ++i) out[rows[i]] = d[i];
  return out;
}

}  // namespace s2d
