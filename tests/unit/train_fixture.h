// Small training batches and the packed weights of a model, for the trainer's tests.
#pragma once

#include <ATen/ATen.h>

#include <map>
#include <string>
#include <vector>

#include "s2d/model/llama.h"
#include "s2d/train/trainer.h"

namespace s2d::testing {

// `n` tokens drawn from `seed`; the loss counts the last `answer` of them.
inline SftExample random_example(int64_t n, int64_t answer, uint64_t seed) {
  at::manual_seed(seed);
  const at::Tensor ids = at::randint(3, 50, {n}, at::kLong);
  SftExample e;
  for (int64_t t = 0; t < n; ++t) {
    e.ids.push_back(static_cast<int>(ids[t].item<int64_t>()));
    e.loss_mask.push_back(t >= n - answer ? 1 : 0);
  }
  return e;
}

// `rows` rows of `n` tokens drawn from `seed`, each counting its last `counted`: the same shapes
// for any seed.
inline Batch random_batch(int64_t rows, int64_t n, int64_t counted, uint64_t seed,
                          const c10::Device& device = at::kCPU) {
  at::manual_seed(seed);
  const at::Tensor ids = at::randint(3, 50, {rows, n}, at::kLong);
  std::vector<SftExample> data(static_cast<size_t>(rows));
  std::vector<size_t> all;
  for (int64_t r = 0; r < rows; ++r) {
    all.push_back(static_cast<size_t>(r));
    for (int64_t t = 0; t < n; ++t) {
      data[r].ids.push_back(static_cast<int>(ids[r][t].item<int64_t>()));
      data[r].loss_mask.push_back(t >= n - counted ? 1 : 0);
    }
  }
  return make_batch(data, all, device);
}

// The packed tensors (what a trainer optimises) by name; the tensors are shared, not copied.
inline std::map<std::string, at::Tensor> packed_weights(LlamaModel& m) {
  std::map<std::string, at::Tensor> out;
  for_each_packed(m.config(), m.weights(), [&](const std::string& name, at::Tensor& t) { out[name] = t; });
  return out;
}

}  // namespace s2d::testing
