// `s2d merge`: joins the sample files that `s2d generate --shard i/n` wrote on several machines
// into one, for `s2d filter`. Records are keyed by record_key ("id#sample[#swap]"); a record
// present in two files with the same content (timings aside) is kept once, one whose content
// differs is an InputError naming both places. The output is written atomically.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace s2d {

struct ShardMergeSummary {
  int64_t files = 0, records = 0, duplicates = 0;
};

ShardMergeSummary merge_shards(const std::vector<std::string>& inputs, const std::string& out_path);

}  // namespace s2d
