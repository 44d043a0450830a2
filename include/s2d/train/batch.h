// Training batches: SFT examples laid out as the trainer's tensors, padded or packed, and at one
// fixed shape for a captured step.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "s2d/train/sft_data.h"

namespace s2d {

// A batch of examples in one of two layouts.
// Padded (the trainer relies on right padding: see LlamaModel::forward_causal): ids [B, T]
// padded with 0 after each row's tokens, attention [B, T], loss mask [B, T] (token t counted,
// predicted from position t - 1).
// Packed (`lengths` set): the examples back to back in one row with no padding, ids, attention,
// loss mask and positions [1, L]; lengths [B] sum to L (LlamaModel::forward_packed). Only the
// real tokens are computed, and each example's loss depends on its own tokens alone.
// Both: predict_rows [N], the flat positions that predict the N counted tokens (b * T + t - 1,
// or offset + t - 1), in order; targets [N]: those tokens.
struct Batch {
  at::Tensor ids, attention, loss_mask;
  at::Tensor predict_rows, targets;
  int64_t target_tokens = 0;
  int64_t tokens = 0;            // real tokens, padding not counted
  at::Tensor positions;          // packed only: [1, L] int64, 0 at the start of each example
  std::vector<int64_t> lengths;  // packed only: each example's token count
};
// How distill lays out a micro-batch. On: packed. Off: padded. Auto: packed where padding would
// be at least 10% of the padded batch's positions. Packing saves the padding's compute but runs
// attention once per example; with few tokens per example on a small model the calls cost more
// than a little padding (the toy model on bucketed last-letter batches: 11,441 / 11,960 tok/s
// packed against 13,774 / 13,404 padded), while SmolLM2 on rows of 32-128 tokens trains 1.37x
// faster packed.
enum class Packing { Auto, On, Off };
Packing parse_packing(const std::string& name);  // "auto" | "on" | "off"
bool packs(Packing mode, const std::vector<SftExample>& data, const std::vector<size_t>& rows);

// `packed`: the packed layout, else the padded one.
Batch make_batch(const std::vector<SftExample>& data, const std::vector<size_t>& rows, const c10::Device& device,
                 bool packed = false);
// Sets b.predict_rows, b.targets and b.target_tokens from b.ids and b.loss_mask (make_batch calls
// it). In the packed layout no example's first token is a target (nothing of its own predicts it).
void index_targets(Batch& b);

// The shape of a micro-batch for a captured step (captured_train_step.h), which replays the
// kernels of the shapes it captured: ids [rows, tokens], predict_rows and targets [targets].
struct FixedBatchShape {
  int64_t rows = 0, tokens = 0, targets = 0;
  int64_t positions() const { return rows * tokens; }
};
// The shapes a run's micro-batches of `batch_size` examples are padded to: one per power of two
// of tokens from 16 that an example needs, the longest example's length in place of the last
// power (or of the power it exceeds by a quarter or less), so that padding stays under about 60%
// of a micro-batch that fills its rows. Each counts as targets what the `batch_size` examples
// that fit it and count the most do. In ascending tokens.
std::vector<FixedBatchShape> fixed_batch_shapes(const std::vector<SftExample>& data, int64_t batch_size);
// The smallest of `shapes` whose rows hold `tokens` tokens (an internal error if none does).
const FixedBatchShape& shape_for(const std::vector<FixedBatchShape>& shapes, int64_t tokens);
// make_batch's padded layout at `shape`: rows past rows.size() are all padding, and predict_rows
// and targets run on past the batch's counted tokens with row 0 and target -100, which
// cross-entropy ignores. So the loss and its gradients are the natural batch's (up to the
// rounding of kernels at another shape), with padding's compute. A batch that does not fit is an
// internal error.
Batch make_fixed_batch(const std::vector<SftExample>& data, const std::vector<size_t>& rows, const c10::Device& device,
                       const FixedBatchShape& shape);

}  // namespace s2d
