#include "s2d/model/decode_panels.h"

#include <ATen/ATen.h>

#include "s2d/model/few_row_matmul.h"
#include "s2d/util/memory.h"

namespace s2d {

namespace {
template <typename Fn>
void for_each_matrix(const LlamaWeights& w, Fn&& fn) {
  for (const auto& L : w.layers)
    for (const at::Tensor* t : {&L.qkv_t, &L.o_t, &L.gate_up_t, &L.down_t}) fn(*t);
  fn(w.lm_head_t);
}
}  // namespace

uint64_t decode_panel_bytes(const LlamaWeights& w) {
  uint64_t bytes = 0;
  for_each_matrix(w, [&](const at::Tensor& t) {
    if (t.dim() == 2)
      bytes += static_cast<uint64_t>(t.size(0) * few_rows::panel_count(t.size(1)) * few_rows::kPanelWidth) * 4;
  });
  return bytes;
}

std::shared_ptr<const DecodePanels> build_decode_panels(const LlamaWeights& w) {
  bool usable = true;
  for_each_matrix(w, [&](const at::Tensor& t) { usable = usable && can_use_panels(t); });
  if (!usable || decode_panel_bytes(w) > available_host_memory() / 2) return nullptr;
  auto panels = std::make_shared<DecodePanels>();
  for (const auto& L : w.layers)
    panels->layers.push_back({to_panels(L.qkv_t), to_panels(L.o_t), to_panels(L.gate_up_t), to_panels(L.down_t)});
  panels->head = to_panels(w.lm_head_t);
  return panels;
}

}  // namespace s2d
