#include "s2d/util/resume.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "s2d/util/error.h"
#include "s2d/util/jsonl.h"
#include "test_util.h"

namespace s2d {
using namespace s2d::testing;

TEST(Resume, MissingFileMeansNothingDone) {
  const auto st = scan_for_resume(fresh_dir("d") + "/none.jsonl");
  EXPECT_TRUE(st.done.empty());
  EXPECT_FALSE(st.dropped_torn_line);
}

TEST(Resume, TornLastLineIsDroppedAndTheFileTruncated) {
  const auto dir = fresh_dir("d");
  const auto path = dir + "/out.jsonl";
  write_text(path, "{\"id\":\"a\"}\n{\"id\":7}\n{\"id\":\"c\",\"te");  // killed mid-write
  const auto st = scan_for_resume(path);
  EXPECT_EQ(st.done, (std::set<std::string>{"a", "7"}));
  EXPECT_EQ(st.records, 2);
  EXPECT_TRUE(st.dropped_torn_line);
  EXPECT_EQ(read_text(path), "{\"id\":\"a\"}\n{\"id\":7}\n");
  // The rerun appends the redone record after the intact ones: no duplicates, no losses.
  JsonlWriter(path).write({{"id", "c"}});
  EXPECT_EQ(scan_for_resume(path).done, (std::set<std::string>{"a", "7", "c"}));
}

TEST(Resume, CorruptFinalLineWithNewlineCountsAsTorn) {
  const auto dir = fresh_dir("d");
  write_text(dir + "/o.jsonl", "{\"id\":\"a\"}\n{\"id\":\n");
  const auto st = scan_for_resume(dir + "/o.jsonl");
  EXPECT_EQ(st.records, 1);
  EXPECT_TRUE(st.dropped_torn_line);
}

TEST(Resume, CorruptMiddleLineIsRefused) {
  const auto dir = fresh_dir("d");
  write_text(dir + "/o.jsonl", "{\"id\":\"a\"}\ngarbage\n{\"id\":\"b\"}\n");
  EXPECT_S2D_ERROR(scan_for_resume(dir + "/o.jsonl"), ErrorKind::Input, "o.jsonl:2", "refusing to resume");
  EXPECT_EQ(read_text(dir + "/o.jsonl"), "{\"id\":\"a\"}\ngarbage\n{\"id\":\"b\"}\n") << "file must stay intact";
}

}  // namespace s2d
