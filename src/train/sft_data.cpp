#include "s2d/train/sft_data.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <random>

#include "s2d/util/error.h"
#include "s2d/util/jsonl.h"
#include "s2d/util/strings.h"

namespace s2d {

namespace {
uint64_t below(std::mt19937_64& rng, uint64_t n) {  // unbiased, platform-independent
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do x = rng();
  while (x >= limit);
  return x % n;
}

template <typename T>
void shuffle(std::vector<T>& v, std::mt19937_64& rng) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[below(rng, i)]);
}
}  // namespace

std::vector<SftExample> load_sft(const std::string& path, const Tokenizer& tok, const ChatTemplate& tmpl,
                                 int64_t max_seq_len, SftDataStats* stats) {
  if (max_seq_len < 2)
    throw_input("too short", {.field = "--max-seq-len", .expected = ">= 2", .found = std::to_string(max_seq_len)});
  SftDataStats st;
  std::vector<SftExample> out;
  read_jsonl(path, [&](int64_t line, const nlohmann::json& j) {
    auto bad = [&](const std::string& what, const std::string& field, const std::string& expected) {
      throw_input(what, {.file = path, .line = line, .field = field, .expected = expected});
    };
    auto m = j.find("messages");
    if (m == j.end() || !m->is_array() || m->empty()) bad("missing messages", "messages", "a non-empty array");
    std::vector<ChatMessage> msgs;
    for (size_t i = 0; i < m->size(); ++i) {
      const auto& e = (*m)[i];
      const std::string f = "messages[" + std::to_string(i) + "]";
      if (!e.is_object() || !e.contains("role") || !e["role"].is_string() || !e.contains("content") ||
          !e["content"].is_string())
        bad("bad message", f, "{\"role\": string, \"content\": string}");
      msgs.push_back({e["role"].get<std::string>(), e["content"].get<std::string>()});
    }
    if (msgs.back().role != "assistant")
      bad("the last message must be the assistant's answer", "messages", "last role assistant");
    RenderedChat r;
    try {
      r = tmpl.render(tok, msgs, /*add_generation_prompt=*/false);
    } catch (const Error& e) {
      ErrorContext ctx = e.context();
      ctx.file = path;
      ctx.line = line;
      throw Error(ErrorKind::Input, e.message(), ctx);
    }
    ++st.examples;
    if (static_cast<int64_t>(r.ids.size()) > max_seq_len) {
      ++st.truncated;
      r.ids.resize(static_cast<size_t>(max_seq_len));
      r.assistant_mask.resize(static_cast<size_t>(max_seq_len));
    }
    SftExample ex{j.value("id", "line" + std::to_string(line)), std::move(r.ids), std::move(r.assistant_mask)};
    // Token 0 is never predicted (nothing precedes it).
    ex.loss_mask[0] = 0;
    const auto targets = std::count(ex.loss_mask.begin(), ex.loss_mask.end(), 1);
    if (targets == 0) {
      ++st.dropped_no_target;
      return;
    }
    st.tokens += static_cast<int64_t>(ex.ids.size());
    st.target_tokens += targets;
    out.push_back(std::move(ex));
  });
  if (stats) *stats = st;
  if (out.empty()) {
    throw_input(st.examples == 0 ? "empty dataset" : "no example keeps an assistant token within --max-seq-len",
                {.file = path,
                 .expected = "at least one trainable example",
                 .found = std::to_string(st.examples) + " examples, " + std::to_string(st.dropped_no_target) +
                          " without targets",
                 .hint = st.examples == 0 ? "" : "raise --max-seq-len"});
  }
  return out;
}

void split_validation(std::vector<SftExample>& train, std::vector<SftExample>& val, double fraction, uint64_t seed) {
  if (!(fraction >= 0 && fraction < 1))
    throw_input("out of range",
                {.field = "--val-fraction", .expected = "in [0, 1)", .found = std::to_string(fraction)});
  if (fraction == 0) return;
  std::vector<SftExample> keep;
  for (auto& e : train) {
    const double u = static_cast<double>((fnv1a(e.id) ^ seed) % 1000003) / 1000003.0;
    (u < fraction ? val : keep).push_back(std::move(e));
  }
  train = std::move(keep);
  if (train.empty()) throw_input("validation split took every example", {.field = "--val-fraction"});
}

std::vector<std::vector<size_t>> epoch_batches(const std::vector<SftExample>& data, int64_t batch_size, uint64_t seed,
                                               int64_t epoch) {
  std::mt19937_64 rng(seed * 1000003ULL + static_cast<uint64_t>(epoch));
  std::vector<size_t> order(data.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  shuffle(order, rng);
  // Buckets of 16 batches: sort each by length, cut into batches, then shuffle the batches.
  const size_t bs = static_cast<size_t>(std::max<int64_t>(1, batch_size)), bucket = bs * 16;
  std::vector<std::vector<size_t>> batches;
  for (size_t b = 0; b < order.size(); b += bucket) {
    auto first = order.begin() + static_cast<std::ptrdiff_t>(b);
    auto last = order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), b + bucket));
    std::stable_sort(first, last, [&](size_t x, size_t y) { return data[x].ids.size() < data[y].ids.size(); });
    for (auto it = first; it < last; it += static_cast<std::ptrdiff_t>(std::min<size_t>(bs, last - it)))
      batches.emplace_back(it, it + static_cast<std::ptrdiff_t>(std::min<size_t>(bs, last - it)));
  }
  shuffle(batches, rng);
  return batches;
}

}  // namespace s2d
