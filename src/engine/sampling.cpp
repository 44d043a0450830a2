#include "s2d/engine/sampling.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/DistributionsHelper.h>

#include <algorithm>
#include <limits>
#include <mutex>
#include <utility>

namespace s2d {

at::Generator make_cpu_generator(uint64_t seed) { return at::detail::createCPUGenerator(seed); }

namespace {
// One random64() already drawn, for ATen's distribution templates (they call generator->random64()).
struct DrawnBits {
  uint64_t bits;
  uint64_t random64() const { return bits; }
};
}  // namespace

at::Tensor exponential_draws_at(at::Generator& gen, int64_t V, const at::Tensor& ids) {
  const at::Tensor id_tensor = ids.to(at::kCPU, at::kLong).contiguous();
  const int64_t n = id_tensor.numel();
  const int64_t* id = id_tensor.const_data_ptr<int64_t>();
  std::vector<std::pair<int64_t, int64_t>> by_id;  // (token id, its place in ids), by token id
  for (int64_t j = 0; j < n; ++j) {
    TORCH_CHECK(id[j] >= 0 && id[j] < V, "exponential_draws_at: id ", id[j], " outside [0, ", V, ")");
    by_id.emplace_back(id[j], j);
  }
  std::sort(by_id.begin(), by_id.end());
  at::Tensor out = at::empty({n}, at::kFloat);
  float* q = out.mutable_data_ptr<float>();
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
  return out;
}

namespace {

// The tokens a row may draw and their probabilities, renormalised over them: (ids [n] long,
// probs [n] fp32) with probs = softmax(l[ids]). l: [V] fp32 CPU logits, already divided by the
// temperature. Top-p keeps the smallest prefix of the tokens by descending probability whose mass
// reaches top_p (a token is dropped when the mass before it already does; the first always stays).
// The nucleus is found among the top `k` tokens, k growing from 64 until their mass reaches top_p:
// a sort of only those k, not of the whole vocabulary (49,152 entries for SmolLM2, where a full
// sort per row per step cost more than the decode step at batch 32).
std::pair<at::Tensor, at::Tensor> allowed_tokens(at::Tensor l, const SamplingParams& p) {
  const int64_t V = l.size(0);
  const float neg_inf = -std::numeric_limits<float>::infinity();
  if (cuts_top_k(p, V)) {
    const float kth = std::get<0>(l.topk(p.top_k)).min().item<float>();
    l = l.masked_fill(l < kth, neg_inf);
  }
  if (!cuts_top_p(p)) {
    at::Tensor ids = at::arange(V, at::kLong);
    return {ids, l.softmax(-1)};
  }
  const float max = l.max().item<float>();
  const double mass = (l - max).exp().sum().item<double>();  // softmax's denominator over the row
  for (int64_t k = std::min<int64_t>(64, V);; k = std::min(V, k * 8)) {
    auto [top, ids] = l.topk(k);                  // [k], descending
    at::Tensor probs = (top - max).exp() / mass;  // their share of the whole row
    at::Tensor before = probs.cumsum(0) - probs;  // mass ahead of each
    if (k == V || (before[k - 1] + probs[k - 1]).item<double>() >= p.top_p) {
      const int64_t n = std::max<int64_t>(1, (before < p.top_p).sum().item<int64_t>());
      return {ids.narrow(0, 0, n), top.narrow(0, 0, n).softmax(-1)};
    }
  }
}

}  // namespace

at::Tensor sampling_distribution(const at::Tensor& logits, const SamplingParams& p) {
  auto [ids, probs] = allowed_tokens(logits.to(at::kCPU, at::kFloat) / p.temperature, p);
  return at::zeros({logits.size(0)}, at::kFloat).index_put_({ids}, probs);  // [V]
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
  // the same draws of q over the whole vocabulary.
  at::Tensor cpu_logits = logits.to(at::kCPU, at::kFloat);
  for (int64_t i = 0; i < S; ++i) {
    const SamplingParams& p = *params[rows[i]];
    auto [ids, probs] = allowed_tokens(cpu_logits[rows[i]] / p.temperature, p);
    const at::Tensor q = exponential_draws_at(*gens[rows[i]], V, ids);  // [n]: the race's draws at ids
    out[rows[i]] = ids[(probs / q).argmax().item<int64_t>()].item<int64_t>();
  }
  return out;
}

}  // namespace s2d
