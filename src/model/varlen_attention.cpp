#include "s2d/model/varlen_attention.h"

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>

#include <algorithm>
#include <atomic>

#include "s2d/model/async_transfer.h"
#include "s2d/util/log.h"

namespace s2d {

PackedSequences pack_sequences(std::vector<int64_t> lengths, const c10::Device& device) {
  std::vector<int32_t> offsets(lengths.size() + 1, 0);
  for (size_t i = 0; i < lengths.size(); ++i) offsets[i + 1] = offsets[i] + static_cast<int32_t>(lengths[i]);
  const int64_t longest = lengths.empty() ? 0 : *std::max_element(lengths.begin(), lengths.end());
  return {.lengths = std::move(lengths), .offsets = upload(offsets, device), .longest = longest};
}

at::Tensor varlen_causal_flash_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                         const PackedSequences& packed) {
  static std::atomic<bool> refused{false};  // the GPU refused once: it will again
  // Under autocast (training on CUDA) q and k arrive in fp32, promoted by RoPE's fp32 tables; the
  // flash op is on none of autocast's lists, so they are cast here as SDPA would cast them.
  const bool autocast = q.is_cuda() && at::autocast::is_autocast_enabled(at::kCUDA);
  const auto dtype = autocast ? at::autocast::get_autocast_dtype(at::kCUDA) : q.scalar_type();
  const int64_t D = q.size(-1);
  if (!q.is_cuda() || refused || (dtype != at::kBFloat16 && dtype != at::kHalf) || D % 8 != 0 || D > 256 ||
      packed.lengths.empty() || packed.offsets.device() != q.device())
    return {};
  const at::Tensor& cu = packed.offsets;
  return unless_refused(refused, "attending per sequence", [&] {
    return std::get<0>(at::_flash_attention_forward(q.to(dtype), k.to(dtype), v.to(dtype), cu, cu, packed.longest,
                                                    packed.longest, /*dropout_p=*/0.0, /*is_causal=*/true,
                                                    /*return_debug_mask=*/false));
  });
}

at::Tensor unless_refused(std::atomic<bool>& refused, const char* instead, const std::function<at::Tensor()>& call) {
  if (refused) return {};
  try {
    return call();
  } catch (const std::exception& e) {
    refused = true;
    log::warn(std::string("the flash kernel's variable-length form is not available (") +
              std::string(e.what()).substr(0, 200) + "); " + instead + " instead");
    return {};
  }
}

}  // namespace s2d
