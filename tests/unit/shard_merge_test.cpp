// Scale-out: --shard i/n splits tasks the same way everywhere, and merge joins the shards'
// outputs without losing, duplicating or silently mixing records.
#include "s2d/pipeline/shard_merge.h"

#include <gtest/gtest.h>

#include "s2d/pipeline/generate.h"
#include "s2d/util/error.h"
#include "s2d/util/jsonl.h"
#include "test_util.h"

namespace s2d {
using namespace s2d::testing;

TEST(Shard, EveryTaskInExactlyOneShardAndRoughlyEven) {
  std::vector<int> per(4, 0);
  for (int t = 0; t < 4000; ++t) ++per.at(shard_of("task-" + std::to_string(t), 4));
  for (int c : per) {
    EXPECT_GT(c, 900);
    EXPECT_LT(c, 1100);
  }
  EXPECT_EQ(shard_of("x", 1), 0);
  EXPECT_EQ(parse_shard("3/8"), std::make_pair(3, 8));
  for (const char* bad : {"8/8", "-1/2", "1", "1/0", "a/b", "1/2x"})
    EXPECT_S2D_ERROR(parse_shard(bad), ErrorKind::Input, "--shard", bad);
}

TEST(Merge, JoinsShardsKeepsOneCopyAndRefusesConflicts) {
  const auto dir = fresh_dir("m");
  auto rec = [](const std::string& id, int sample, const std::string& ans, double secs) {
    return nlohmann::json{{"id", id}, {"sample", sample}, {"answer", ans}, {"seconds", secs}}.dump() + "\n";
  };
  write_text(dir + "/a.jsonl", rec("t1", 0, "x", 1.0) + rec("t1", 1, "y", 1.0));
  write_text(dir + "/b.jsonl", rec("t2", 0, "z", 2.0) + rec("t1", 1, "y", 9.0));  // same sample, other timing
  auto s = merge_shards({dir + "/a.jsonl", dir + "/b.jsonl"}, dir + "/out.jsonl");
  EXPECT_EQ(s.records, 3);
  EXPECT_EQ(s.duplicates, 1);
  EXPECT_EQ(read_jsonl_all(dir + "/out.jsonl").size(), 3u);

  write_text(dir + "/c.jsonl", rec("t1", 0, "DIFFERENT", 1.0));
  const std::string before = read_text(dir + "/out.jsonl");
  EXPECT_S2D_ERROR(merge_shards({dir + "/a.jsonl", dir + "/c.jsonl"}, dir + "/out.jsonl"), ErrorKind::Input,
                   "c.jsonl:1", "t1#0", "a.jsonl:1");
  EXPECT_EQ(read_text(dir + "/out.jsonl"), before);  // a failed merge leaves the old output alone
  write_text(dir + "/d.jsonl", "{\"id\": \"t9\", \"sam");
  EXPECT_S2D_ERROR(merge_shards({dir + "/d.jsonl"}, dir + "/out2.jsonl"), ErrorKind::Input, "d.jsonl");
}

}  // namespace s2d
