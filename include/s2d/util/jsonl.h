// JSON Lines I/O.
//
// Reader: yields (line number, parsed object); a malformed line is an InputError naming the file
// and line. Blank lines are skipped. A final line without '\n' is accepted when reading inputs
// (a hand-written file often lacks it); resume logic (resume.h) treats it as torn instead.
//
// Writer: appends one whole line per record with a single write(2) on an O_APPEND descriptor,
// then flushes, so a crash leaves at most one torn last line, never a half-interleaved one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace s2d {

// Longest line a reader accepts: far beyond any real record, small enough to hold in memory.
inline constexpr size_t kMaxJsonlLineBytes = size_t{64} << 20;

// Calls `fn(line_number, object)` for every non-blank line. Throws InputError on a missing file,
// a path that is not a regular file, an unreadable file, a malformed or too long line, and a
// field of the wrong type read inside `fn` (nlohmann's type errors, named by file and line).
// Returns the number of records.
int64_t read_jsonl(const std::string& path, const std::function<void(int64_t line, const nlohmann::json& obj)>& fn);

// Reads every record; `require_nonempty` turns an empty file into an InputError.
std::vector<nlohmann::json> read_jsonl_all(const std::string& path, bool require_nonempty = true);

// obj[field] as a string; an InputError naming file, line and field when it is missing or not a
// string.
const std::string& json_string_field(const nlohmann::json& obj, const char* field, const std::string& file,
                                     int64_t line);

class JsonlWriter {
 public:
  // Opens `path` for appending, creating it (and nothing else) if missing. With `exclusive`, takes
  // an flock(2) so that a second s2d writing the same file fails at once instead of interleaving
  // lines (the lock dies with the process, so a killed run never leaves it stale).
  explicit JsonlWriter(const std::string& path, bool exclusive = false);
  ~JsonlWriter();
  JsonlWriter(const JsonlWriter&) = delete;
  JsonlWriter& operator=(const JsonlWriter&) = delete;

  void write(const nlohmann::json& obj);
  // fsync(2): call at checkpoints, not per line (it costs milliseconds).
  void sync();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace s2d
