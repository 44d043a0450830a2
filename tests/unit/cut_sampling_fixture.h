// Rows for the tests of cut-row sampling (cut_sampling.h): probabilities with and without ties, and
// every combination of the cuts over them.
#pragma once

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

namespace s2d::testing {

// A row of V probabilities from logits on a grid of `step` (so many tie exactly; 0: continuous),
// with `zeros` of them set to 0 (tokens whose exp underflows).
inline std::vector<float> make_row(int64_t V, double scale, double step, int64_t zeros, std::mt19937& rng) {
  std::normal_distribution<double> normal(0.0, scale);
  std::vector<double> w(static_cast<size_t>(V));
  for (auto& x : w) {
    double l = normal(rng);
    if (step > 0) l = std::round(l / step) * step;
    x = std::exp(l);
  }
  for (int64_t z = 0; z < zeros && z < V - 1; ++z) w[std::uniform_int_distribution<size_t>(0, w.size() - 1)(rng)] = 0;
  const double sum = std::accumulate(w.begin(), w.end(), 0.0);
  std::vector<float> p(w.size());
  for (size_t i = 0; i < w.size(); ++i) p[i] = static_cast<float>(w[i] / sum);
  return p;
}

struct Rows {
  at::Tensor probs, top_k, top_p, u, cut;
};

// Every combination of the cuts over rows of each shape, one u per row.
inline Rows rows_for(const std::vector<std::vector<float>>& shapes, const std::vector<int64_t>& ks,
                     const std::vector<float>& ps, std::mt19937& rng) {
  std::vector<float> probs, top_p, u;
  std::vector<int64_t> top_k;
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  const auto V = static_cast<int64_t>(shapes.front().size());
  for (const auto& row : shapes)
    for (const int64_t k : ks)
      for (const float p : ps) {
        probs.insert(probs.end(), row.begin(), row.end());
        top_k.push_back(k > 0 ? std::min(k, V) : V);
        top_p.push_back(p);
        // The stream's values: (j + 0.5) / 2^23.
        u.push_back((std::floor(uniform(rng) * 8388608.0f) + 0.5f) / 8388608.0f);
      }
  const auto B = static_cast<int64_t>(top_k.size());
  return Rows{at::tensor(probs).view({B, V}), at::tensor(top_k), at::tensor(top_p), at::tensor(u),
              at::ones({B}, at::kBool)};
}

}  // namespace s2d::testing
