#include "s2d/engine/sampling.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <limits>

namespace s2d {

at::Generator make_cpu_generator(uint64_t seed) { return at::detail::createCPUGenerator(seed); }

at::Tensor sampling_distribution(const at::Tensor& logits, const SamplingParams& p) {
  at::Tensor l = logits.to(at::kCPU, at::kFloat) / p.temperature;  // [V]
  const int64_t V = l.size(0);
  const float neg_inf = -std::numeric_limits<float>::infinity();
  if (p.top_k > 0 && p.top_k < V) {
    const float kth = std::get<0>(l.topk(p.top_k)).min().item<float>();
    l = l.masked_fill(l < kth, neg_inf);
  }
  if (p.top_p < 1.0) {
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
  const int64_t B = logits.size(0);
  std::vector<int64_t> out(static_cast<size_t>(B));
  bool any_greedy = false;
  for (const auto* p : params) any_greedy |= p->temperature == 0.0;
  if (any_greedy) {  // one argmax for the whole batch, on the logits' device
    at::Tensor am = logits.argmax(-1).to(at::kCPU);
    const int64_t* a = am.data_ptr<int64_t>();
    for (int64_t b = 0; b < B; ++b) out[b] = a[b];
  }
  for (int64_t b = 0; b < B; ++b) {
    if (params[b]->temperature == 0.0) continue;
    at::Tensor probs = sampling_distribution(logits[b], *params[b]);
    out[b] = at::multinomial(probs, 1, /*replacement=*/false, *gens[b]).item<int64_t>();
  }
  return out;
}

}  // namespace s2d
