// Mt19937Words reads and skips at::mt19937's stream: the words of n engine calls, and the engine
// where n calls leave it, for reads and skips of every size around the 624-word twist, from a
// freshly seeded engine (its first call twists) and from one part-way through a block.
#include <ATen/core/MT19937RNGEngine.h>
#include <gtest/gtest.h>

#include <vector>

#include "s2d/engine/mt19937_words.h"

using namespace s2d;

TEST(Mt19937Words, ReadsAndSkipsAsTheEnginesCallsDo) {
  for (const int already_called : {0, 1, 300, 623, 624, 625, 1000}) {
    at::mt19937 reference(20261207);
    for (int i = 0; i < already_called; ++i) reference();
    Mt19937Words words(reference);
    // Reads and skips that end on, just before and just after twists, and span several.
    const std::vector<std::pair<bool, size_t>> steps = {{true, 1},    {true, 3},     {false, 5}, {true, 615},
                                                        {true, 1},    {false, 623},  {true, 2},  {false, 1},
                                                        {true, 1250}, {false, 1872}, {true, 8},  {true, 624}};
    for (size_t s = 0; s < steps.size(); ++s) {
      const auto [read, n] = steps[s];
      SCOPED_TRACE("after " + std::to_string(already_called) + " calls, step " + std::to_string(s));
      if (!read) {
        words.skip(n);
        for (size_t i = 0; i < n; ++i) reference();
        continue;
      }
      std::vector<uint32_t> got(n);
      words.read(got.data(), n);
      for (size_t i = 0; i < n; ++i) ASSERT_EQ(got[i], reference()) << "word " << i << " of " << n;
    }
    at::mt19937 left = words.engine();
    for (int i = 0; i < 1300; ++i) ASSERT_EQ(left(), reference()) << "the engine it leaves, call " << i;
  }
}
