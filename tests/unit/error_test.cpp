#include "s2d/util/error.h"

#include <gtest/gtest.h>

namespace s2d {

TEST(Error, FormatsEveryPartOfTheContext) {
  Error e(
      ErrorKind::Input, "wrong type",
      {.file = "t.jsonl", .line = 3, .field = "input", .expected = "a string", .found = "number", .hint = "fix it"});
  EXPECT_STREQ(e.what(), "t.jsonl:3: 'input': wrong type: expected a string, found number (hint: fix it)");
  EXPECT_EQ(e.exit_code(), 2);
}

TEST(Error, RuntimeErrorsExitWithOne) {
  Error e(ErrorKind::Runtime, "disk full", {.file = "out.jsonl"});
  EXPECT_STREQ(e.what(), "out.jsonl: disk full");
  EXPECT_EQ(e.exit_code(), 1);
}

TEST(Error, OmitsAbsentParts) { EXPECT_EQ(format_error("boom", {}), "boom"); }

}  // namespace s2d
