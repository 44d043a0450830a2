// The arithmetic of drawing from a cut row by selection (cut_sampling.h), shared by the CUDA kernel
// (cuda/cut_sampling_kernel.cu) and its host twin (cut_sampling.cpp), so that both make the same
// decisions from the same probabilities. Torch-free; compiles under nvcc and the host compiler.
//
// A token's rank is its probability's key: for p in [0, 1] the fp32 bits order as the values do,
// and ties rank by token id (a stable sort's order). Masses are fixed-point integers (p * 2^40,
// truncated; exact on every device), so sums do not depend on their order. The cuts:
//   * top-k keeps the ranks below k;
//   * top-p keeps, of those, rank r while the mass of ranks below r is under top_p times their
//     total (rank 0 always stays);
//   * the token is the first kept one, in token order, whose running mass passes u times the kept
//     total.
// Selection finds the last kept rank's key one byte at a time from the top (a radix select over
// histograms of the next byte), the cut falling on the lowest bucket whose mass above stays under
// the target. No sort: the kernel reads each row at most ten times.
#pragma once

#include <cstdint>
#include <cstring>
#ifndef __CUDACC__
#include <algorithm>
#endif

#ifdef __CUDACC__
#define S2D_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define S2D_HOST_DEVICE inline
#endif

namespace s2d::cut_sampling {

constexpr int kBuckets = 256;                   // one byte of the key per round, four rounds from the top
constexpr float kMassScale = 1099511627776.0f;  // 2^40: V * 2^40 < 2^63 for any V below 2^23

S2D_HOST_DEVICE float clamp_probability(float p) { return p > 0.0f ? (p < 1.0f ? p : 1.0f) : 0.0f; }  // NaN -> 0

S2D_HOST_DEVICE uint32_t key_of(float p) {
  const float c = clamp_probability(p);
#ifdef __CUDA_ARCH__
  return __float_as_uint(c);
#else
  uint32_t bits;
  std::memcpy(&bits, &c, sizeof bits);
  return bits;
#endif
}

S2D_HOST_DEVICE uint64_t mass_of(float p) { return static_cast<uint64_t>(clamp_probability(p) * kMassScale); }

// The mass of a token from its key (the clamped probability's bits): mass_of_key(key_of(p)) == mass_of(p).
S2D_HOST_DEVICE uint64_t mass_of_key(uint32_t key) {
#ifdef __CUDA_ARCH__
  const float p = __uint_as_float(key);
#else
  float p;
  std::memcpy(&p, &key, sizeof p);
#endif
  return static_cast<uint64_t>(p * kMassScale);
}

// Whether `key` lies under the bytes chosen before the round that reads bits [shift, shift + 8).
S2D_HOST_DEVICE bool under_prefix(uint32_t key, uint32_t prefix, int shift) {
  return shift == 24 || (key >> (shift + 8)) == prefix;
}
S2D_HOST_DEVICE int bucket_of(uint32_t key, int shift) { return static_cast<int>((key >> shift) & 0xffu); }

// The cut's test: a token stays while the mass before it (in rank order) is under the target.
S2D_HOST_DEVICE bool under(uint64_t mass_before, double target) { return static_cast<double>(mass_before) < target; }

// One round: count[b] tokens of mass[b] fall in bucket b, and `above` is the mass of every token
// ranked before the buckets. Returns the lowest present bucket whose mass before it is under the
// target (the mass before a bucket grows as the bucket falls, so the buckets under it form a top
// run), or the highest present bucket where none is (rank 0 stays), and adds the mass of the
// buckets above the chosen one to `above`. -1 where no bucket holds a token.
// Mass: uint64_t on the host, unsigned long long (what CUDA's atomics take) in the kernel.
template <typename Mass>
S2D_HOST_DEVICE int choose_bucket(const uint32_t* count, const Mass* mass, uint64_t& above, double target) {
  int chosen = -1;
  uint64_t before = above, chosen_before = above;
  for (int b = kBuckets - 1; b >= 0; --b) {
    if (count[b] == 0) continue;
    if (chosen >= 0 && !under(before, target)) break;
    chosen = b;
    chosen_before = before;
    before += mass[b];
  }
  above = chosen_before;
  return chosen;
}

// Of n tokens tied at one key, each of mass w, with `above` the mass ranked before them: how many
// the cut keeps (they rank by token id, so these are the first in token order); at least one.
S2D_HOST_DEVICE uint64_t tied_kept(uint64_t above, uint64_t w, uint64_t n, double target) {
  uint64_t lo = 0, hi = n;  // tie j stays iff under(above + j * w): true up to some j, then false
  while (lo < hi) {
    const uint64_t mid = lo + (hi - lo + 1) / 2;
    if (under(above + (mid - 1) * w, target))
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo > 0 ? lo : (n > 0 ? 1 : 0);
}

// The draw's threshold in [0, total): the token is the first kept one whose running mass passes it.
// u < 1 - 2^-24, so u * total rounds below total.
S2D_HOST_DEVICE uint64_t draw_point(float u, uint64_t total) {
  return static_cast<uint64_t>(static_cast<double>(u) * static_cast<double>(total));
}

// The top-p target for a kept total: top_p >= 1 (including the sampler's "off", 2) keeps all.
S2D_HOST_DEVICE double top_p_target(float top_p, uint64_t total) {
  return top_p >= 1.0f ? 1e300 : static_cast<double>(top_p) * static_cast<double>(total);
}

// Where a row's cut falls: tokens ranked above `key` stay, and of those at `key`, the first `ties`
// in token order (`tie_rank`: how many tokens at `key` come before this one).
struct Cut {
  uint32_t key;
  uint64_t ties;
};
S2D_HOST_DEVICE Cut keep_all() { return Cut{0, ~uint64_t{0}}; }
S2D_HOST_DEVICE bool kept(uint32_t key, uint64_t tie_rank, const Cut& cut) {
  return key > cut.key || (key == cut.key && tie_rank < cut.ties);
}

// The tokens a selection ranks: all of them, or top-k's kept set (those above `floor.key` and the
// first `floor.ties` at it). The per-token passes count the tokens above the floor; finish_round
// adds the floor's ties.
struct TokenSet {
  bool all;
  Cut floor;
};
S2D_HOST_DEVICE bool counted(uint32_t key, const TokenSet& set) { return set.all || key > set.floor.key; }

// What the cut is sought by: the count of ranks (top-k: each token weighs 1, the target is k) or
// their mass (top-p: the target is top_p times the set's mass, known after the first round).
struct Goal {
  bool by_count;
  double k;
  float top_p;
};

// A selection between rounds: the key's bytes chosen so far, the mass ranked above them, the
// target, and, after the last round, the cut.
struct Selection {
  uint32_t prefix;
  uint64_t above;
  double target;
  Cut cut;
};
S2D_HOST_DEVICE Selection start_selection() { return Selection{0, 0, 0.0, keep_all()}; }

// After a round's histogram (count[b] tokens of mass[b] in bucket b, from the per-token pass):
// adds the floor's ties, sets the target on the first round, picks the byte, and on the last round
// (shift 0) the cut.
template <typename Mass>
S2D_HOST_DEVICE void finish_round(uint32_t* count, Mass* mass, int shift, const TokenSet& set, const Goal& goal,
                                  Selection& sel) {
  if (!set.all && under_prefix(set.floor.key, sel.prefix, shift)) {
    const int b = bucket_of(set.floor.key, shift);
    count[b] += static_cast<uint32_t>(set.floor.ties);
    mass[b] += set.floor.ties * (goal.by_count ? 1 : mass_of_key(set.floor.key));
  }
  if (shift == 24) {
    uint64_t total = 0;
    for (int b = 0; b < kBuckets; ++b) total += mass[b];
    sel.target = goal.by_count ? goal.k : top_p_target(goal.top_p, total);
  }
  int b = choose_bucket(count, mass, sel.above, sel.target);
  if (b < 0) b = 0;  // no token in the set: only for an empty row
  sel.prefix = shift == 24 ? static_cast<uint32_t>(b) : (sel.prefix << 8) | static_cast<uint32_t>(b);
  if (shift == 0) {
    const uint64_t w = goal.by_count ? 1 : mass_of_key(sel.prefix);
    sel.cut = Cut{sel.prefix, tied_kept(sel.above, w, count[b], sel.target)};
  }
}

// A row's cut: top-k's kept set first (by count, where k < V), then top-p's cut within it (by
// mass, where top_p < 1). select(set, goal) runs the four rounds of one selection (the kernel's
// block and the host twin each pass their own).
template <typename Select>
S2D_HOST_DEVICE Cut find_cut(int64_t k, int64_t V, float top_p, Select select) {
  TokenSet set{true, keep_all()};
  if (k < V) set = TokenSet{false, select(set, Goal{true, static_cast<double>(k), 0.0f})};
  return top_p < 1.0f ? select(set, Goal{false, 0.0, top_p}) : set.floor;
}

#ifndef __CUDACC__
// The four rounds of one selection over a row [V] on the host, one token at a time: the kernel's
// twin (cut_sampling.cpp), and the host sampler's nucleus of a flat row (sampling_nucleus.cpp).
inline Cut select_on_host(const float* p, int64_t V, const TokenSet& set, const Goal& goal) {
  Selection sel = start_selection();
  uint32_t count[kBuckets];
  uint64_t mass[kBuckets];
  for (int shift = 24; shift >= 0; shift -= 8) {
    std::fill(count, count + kBuckets, 0u);
    std::fill(mass, mass + kBuckets, uint64_t{0});
    for (int64_t i = 0; i < V; ++i) {
      const uint32_t key = key_of(p[i]);
      if (!counted(key, set) || !under_prefix(key, sel.prefix, shift)) continue;
      const int b = bucket_of(key, shift);
      ++count[b];
      mass[b] += goal.by_count ? 1 : mass_of(p[i]);
    }
    finish_round(count, mass, shift, set, goal, sel);
  }
  return sel.cut;
}
#endif

}  // namespace s2d::cut_sampling
