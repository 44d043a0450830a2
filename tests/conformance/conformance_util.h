// Helpers shared by the C++ conformance tests: reference tensors and a greedy decode through
// the KV cache, as HF's reference scripts record them.
#pragma once

#include <ATen/ATen.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "s2d/model/llama.h"
#include "s2d/model/safetensors.h"

namespace s2d {

// The names of the case directories under `dir` (those holding a reference.json), sorted.
inline std::vector<std::string> case_names(const std::string& dir) {
  std::vector<std::string> cases;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (std::filesystem::exists(e.path() / "reference.json")) cases.push_back(e.path().filename().string());
  std::sort(cases.begin(), cases.end());
  return cases;
}

inline at::Tensor to_tensor(const nlohmann::json& rows) {  // [[int]] -> int64 [B, T]
  std::vector<int64_t> flat;
  for (const auto& r : rows)
    for (const auto& v : r) flat.push_back(v.get<int64_t>());
  return at::tensor(flat, at::kLong).view({static_cast<int64_t>(rows.size()), -1});
}

inline at::Tensor load_logits(const std::string& path, const std::string& name = "logits") {
  SafetensorsFile f(path);
  const auto& v = f.tensors().at(name);
  return at::from_blob(const_cast<uint8_t*>(v.data), v.shape, at::kFloat).clone();
}

// Max |a - b| over positions where mask [B, T] is 1. a, b: [B, T, V].
inline double masked_max_diff(const at::Tensor& a, const at::Tensor& b, const at::Tensor& mask) {
  at::Tensor d = (a.to(at::kFloat) - b.to(at::kFloat)).abs().amax(-1);  // [B, T]
  return d.masked_select(mask.to(at::kBool)).max().item<double>();
}

// Greedy decode through the KV cache: one prefill over the padded batch, then one token per step.
inline at::Tensor greedy_with_cache(const LlamaModel& m, const at::Tensor& ids, const at::Tensor& mask, int steps) {
  const int64_t B = ids.size(0), T = ids.size(1);
  KVCache cache(m.config(), B, T + steps, m.options());
  at::Tensor pos = positions_from_mask(mask);
  at::Tensor key_mask = mask.clone();
  at::Tensor next = m.forward(ids, pos, key_mask, &cache, /*last_only=*/true).argmax(-1);  // [B, 1]
  std::vector<at::Tensor> out{next};
  at::Tensor last_pos = pos.select(1, T - 1).unsqueeze(1);  // [B, 1]
  for (int s = 1; s < steps; ++s) {
    last_pos = last_pos + 1;
    key_mask = at::cat({key_mask, at::ones({B, 1}, key_mask.options())}, 1);
    next = m.forward(next, last_pos, key_mask, &cache, true).argmax(-1);
    out.push_back(next);
  }
  return at::cat(out, 1);  // [B, steps]
}

}  // namespace s2d
