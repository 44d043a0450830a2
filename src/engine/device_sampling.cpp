#include "s2d/engine/device_sampling.h"

#include <ATen/ATen.h>

#include <limits>

#include "s2d/engine/cut_sampling.h"
#include "s2d/engine/sampling.h"
#include "s2d/model/async_transfer.h"

namespace s2d {

namespace {

constexpr int64_t kLow32 = 0xffffffffLL;

// A 32-bit integer hash (xorshift-multiply rounds) over int64 tensors holding values in
// [0, 2^32). Both multipliers are odd and below 2^31, so a product stays below 2^63: exact, with no
// signed overflow, on every device.
at::Tensor mix32(at::Tensor x) {
  x = x.bitwise_and(kLow32);
  x = x.bitwise_xor(x.bitwise_right_shift(16));
  x = x.mul(0x7feb352dLL).bitwise_and(kLow32);
  x = x.bitwise_xor(x.bitwise_right_shift(15));
  x = x.mul(0x2c1b3c6dLL).bitwise_and(kLow32);
  return x.bitwise_xor(x.bitwise_right_shift(16));
}

// Inverse CDF at u over unnormalised weights w [B, V] (>= 0, each row with some mass): the first
// column whose running sum exceeds u * total. Rounding can put u * total at the total itself; the
// index is then capped at the column that reached the total, which has weight > 0.
at::Tensor inverse_cdf(const at::Tensor& w, const at::Tensor& u) {
  at::Tensor c = w.cumsum(-1);                         // [B, V]
  at::Tensor total = c.narrow(-1, c.size(-1) - 1, 1);  // [B, 1]
  at::Tensor at_u = (c <= u.unsqueeze(-1) * total).sum(-1);
  return at::minimum(at_u, (c < total).sum(-1));  // [B] int64
}

}  // namespace

at::Tensor stream_uniform(const at::Tensor& key, const at::Tensor& draw) {
  at::Tensor key_lo = key.bitwise_and(kLow32), key_hi = key.bitwise_right_shift(32).bitwise_and(kLow32);
  at::Tensor h = mix32(draw.bitwise_xor(0x5bd1e995LL));
  h = mix32(h.bitwise_xor(key_hi).add(0x3c6ef372LL));
  h = mix32(h.bitwise_xor(key_lo).add(0x1b873593LL));
  // The top 23 bits, centred in their interval: (k + 0.5) / 2^23 is exact in fp32 and below 1.
  return (h.bitwise_right_shift(9).to(at::kFloat) + 0.5f) * (1.0f / 8388608.0f);
}

HostSamplingRows pack_sampling_rows(const std::vector<const SamplingParams*>& params, const std::vector<uint64_t>& keys,
                                    const std::vector<int64_t>& draws, int64_t V) {
  const size_t B = params.size();
  HostSamplingRows r;
  r.floats.resize(2 * B);
  r.ints.resize(5 * B);
  for (size_t b = 0; b < B; ++b) {
    const SamplingParams& p = *params[b];
    const bool greedy = p.temperature == 0.0;
    const bool k_cuts = cuts_top_k(p, V), p_cuts = cuts_top_p(p);
    const bool cut = !greedy && (k_cuts || p_cuts);
    r.floats[b] = greedy ? 1.0f : static_cast<float>(1.0 / p.temperature);
    r.floats[B + b] = p_cuts ? static_cast<float>(p.top_p) : 2.0f;
    r.ints[b] = k_cuts ? p.top_k : V;
    r.ints[B + b] = static_cast<int64_t>(keys[b]);  // the same 64 bits
    r.ints[2 * B + b] = draws[b];
    r.ints[3 * B + b] = greedy;
    r.ints[4 * B + b] = cut;
    r.paths.any_greedy |= greedy;
    r.paths.any_cut |= cut;
    r.paths.any_plain |= !greedy && !cut;
  }
  return r;
}

DeviceSamplingRows sampling_rows_on_device(const at::Tensor& floats, const at::Tensor& ints,
                                           const SamplingPaths& paths) {
  DeviceSamplingRows r;
  r.inv_temperature = floats[0];
  r.top_p = floats[1];
  r.top_k = ints[0];
  r.key = ints[1];
  r.draw = ints[2];
  r.greedy = ints[3].to(at::kBool);
  r.cut = ints[4].to(at::kBool);
  r.paths = paths;
  return r;
}

DeviceSamplingRows device_sampling_rows(const std::vector<const SamplingParams*>& params,
                                        const std::vector<uint64_t>& keys, const std::vector<int64_t>& draws, int64_t V,
                                        const c10::Device& device) {
  const HostSamplingRows h = pack_sampling_rows(params, keys, draws, V);
  const auto n = static_cast<int64_t>(params.size());
  return sampling_rows_on_device(upload(h.floats, device).view({2, n}), upload(h.ints, device).view({5, n}), h.paths);
}

at::Tensor sample_on_device(const at::Tensor& logits, const DeviceSamplingRows& rows) {
  const int64_t V = logits.size(1);
  at::Tensor out;  // [B] int64
  if (rows.paths.any_greedy) out = logits.argmax(-1);
  if (!rows.paths.any_plain && !rows.paths.any_cut) return out;
  at::Tensor l = logits.to(at::kFloat) * rows.inv_temperature.unsqueeze(-1);  // [B, V]
  at::Tensor u = stream_uniform(rows.key, rows.draw);                         // [B]
  at::Tensor probs;  // softmax(l) [B, V], made once where a path needs it
  auto softmax = [&] { return probs.defined() ? probs : (probs = l.softmax(-1)); };
  at::Tensor drawn;
  if (rows.paths.any_plain) drawn = inverse_cdf(softmax(), u);
  at::Tensor cut_tok;
  if (rows.paths.any_cut && cut_sampling_kernel_takes(l))  // selection, no sort (cut_sampling.h)
    cut_tok = sample_cut_rows_cuda(softmax(), rows.top_k, rows.top_p, u, rows.cut);
  if (rows.paths.any_cut && !cut_tok.defined()) {
    auto [sorted, order] = at::sort(l, /*stable=*/true, /*dim=*/-1, /*descending=*/true);  // [B, V]
    at::Tensor rank = at::arange(V, order.options()).unsqueeze(0);                         // [1, V]
    sorted = sorted.masked_fill(rank >= rows.top_k.unsqueeze(-1), -std::numeric_limits<float>::infinity());
    at::Tensor p = sorted.softmax(-1);  // renormalised over the top k
    at::Tensor before = p.cumsum(-1) - p;
    at::Tensor keep = (before < rows.top_p.unsqueeze(-1)).logical_or_(rank == 0);
    cut_tok = order.gather(-1, inverse_cdf(p * keep, u).unsqueeze(-1)).squeeze(-1);
  }
  if (cut_tok.defined()) drawn = drawn.defined() ? at::where(rows.cut, cut_tok, drawn) : cut_tok;
  return out.defined() ? at::where(rows.greedy, out, drawn) : drawn;
}

}  // namespace s2d
