#include "s2d/model/prefill_layout.h"

#include <algorithm>
#include <string>

#include "s2d/util/error.h"

namespace s2d {

namespace {
void check_one_per_prompt(size_t entries, size_t prompts, const char* field) {
  if (entries != 0 && entries != prompts)
    throw_runtime(std::string("prefill: ") + field + " starts do not match the prompts",
                  {.field = field,
                   .expected = std::to_string(prompts) + " entries (one per prompt) or none",
                   .found = std::to_string(entries)});
}
}  // namespace

PrefillLayout prefill_layout(const std::vector<int64_t>& lengths, const std::vector<SharedStart>& shared,
                             const std::vector<int64_t>& cached_tokens) {
  check_one_per_prompt(shared.size(), lengths.size(), "shared");
  check_one_per_prompt(cached_tokens.size(), lengths.size(), "cached");
  PrefillLayout out;
  // A cached row's pool index is U + its order among the cached rows, and U is known only at the
  // end: until then it is stored as -(order + 1).
  std::vector<int64_t> starts;  // [B]: where each prompt begins in the layout
  for (size_t b = 0; b < lengths.size(); ++b) {
    const int64_t n = lengths[b];
    if (n < 1)
      throw_runtime("prefill: an empty prompt in a packed batch",
                    {.field = "lengths", .expected = ">= 1 token each", .found = std::to_string(n)});
    const SharedStart s = shared.empty() ? SharedStart{} : shared[b];
    const int64_t cached = cached_tokens.empty() ? 0 : cached_tokens[b];
    if (s.tokens < 0 || (s.tokens > 0 && (s.prompt < 0 || s.prompt >= static_cast<int64_t>(b) || s.tokens >= n ||
                                          s.tokens > lengths[static_cast<size_t>(s.prompt)])))
      throw_runtime("prefill: a prompt's shared start is not part of an earlier prompt",
                    {.field = "shared[" + std::to_string(b) + "]",
                     .expected = "an earlier prompt and fewer than " + std::to_string(n) + " of its tokens",
                     .found = "prompt " + std::to_string(s.prompt) + ", " + std::to_string(s.tokens) + " tokens"});
    if (cached < 0 || cached >= n || (cached > 0 && s.tokens > 0))
      throw_runtime(
          "prefill: a prompt's cached start does not fit it",
          {.field = "cached[" + std::to_string(b) + "]",
           .expected = "fewer than " + std::to_string(n) + " tokens, and no shared start beside it",
           .found = std::to_string(cached) + " tokens, beside a shared start of " + std::to_string(s.tokens)});
    starts.push_back(out.rows());
    for (int64_t t = 0; t < n; ++t) {
      if (t < s.tokens) {
        const auto from = static_cast<size_t>(starts[static_cast<size_t>(s.prompt)] + t);
        out.kv_of_row.push_back(out.kv_of_row[from]);
        out.query_of_row.push_back(out.query_of_row[from]);
      } else if (t < cached) {
        out.kv_of_row.push_back(-(++out.cached_rows));
        out.query_of_row.push_back(0);
      } else {
        out.kv_of_row.push_back(out.unique_rows());
        out.query_of_row.push_back(out.unique_rows());
        out.row_of_unique.push_back(out.rows() - 1);
        out.positions.push_back(t);
      }
    }
    out.last_rows.push_back(out.kv_of_row.back());
    out.computed.push_back(n - std::max(s.tokens, cached));
  }
  const int64_t U = out.unique_rows();
  for (int64_t& r : out.kv_of_row)
    if (r < 0) r = U - r - 1;
  return out;
}

}  // namespace s2d
