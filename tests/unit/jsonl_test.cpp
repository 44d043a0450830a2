#include "s2d/util/jsonl.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "s2d/util/atomic_file.h"
#include "s2d/util/error.h"
#include "test_util.h"

namespace s2d {
using namespace s2d::testing;

TEST(Jsonl, ReadsRecordsWithLineNumbersAndSkipsBlankLines) {
  const auto dir = fresh_dir("d");
  write_text(dir + "/a.jsonl", "{\"id\":\"x\"}\n\n{\"id\":\"y\"}");  // no final newline: accepted
  std::vector<int64_t> lines;
  const auto n = read_jsonl(dir + "/a.jsonl", [&](int64_t line, const nlohmann::json&) { lines.push_back(line); });
  EXPECT_EQ(n, 2);
  EXPECT_EQ(lines, (std::vector<int64_t>{1, 3}));
}

TEST(Jsonl, MalformedLineNamesFileAndLine) {
  const auto dir = fresh_dir("d");
  write_text(dir + "/a.jsonl", "{\"id\":1}\n{\"id\": oops}\n");
  EXPECT_S2D_ERROR(read_jsonl_all(dir + "/a.jsonl"), ErrorKind::Input, "a.jsonl:2", "malformed JSON");
}

TEST(Jsonl, NonObjectLineIsRejected) {
  const auto dir = fresh_dir("d");
  write_text(dir + "/a.jsonl", "[1,2]\n");
  EXPECT_S2D_ERROR(read_jsonl_all(dir + "/a.jsonl"), ErrorKind::Input, "a.jsonl:1", "not a JSON object");
}

TEST(Jsonl, EmptyAndMissingFilesAreInputErrors) {
  const auto dir = fresh_dir("d");
  write_text(dir + "/empty.jsonl", "");
  EXPECT_S2D_ERROR(read_jsonl_all(dir + "/empty.jsonl"), ErrorKind::Input, "empty.jsonl", "empty file");
  EXPECT_TRUE(read_jsonl_all(dir + "/empty.jsonl", /*require_nonempty=*/false).empty());
  EXPECT_S2D_ERROR(read_jsonl_all(dir + "/nope.jsonl"), ErrorKind::Input, "nope.jsonl", "no such file");
}

TEST(Jsonl, WriterAppendsWholeLines) {
  const auto dir = fresh_dir("d");
  {
    JsonlWriter w(dir + "/out.jsonl");
    w.write({{"id", "a"}});
  }
  {
    JsonlWriter w(dir + "/out.jsonl");  // reopening appends, never truncates
    w.write({{"id", "b"}, {"text", "line\nbreak"}});
    w.sync();
  }
  EXPECT_EQ(read_text(dir + "/out.jsonl"), "{\"id\":\"a\"}\n{\"id\":\"b\",\"text\":\"line\\nbreak\"}\n");
}

TEST(AtomicFile, ReplacesContentAndLeavesNoTempFiles) {
  const auto dir = fresh_dir("d");
  write_file_atomic(dir + "/f.txt", "one");
  write_file_atomic(dir + "/f.txt", "two");
  EXPECT_EQ(read_text(dir + "/f.txt"), "two");
  int files = 0;
  for (auto& e : std::filesystem::directory_iterator(dir)) (void)e, ++files;
  EXPECT_EQ(files, 1);
}

TEST(AtomicFile, FailedDirectoryFillKeepsTheOldDirectory) {
  const auto dir = fresh_dir("d");
  const auto target = dir + "/model";
  write_dir_atomic(target, [](const std::string& tmp) { write_text(tmp + "/a", "old"); });
  EXPECT_THROW(write_dir_atomic(target,
                                [](const std::string& tmp) {
                                  write_text(tmp + "/a", "half");
                                  throw std::runtime_error("killed mid-write");
                                }),
               std::runtime_error);
  EXPECT_EQ(read_text(target + "/a"), "old");
  write_dir_atomic(target, [](const std::string& tmp) { write_text(tmp + "/b", "new"); });
  EXPECT_FALSE(std::filesystem::exists(target + "/a"));
  EXPECT_EQ(read_text(target + "/b"), "new");
  int entries = 0;
  for (auto& e : std::filesystem::directory_iterator(dir)) (void)e, ++entries;
  EXPECT_EQ(entries, 1) << "temp or old directories left behind";
}

}  // namespace s2d

namespace s2d {
using namespace s2d::testing;

TEST(AtomicFile, RemoveTreeRemovesNestedDirsButNotLinkTargets) {
  const auto dir = fresh_dir("d");
  std::filesystem::create_directories(dir + "/tree/a/b");
  write_text(dir + "/tree/a/b/f", "x");
  write_text(dir + "/keep", "kept");
  std::filesystem::create_symlink(dir + "/keep", dir + "/tree/link");
  EXPECT_TRUE(remove_tree(dir + "/tree"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/tree"));
  EXPECT_EQ(read_text(dir + "/keep"), "kept");
  EXPECT_TRUE(remove_tree(dir + "/never-existed"));
}

}  // namespace s2d

namespace s2d {
using namespace s2d::testing;

TEST(Jsonl, ExclusiveWriterRefusesASecondWriter) {
  const auto dir = fresh_dir("d");
  JsonlWriter first(dir + "/o.jsonl", /*exclusive=*/true);
  EXPECT_S2D_ERROR(JsonlWriter(dir + "/o.jsonl", true), ErrorKind::Input, "o.jsonl", "another process");
}

}  // namespace s2d
