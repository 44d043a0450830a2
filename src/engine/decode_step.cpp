#include <algorithm>

#include "decode_run.h"
#include "s2d/engine/device_sampling.h"
#include "s2d/model/device.h"
#include "s2d/util/error.h"

namespace s2d {

namespace {
const SamplingParams kGreedy{};
}  // namespace

// The cache rows of slots [0, hi): views sharing storage (decode_slots needs batch == hi).
KVCache DecodeRun::slots_below(int64_t hi) const {
  KVCache view = cache_;
  if (hi < n_slots_) {
    for (auto& t : view.k) t = t.narrow(0, 0, hi);
    for (auto& t : view.v) t = t.narrow(0, 0, hi);
  }
  return view;
}

// Host sampler: decode, copy the logits to the host, draw, act on the tokens.
bool DecodeRun::step_and_wait() {
  int64_t hi = 0, width = 0;
  for (size_t si = 0; si < slots_.size(); ++si)
    if (slots_[si].busy) {
      hi = static_cast<int64_t>(si) + 1;
      width = std::max(width, slots_[si].len + 1);
    }
  if (hi == 0) return false;
  // Busy slots below `hi` decode together; idle ones in that range feed a dummy token at column 0.
  std::vector<int64_t> ids(static_cast<size_t>(hi), 0), lens(static_cast<size_t>(hi), 0);
  std::vector<const SamplingParams*> params;
  std::vector<at::Generator*> gens;
  for (int64_t b = 0; b < hi; ++b) {
    Slot& s = slots_[static_cast<size_t>(b)];
    ids[b] = s.busy ? s.next : 0;
    lens[b] = s.busy ? s.len : 0;
    params.push_back(s.busy ? &requests_[s.req].sampling : &kGreedy);
    gens.push_back(&s.gen);
  }
  KVCache view = slots_below(hi);
  at::Tensor logits = model_.decode_slots(upload(ids, opts_.device()), upload(lens, opts_.device()), view,
                                          narrow_ ? width : capacity_);  // [hi, V]
  const std::vector<int64_t> next = sample_tokens(logits, params, gens, &sampling_scratch_);
  for (int64_t b = 0; b < hi; ++b) {
    Slot& s = slots_[static_cast<size_t>(b)];
    if (!s.busy) continue;
    s.len += 1;
    if (auto reason = accept(s, next[b]); !reason.empty()) retire(s, reason);
  }
  return true;
}

// Whether slot s decodes on after its drawn-but-unread token, unless that token stops it: the
// negation of accept()'s "length" test, which needs the token's position, not its value.
bool DecodeRun::goes_on_after_unread(const Slot& s) const {
  return static_cast<int64_t>(s.tokens.size()) + 1 < requests_[s.req].sampling.max_new_tokens && s.len < capacity_;
}

// Device sampler: every busy slot has one token drawn on the device and not yet read
// (next_tokens_). Queue step t, which feeds those tokens to the slots that go on, then read them
// back (the copy was queued before step t, so this waits for step t-1 only) and act on them.
// A slot that stops on its token was fed at step t anyway: that column and draw go unused.
bool DecodeRun::step_one_behind() {
  int64_t hi = 0, width = 0;
  std::vector<uint8_t> fed(slots_.size(), 0);
  for (size_t si = 0; si < slots_.size(); ++si) {
    const Slot& s = slots_[si];
    if (!s.busy) continue;
    hi = static_cast<int64_t>(si) + 1;
    if (goes_on_after_unread(s)) {
      fed[si] = 1;
      width = std::max(width, s.len + 1);
    }
  }
  if (hi == 0) return false;
  if (use_graphs_) hi = graph_bucket(hi);             // a graph runs its bucket's slots
  at::Tensor unread = next_tokens_.narrow(0, 0, hi);  // [hi] int64, fed to this step
  readback_.start(unread);
  at::Tensor drawn;  // [hi] int64: this step's tokens
  if (width > 0) {
    // Slots that do not go on (and idle ones) feed their token at column 0 of their own rows,
    // which nobody reads again, and draw greedily.
    std::vector<int64_t> lens(static_cast<size_t>(hi), 0), draws(static_cast<size_t>(hi), 0);
    std::vector<uint64_t> keys(static_cast<size_t>(hi), 0);
    std::vector<const SamplingParams*> params;
    for (int64_t b = 0; b < hi; ++b) {
      const Slot& s = slots_[static_cast<size_t>(b)];
      const bool f = fed[static_cast<size_t>(b)] != 0;
      lens[b] = f ? s.len : 0;
      keys[b] = s.key;
      draws[b] = s.drawn;
      params.push_back(f ? &requests_[s.req].sampling : &kGreedy);
    }
    if (use_graphs_) {
      drawn = graphs_for(hi).step(lens, pack_sampling_rows(params, keys, draws, cfg_.vocab_size));
      ++counters_.graph_steps;
    } else {
      KVCache view = slots_below(hi);
      at::Tensor logits = model_.decode_slots(unread, upload(lens, opts_.device()), view,
                                              narrow_ ? width : capacity_);  // [hi, V]
      drawn = sample_on_device(logits, device_sampling_rows(params, keys, draws, logits.size(1), opts_.device()));
    }
  }
  const at::Tensor& read = readback_.wait();  // [hi] int64 on the host: step t-1's tokens
  const int64_t* token = read.data_ptr<int64_t>();
  for (int64_t b = 0; b < hi; ++b) {
    Slot& s = slots_[static_cast<size_t>(b)];
    if (!s.busy) continue;
    if (auto reason = accept(s, token[b]); !reason.empty()) {
      retire(s, reason);
      continue;
    }
    if (!fed[static_cast<size_t>(b)])
      throw_runtime("decode: a slot went on without being fed", {.field = "slot " + std::to_string(b)});
    s.len += 1;
    s.drawn += 1;
  }
  if (drawn.defined()) unread.copy_(drawn);
  return true;
}

}  // namespace s2d
