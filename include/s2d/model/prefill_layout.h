// Where each row of a packed prefill comes from (LlamaModel::prefill_packed). Torch-free.
//
// The prompts lie back to back along one row of L tokens. A prompt's first tokens can come from
// elsewhere instead of being computed:
//   * shared: they are the first tokens of an earlier prompt of the batch (a chat template's
//     preamble, or the question that several samples' prompts quote), computed once, there;
//   * cached: their keys and values exist already (the cache columns of a slot whose prompt
//     starts the same way), and are not computed at all.
// The layers then run over the U unique rows only. Attention reads keys and values from a pool of
// U + E rows (the unique rows' new ones, then the E cached ones), spread over the L rows.
#pragma once

#include <cstdint>
#include <vector>

namespace s2d {

// Prompt b's first `tokens` tokens are those of the earlier prompt `prompt`.
struct SharedStart {
  int64_t prompt = 0;  // an earlier prompt of the batch
  int64_t tokens = 0;  // < this prompt's length (its last token's logits are computed), <= that prompt's
};

struct PrefillLayout {
  std::vector<int64_t> kv_of_row;      // [L]: the pool row (unique in [0, U), cached in [U, U + E)) of each row
  std::vector<int64_t> query_of_row;   // [L]: the unique row whose query each row takes; a cached row's is
                                       //      any, as its attention output is dropped
  std::vector<int64_t> row_of_unique;  // [U]: the row of the layout that each unique row is
  std::vector<int64_t> positions;      // [U]: each unique row's position within its prompt
  std::vector<int64_t> last_rows;      // [B]: the unique row of each prompt's last token
  std::vector<int64_t> computed;       // [B]: each prompt's unique rows, its last ones (the others
                                       //      come first: shared, then cached)
  int64_t cached_rows = 0;             // E

  int64_t rows() const { return static_cast<int64_t>(kv_of_row.size()); }
  int64_t unique_rows() const { return static_cast<int64_t>(row_of_unique.size()); }
};

// The layout of prompts of `lengths` tokens (each >= 1). `shared` and `cached_tokens` are empty or
// hold one entry per prompt; a prompt starts from an earlier prompt or from a cache, not both, and
// keeps at least its last token to compute. A RuntimeError names the entry at fault.
PrefillLayout prefill_layout(const std::vector<int64_t>& lengths, const std::vector<SharedStart>& shared,
                             const std::vector<int64_t>& cached_tokens);

}  // namespace s2d
