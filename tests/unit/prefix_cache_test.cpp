// The prefix cache: which entry a prompt finds, what an insert keeps, and what it drops to stay
// within its budget.
#include "s2d/engine/prefix_cache.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

namespace s2d {
namespace {

// Two layers of keys and values for `tokens`: [2 heads, n, 4 dims] fp32, 32 bytes a token per
// tensor, so 128 bytes a token in all. Column j of layer l holds tokens[j] + 100 * l.
struct Kv {
  std::vector<at::Tensor> k, v;
};
Kv kv_of(const std::vector<int>& tokens) {
  Kv out;
  const at::Tensor ids = at::tensor(std::vector<int64_t>(tokens.begin(), tokens.end())).to(at::kFloat);
  for (int l = 0; l < 2; ++l) {
    out.k.push_back((ids + 100 * l).view({1, -1, 1}).expand({2, -1, 4}));  // a view, as the engine passes
    out.v.push_back(-out.k.back());
  }
  return out;
}
constexpr uint64_t kBytesPerToken = 128;

void insert(PrefixCache& c, const std::vector<int>& tokens) {
  const Kv kv = kv_of(tokens);
  c.insert(tokens, kv.k, kv.v);
}

TEST(PrefixCache, APromptFindsTheEntryItStartsWithMostAndItsKeysAndValues) {
  PrefixCache c(1 << 20);
  EXPECT_EQ(c.longest({1, 2, 3}, 2).entry, nullptr);
  insert(c, {1, 2, 3, 4});
  insert(c, {1, 2, 7, 8, 9});
  insert(c, {5, 6});
  const PrefixCache::Match m = c.longest({1, 2, 7, 8, 10, 11}, 5);
  ASSERT_NE(m.entry, nullptr);
  EXPECT_EQ(m.tokens, 4);
  EXPECT_EQ(m.entry->tokens, (std::vector<int>{1, 2, 7, 8, 9}));
  ASSERT_EQ(m.entry->k.size(), 2u);
  EXPECT_TRUE(m.entry->k[1].equal(kv_of({1, 2, 7, 8, 9}).k[1]));
  EXPECT_TRUE(m.entry->v[0].equal(kv_of({1, 2, 7, 8, 9}).v[0]));
  EXPECT_TRUE(m.entry->k[0].is_contiguous()) << "entries hold copies, not the caller's views";
  EXPECT_EQ(c.longest({1, 2, 3, 4}, 3).tokens, 3) << "at most `most` tokens";
  EXPECT_EQ(c.longest({9, 1, 2}, 2).entry, nullptr);
  EXPECT_EQ(c.bytes(), (4 + 5 + 2) * kBytesPerToken);
}

TEST(PrefixCache, APromptHeldAlreadyIsNotKeptTwiceAndOneThatExtendsAnEntryReplacesIt) {
  PrefixCache c(1 << 20);
  insert(c, {1, 2, 3, 4});
  insert(c, {1, 2, 3});  // all of it in the first entry
  EXPECT_EQ(c.size(), 1u);
  insert(c, {1, 2, 3, 4, 5, 6});  // extends it
  EXPECT_EQ(c.size(), 1u);
  EXPECT_EQ(c.bytes(), 6 * kBytesPerToken);
  EXPECT_EQ(c.longest({1, 2, 3, 4, 5, 6, 7}, 6).tokens, 6);
}

TEST(PrefixCache, TheLeastRecentlyUsedEntriesMakeRoomAndAPromptOverTheBudgetIsNotKept) {
  PrefixCache c(10 * kBytesPerToken);
  insert(c, {1, 1, 1, 1});
  insert(c, {2, 2, 2, 2});
  EXPECT_EQ(c.longest({1, 1, 5}, 2).tokens, 2);  // {1...} is now the most recently used
  insert(c, {3, 3, 3, 3});                       // 12 tokens would pass 10: {2...} goes
  EXPECT_EQ(c.size(), 2u);
  EXPECT_EQ(c.bytes(), 8 * kBytesPerToken);
  EXPECT_EQ(c.longest({2, 2, 2}, 2).entry, nullptr);
  EXPECT_EQ(c.longest({1, 1, 1}, 2).tokens, 2);
  EXPECT_EQ(c.longest({3, 3, 3}, 2).tokens, 2);
  insert(c, std::vector<int>(11, 4));  // over the whole budget: kept nowhere, drops nothing
  EXPECT_EQ(c.size(), 2u);
  EXPECT_EQ(c.longest(std::vector<int>(11, 4), 10).entry, nullptr);
  // Nor does one that extends an entry (a chat grown past the budget): the entry stays.
  std::vector<int> longer(11, 3);
  insert(c, longer);
  EXPECT_EQ(c.size(), 2u);
  EXPECT_EQ(c.bytes(), 8 * kBytesPerToken);
  EXPECT_EQ(c.longest(longer, 10).tokens, 4);
}

TEST(PrefixCache, EntriesStayWithinTheirCount) {
  PrefixCache c(uint64_t{1} << 40);
  for (int i = 0; i < static_cast<int>(PrefixCache::kMaxEntries) + 10; ++i) insert(c, {i, i + 1});
  EXPECT_EQ(c.size(), PrefixCache::kMaxEntries);
  EXPECT_EQ(c.longest({0, 1}, 1).entry, nullptr) << "the oldest went first";
  EXPECT_NE(c.longest({4100, 4101}, 1).entry, nullptr);
}

}  // namespace
}  // namespace s2d
