#include "s2d/train/batch.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <functional>

#include "s2d/model/async_transfer.h"
#include "s2d/util/error.h"

namespace s2d {

void index_targets(Batch& b) {
  const int64_t T = b.ids.size(1);
  at::Tensor counted = b.loss_mask.slice(1, 1) != 0;  // [B, T-1]: token t + 1 counted, predicted at t
  if (!b.lengths.empty()) {  // packed: an example's first token is not predicted by the one before it
    counted = counted.clone();
    int64_t start = 0;
    for (const int64_t n : b.lengths) {
      if (start > 0) counted[0][start - 1] = false;
      start += n;
    }
  }
  at::Tensor where = counted.nonzero();  // [N, 2] rows (b, t), row-major
  b.predict_rows = where.select(1, 0) * T + where.select(1, 1);
  b.targets = b.ids.slice(1, 1).masked_select(counted);  // [N]
  b.target_tokens = b.targets.numel();
}

Packing parse_packing(const std::string& name) {
  if (name == "auto") return Packing::Auto;
  if (name == "on") return Packing::On;
  if (name == "off") return Packing::Off;
  throw_input("unknown packing", {.field = "--packing", .expected = "auto|on|off", .found = name});
}

bool packs(Packing mode, const std::vector<SftExample>& data, const std::vector<size_t>& rows) {
  if (mode != Packing::Auto) return mode == Packing::On;
  size_t real = 0, longest = 0;
  for (size_t r : rows) real += data[r].ids.size(), longest = std::max(longest, data[r].ids.size());
  return 10 * (longest * rows.size() - real) >= longest * rows.size();  // padding >= 10% of B * T
}

namespace {

// The examples `rows` laid out on the CPU in a [B, T] grid (padded: row i at i * T; packed: B = 1,
// back to back), with their targets indexed.
Batch lay_out(const std::vector<SftExample>& data, const std::vector<size_t>& rows, bool packed, int64_t B, int64_t T) {
  Batch b;
  std::vector<int64_t> ids(static_cast<size_t>(B * T), 0), att(ids.size(), 0), mask(ids.size(), 0), pos(ids.size(), 0);
  int64_t start = 0;  // where example i starts: i * T padded, after the tokens before it packed
  for (const size_t r : rows) {
    const auto& e = data[r];
    for (size_t t = 0; t < e.ids.size(); ++t) {
      const auto at = static_cast<size_t>(start) + t;
      ids[at] = e.ids[t], att[at] = 1, mask[at] = e.loss_mask[t], pos[at] = static_cast<int64_t>(t);
    }
    b.tokens += static_cast<int64_t>(e.ids.size());
    if (packed) b.lengths.push_back(static_cast<int64_t>(e.ids.size()));
    start += packed ? static_cast<int64_t>(e.ids.size()) : T;
  }
  auto cpu = [&](std::vector<int64_t>& v) { return at::tensor(v, at::kLong).view({B, T}); };
  b.ids = cpu(ids);
  b.attention = cpu(att);
  b.loss_mask = cpu(mask);
  if (packed) b.positions = cpu(pos);
  index_targets(b);  // on the CPU: nonzero would wait for the device
  return b;
}

// Non-blocking on CUDA: a plain .to() from pageable memory would make the host wait for every
// step queued before it, so the device would idle while the host built and issued the next one.
Batch to_device(Batch b, const c10::Device& device) {
  for (at::Tensor* t : {&b.ids, &b.attention, &b.loss_mask, &b.predict_rows, &b.targets, &b.positions})
    if (t->defined()) *t = upload(*t, device);
  return b;
}

// Tokens t >= 1 that an example counts: token 0 has nothing before it to predict it.
int64_t counted_tokens(const SftExample& e) {
  int64_t n = 0;
  for (size_t t = 1; t < e.loss_mask.size(); ++t) n += e.loss_mask[t] != 0;
  return n;
}

}  // namespace

Batch make_batch(const std::vector<SftExample>& data, const std::vector<size_t>& rows, const c10::Device& device,
                 bool packed) {
  int64_t T = 0, total = 0;
  for (const size_t r : rows) {
    const auto n = static_cast<int64_t>(data[r].ids.size());
    T = std::max(T, n), total += n;
  }
  return to_device(
      packed ? lay_out(data, rows, true, 1, total) : lay_out(data, rows, false, static_cast<int64_t>(rows.size()), T),
      device);
}

std::vector<FixedBatchShape> fixed_batch_shapes(const std::vector<SftExample>& data, int64_t batch_size) {
  int64_t longest = 1;
  for (const auto& e : data) longest = std::max(longest, static_cast<int64_t>(e.ids.size()));
  // 16, 32, ... up to the longest, which takes the place of a power it exceeds by a quarter or less
  std::vector<int64_t> bounds;
  for (int64_t t = 16; t + t / 4 < longest; t *= 2) bounds.push_back(t);
  bounds.push_back(longest);
  std::vector<FixedBatchShape> shapes;
  int64_t below = 0;  // the previous bound: a shape is kept only where some example needs it
  for (const int64_t bound : bounds) {
    std::vector<int64_t> counted;  // of the examples that fit
    bool needed = false;
    for (const auto& e : data) {
      const auto n = static_cast<int64_t>(e.ids.size());
      if (n > bound) continue;
      counted.push_back(counted_tokens(e));
      needed = needed || n > below;
    }
    below = bound;
    if (!needed) continue;
    const auto most = std::min(counted.size(), static_cast<size_t>(std::max<int64_t>(0, batch_size)));
    std::partial_sort(counted.begin(), counted.begin() + static_cast<std::ptrdiff_t>(most), counted.end(),
                      std::greater<>());
    FixedBatchShape shape{batch_size, bound, 0};
    for (size_t i = 0; i < most; ++i) shape.targets += counted[i];
    shape.targets = std::max<int64_t>(1, shape.targets);  // a [0] index would give the logits no rows to capture
    shapes.push_back(shape);
  }
  return shapes;
}

const FixedBatchShape& shape_for(const std::vector<FixedBatchShape>& shapes, int64_t tokens) {
  for (const auto& s : shapes)
    if (s.tokens >= tokens) return s;
  throw_runtime(c10::str("no fixed batch shape holds ", tokens, " tokens"));
}

Batch make_fixed_batch(const std::vector<SftExample>& data, const std::vector<size_t>& rows, const c10::Device& device,
                       const FixedBatchShape& shape) {
  int64_t longest = 0;
  for (const size_t r : rows) longest = std::max(longest, static_cast<int64_t>(data[r].ids.size()));
  if (static_cast<int64_t>(rows.size()) > shape.rows || longest > shape.tokens)
    throw_runtime(c10::str("a micro-batch of ", rows.size(), " examples of up to ", longest,
                           " tokens does not fit the fixed shape [", shape.rows, ", ", shape.tokens, "]"));
  Batch b = lay_out(data, rows, false, shape.rows, shape.tokens);
  const int64_t pad = shape.targets - b.target_tokens;
  if (pad < 0)
    throw_runtime(c10::str("a micro-batch counts ", b.target_tokens, " tokens; the fixed shape holds ", shape.targets));
  // cross_entropy_loss's default ignore_index: the padded targets add 0 to the sum and its gradient.
  constexpr int64_t kIgnored = -100;
  b.predict_rows = at::cat({b.predict_rows, at::zeros({pad}, at::kLong)});
  b.targets = at::cat({b.targets, at::full({pad}, kIgnored, at::kLong)});
  return to_device(std::move(b), device);
}

}  // namespace s2d
