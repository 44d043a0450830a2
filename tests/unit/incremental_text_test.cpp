// IncrementalText on a sentencepiece tokenizer.model (the conformance suite covers the four
// tokenizer.json kinds): at every step its text is the whole decode of the ids so far, or a prefix
// of it while that ends inside a character, and it never falls back to decoding every id on text.
#include <gtest/gtest.h>

#include "s2d/text/incremental_text.h"
#include "sp_fixture.h"

namespace s2d {
namespace {

using testing::tiny_tokenizer;

void expect_tracks_whole_decode(const std::vector<int>& ids) {
  const auto& tok = tiny_tokenizer();
  IncrementalText inc(tok);
  std::vector<int> so_far;
  for (int id : ids) {
    inc.push(id);
    so_far.push_back(id);
    const std::string whole = tok.decode(so_far);
    ASSERT_EQ(whole.compare(0, inc.text().size(), inc.text()), 0) << "after " << so_far.size() << " ids";
    if (whole.size() < 3 || whole.compare(whole.size() - 3, 3, "\xEF\xBF\xBD") != 0) {
      ASSERT_EQ(inc.text(), whole) << "after " << so_far.size() << " ids";
    }
  }
}

TEST(IncrementalText, FollowsTheWholeDecodeOfSentencepieceIds) {
  const auto& tok = tiny_tokenizer();
  // Byte-fallback pieces for the accented letters and the euro sign: characters split over ids.
  const std::string text = "Mary John ünïcödé 42 € \"quoted\" and  two spaces, then <|im_end|> a marker";
  const auto ids = tok.encode(text);
  expect_tracks_whole_decode(ids);
  IncrementalText inc(tok);
  for (int id : ids) inc.push(id);
  EXPECT_EQ(inc.text(), tok.decode(ids));  // the text less its double space (sentencepiece normalises it)
  EXPECT_EQ(inc.full_decodes(), 0);
  // With BOS and EOS (control ids, no text) between the pieces.
  std::vector<int> with_control;
  for (size_t i = 0; i < ids.size(); ++i) {
    with_control.push_back(ids[i]);
    if (i % 3 == 0) with_control.push_back(i % 2 ? tok.bos_id() : tok.eos_id());
  }
  expect_tracks_whole_decode(with_control);
}

}  // namespace
}  // namespace s2d
