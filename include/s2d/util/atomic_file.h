// Atomic writes: readers see the old content or the new, never a half-written file or folder.
// Files are written to a sibling temp path, fsync'd, then rename(2)d over the target.
#pragma once

#include <functional>
#include <string>

namespace s2d {

// Writes `content` to `path` atomically.
void write_file_atomic(const std::string& path, const std::string& content);

// Builds a directory atomically: `fill(tmp_dir)` writes into a fresh sibling temp directory,
// which then replaces `dir` (an existing `dir` is moved aside first and removed after).
// If `fill` throws, the temp directory is removed and `dir` is untouched.
void write_dir_atomic(const std::string& dir, const std::function<void(const std::string& tmp_dir)>& fill);

// Reads a whole file; InputError naming the path when it is missing or unreadable.
std::string read_file(const std::string& path);

}  // namespace s2d
