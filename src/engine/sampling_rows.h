// The host sampler's row work, shared by sampling.cpp (the entry points), sampling_nucleus.cpp
// (which tokens a row may draw) and sampling_race.cpp (which one it draws). Plain C++ over fp32
// rows on the host: a row's result depends on the row and its generator alone, on whatever thread.
#pragma once

#include <ATen/core/Generator.h>

#include <cstdint>
#include <vector>

namespace s2d {

// The tokens a row may draw and their probabilities: each one's e over the sum of theirs, in fp32.
struct Allowed {
  bool whole_row = false;    // every token (those of e 0 have probability 0); else:
  std::vector<int64_t> ids;  // the nucleus, in token order
  std::vector<float> probs;  // theirs
  double kept = 0;           // the allowed tokens' sum of e
  float prob(const float* e, int64_t token) const { return static_cast<float>(e[token] / kept); }
};

// The mass of a row's e [V], in double: eight partial sums, lane k over tokens k, k + 8, ... in
// token order, then added in pairs: ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)). Fixed, so
// the result depends on the row alone; eight chains of adds instead of one.
double row_mass(const float* e, int64_t V);

// A row's allowed tokens. e: [V] exp(x - max x) of the logits over the temperature, 0 where top-k
// cut. Without top-p (top_p >= 1) the whole row; with it the nucleus as the CUDA selection kernel
// defines it (cut_sampling_rules.h): the tokens ranked by descending e, ties by id, up to the first
// whose mass before it already reaches top_p of the row's, masses being the integers e * 2^40
// (truncated), so that sums are exact in any order; the first always stays. The probabilities:
// each kept e over their sum, in double in token order.
//
// The nucleus without a sort of the row: e is binned by binary exponent (one pass, each bin's mass
// summed in double), and the bins from the top that reach top_p hold it. A trained model's
// 49,152-token row at temperature 0.7 has a few dozen tokens there: they are sorted and walked,
// the row's integer mass taken from the double one within its error (exactly, in one more pass,
// only where a decision falls inside that). A flat row (a random model's, a high temperature's)
// can have most of the row there: past an eighth of it, the kernel's selection finds the cut in
// five passes instead of a sort. Plain C++ over the row: the result depends on the row alone, on
// whatever thread runs it.
Allowed allowed_tokens(const float* e, int64_t V, double top_p);

// The token a row draws: argmax over its allowed tokens of prob / q in fp32, q being the Exp(1)
// draw that `exponential_(1.0, gen)` over the whole V-token row would make at the token (one
// random64() per token, in token order), the first of equals: what
// at::multinomial(distribution, 1, false, gen) draws, leaving gen where it does. The generator
// steps over the whole row, but the logarithm, most of a draw's cost, is taken only where the
// token could still win: on the CPU q = -log1p(-u) >= u for the draw's uniform u, so a token whose
// prob / u is below the best so far (by more than the roundings to fp32) cannot win.
int64_t race_winner(at::Generator& gen, int64_t V, const Allowed& a, const float* e);

}  // namespace s2d
