#include "s2d/engine/sampling.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <string>

#include "s2d/util/error.h"
#include "s2d/util/parallel_each.h"
#include "sampling_rows.h"

namespace s2d {

at::Generator make_cpu_generator(uint64_t seed) { return at::detail::createCPUGenerator(seed); }

namespace {

// The largest of x [V], NaN if any is (as at::max).
float row_max(const float* x, int64_t V) {
  using Floats4 = float __attribute__((vector_size(16)));
  using Ints4 = int32_t __attribute__((vector_size(16)));
  constexpr float kLowest = -std::numeric_limits<float>::infinity();
  Floats4 most = {kLowest, kLowest, kLowest, kLowest};
  Ints4 nan = {0, 0, 0, 0};
  int64_t j = 0;
  for (; j + 4 <= V; j += 4) {
    Floats4 v;
    std::memcpy(&v, x + j, sizeof v);
    most = v > most ? v : most;
    nan |= v != v;
  }
  float m = kLowest;
  bool any_nan = false;
  for (; j < V; ++j) m = std::max(m, x[j]), any_nan |= std::isnan(x[j]);
  for (int k = 0; k < 4; ++k) m = std::max(m, most[k]), any_nan |= nan[k] != 0;
  return any_nan ? std::numeric_limits<float>::quiet_NaN() : m;
}

// out[j] = op(in[j]) for j < V, four lanes at a time: op takes a float or four (a generic lambda).
template <typename Op>
void map_row(const float* in, float* out, int64_t V, Op op) {
  using Floats4 = float __attribute__((vector_size(16)));
  int64_t j = 0;
  for (; j + 4 <= V; j += 4) {
    Floats4 v;
    std::memcpy(&v, in + j, sizeof v);
    v = op(v);
    std::memcpy(out + j, &v, sizeof v);
  }
  for (; j < V; ++j) out[j] = op(in[j]);
}

// A sampling row before its exp: x = logits / temperature, -inf where top-k cuts, and x - max x
// into e, each [V] fp32, in the caller's buffers. Plain C++, but for top-k's kth value (ATen's
// topk on one row runs on the calling thread), so that s2d's own threads can run it: ATen's exp
// cannot, as its vectorised library splits a span over an OpenMP team, and a thread outside
// ATen's pool makes a team of its own each time (measured: a fifth of the main thread's speed).
void scale_row(const float* logits, int64_t V, const SamplingParams& p, float* x, float* e) {
  const auto t = static_cast<float>(p.temperature);
  map_row(logits, x, V, [t](auto v) { return v / t; });  // IEEE division, as ATen's: the same bits
  if (cuts_top_k(p, V)) {
    const float kth = std::get<0>(at::from_blob(x, {V}, at::kFloat).topk(p.top_k)).min().item<float>();
    for (int64_t j = 0; j < V; ++j)
      if (x[j] < kth) x[j] = -std::numeric_limits<float>::infinity();
  }
  const float max = row_max(x, V);
  // NaN or inf: no distribution to draw from (at::multinomial refuses such rows too), and the
  // nucleus's sort and bins assume finite e. Weights or activations that overflowed give them.
  if (!std::isfinite(max))
    throw_runtime("the model's logits for a sampled row are not finite",
                  {.field = "logits",
                   .expected = "finite values",
                   .found = "a maximum of " + std::to_string(max),
                   .hint = "check the weights for NaN or inf; fp16 overflows soonest: try --dtype bf16 or fp32"});
  map_row(x, e, V, [max](auto v) { return v - max; });
}

// e = exp(e) for a row [V], on the calling thread's ATen pool. One call a row, as a [S, V] call
// would give a row's tail other bits at other batch positions.
void exp_row(float* e, int64_t V) { at::from_blob(e, {V}, at::kFloat).exp_(); }

// The sampling rows' logits as fp32 rows on the host: the logits themselves when they are there
// already, else the rows copied. row(i) is rows[i]'s [V].
class HostLogits {
 public:
  HostLogits(const at::Tensor& logits, const std::vector<int64_t>& rows) {
    if (logits.device().is_cpu() && logits.scalar_type() == at::kFloat && logits.is_contiguous()) {
      t_ = logits;
      rows_ = rows;
    } else {
      t_ =
          logits.index_select(0, at::tensor(rows, at::kLong).to(logits.device())).to(at::kCPU, at::kFloat).contiguous();
      rows_.resize(rows.size());
      std::iota(rows_.begin(), rows_.end(), int64_t{0});
    }
  }
  const float* row(size_t i) const { return t_.const_data_ptr<float>() + rows_[i] * t_.size(1); }

 private:
  at::Tensor t_;               // [B, V] or, copied, [S, V]
  std::vector<int64_t> rows_;  // row i's index in t_
};

double top_p_of(const SamplingParams& p) { return cuts_top_p(p) ? p.top_p : 1.0; }

}  // namespace

at::Tensor sampling_distribution(const at::Tensor& logits, const SamplingParams& p) {
  const int64_t V = logits.size(0);
  const std::vector<int64_t> only_row{0};
  const HostLogits host(logits.view({1, V}), only_row);
  std::vector<float> x(static_cast<size_t>(V)), e(static_cast<size_t>(V));
  scale_row(host.row(0), V, p, x.data(), e.data());
  exp_row(e.data(), V);
  const float* e_row = e.data();
  const Allowed a = allowed_tokens(e_row, V, top_p_of(p));
  at::Tensor probs = at::zeros({V}, at::kFloat);  // [V]
  float* out = probs.mutable_data_ptr<float>();
  if (a.whole_row)
    for (int64_t i = 0; i < V; ++i) out[i] = a.prob(e_row, i);
  for (size_t j = 0; j < a.ids.size(); ++j) out[a.ids[j]] = a.probs[j];
  return probs;
}

float* SamplingScratch::rows(int64_t S, int64_t V) {
  const auto n = static_cast<size_t>(2 * S * V);
  if (size_ < n) buffer_.reset(new float[n]), size_ = n;  // no zeroing: each row is written first
  return buffer_.get();
}

std::vector<int64_t> sample_tokens(const at::Tensor& logits, const std::vector<const SamplingParams*>& params,
                                   const std::vector<at::Generator*>& gens, SamplingScratch* scratch) {
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
  const HostLogits host(logits, rows);
  SamplingScratch local_scratch;
  float* const x = (scratch ? *scratch : local_scratch).rows(S, V);  // [S, V], then e [S, V]
  float* const e = x + S * V;
  std::vector<const at::GeneratorImpl*> used;
  for (int64_t b : rows) used.push_back(gens[b]->unsafeGetGeneratorImpl());
  std::sort(used.begin(), used.end());
  const bool own_generators = std::adjacent_find(used.begin(), used.end()) == used.end();
  const int threads = at::get_num_threads();
  parallel_each(S, threads, [&](int64_t i) {
    scale_row(host.row(static_cast<size_t>(i)), V, *params[rows[i]], x + i * V, e + i * V);
  });
  for (int64_t i = 0; i < S; ++i) exp_row(e + i * V, V);
  parallel_each(S, own_generators ? threads : 1, [&](int64_t i) {  // a shared generator: in row order
    const SamplingParams& p = *params[rows[i]];
    const Allowed a = allowed_tokens(e + i * V, V, top_p_of(p));
    out[rows[i]] = race_winner(*gens[rows[i]], V, a, e + i * V);
  });
  return out;
}

}  // namespace s2d
