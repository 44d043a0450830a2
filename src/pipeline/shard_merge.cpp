#include "s2d/pipeline/shard_merge.h"

#include <map>
#include <nlohmann/json.hpp>

#include "s2d/pipeline/generate.h"
#include "s2d/util/atomic_file.h"
#include "s2d/util/error.h"
#include "s2d/util/jsonl.h"

namespace s2d {

namespace {
// What must agree between two copies of one record: everything but wall-clock timings.
nlohmann::json content_of(nlohmann::json r) {
  r.erase("seconds");
  return r;
}
}  // namespace

ShardMergeSummary merge_shards(const std::vector<std::string>& inputs, const std::string& out_path) {
  if (inputs.empty()) throw_input("nothing to merge", {.field = "inputs", .expected = "one or more sample files"});
  check_output_file(out_path, inputs);
  ShardMergeSummary sum;
  std::map<std::string, std::string> where;  // key -> "file:line" of its first copy
  std::map<std::string, nlohmann::json> first;
  std::string out;
  for (const auto& path : inputs) {
    ++sum.files;
    read_jsonl(path, [&](int64_t line, const nlohmann::json& r) {
      if (!r.is_object() || !r.contains("id") || !r.contains("sample"))
        throw_input("not a sample record",
                    {.file = path, .line = line, .expected = "an object with id and sample (s2d generate output)"});
      const std::string key = record_key(r);
      auto [it, fresh] = where.emplace(key, path + ":" + std::to_string(line));
      if (!fresh) {
        if (content_of(r) != first[key])
          throw_input("the same sample differs between two files",
                      {.file = path,
                       .line = line,
                       .field = key,
                       .hint = "first seen at " + it->second + "; were both made with the same flags and model?"});
        ++sum.duplicates;
        return;
      }
      first[key] = content_of(r);
      out += r.dump() + "\n";
      ++sum.records;
    });
  }
  write_file_atomic(out_path, out);
  return sum;
}

}  // namespace s2d
