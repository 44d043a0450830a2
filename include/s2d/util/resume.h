// Resume support for append-only JSONL outputs.
//
// A killed run leaves its output with complete lines plus, at worst, one torn last line (no
// trailing '\n', or not valid JSON). `scan_for_resume` truncates the torn tail away and returns
// the keys already done, so a rerun skips them and redoes the torn one: no duplicates, no losses.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <set>
#include <string>

namespace s2d {

struct ResumeState {
  std::set<std::string> done;  // keys of complete records
  int64_t records = 0;         // complete records kept
  bool dropped_torn_line = false;
};

// Key of a record: by default its "id" field as a string (numbers are accepted too).
using RecordKey = std::function<std::string(const nlohmann::json&)>;
std::string id_key(const nlohmann::json& obj);

// Missing file -> empty state. A malformed line in the middle (not the tail) is an InputError:
// the file was not written by us, and guessing would lose data.
ResumeState scan_for_resume(const std::string& path, const RecordKey& key = id_key);

}  // namespace s2d
