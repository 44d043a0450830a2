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

// Removes a file or a directory tree; a missing path is fine. Returns false if something stayed.
// Use this, not std::filesystem::remove_all: libtorch's CUDA wheels export their own, older-ABI
// copy of remove_all, which the dynamic linker may bind to instead, and it crashes (seen on
// Ubuntu 24.04 + g++ 13 + torch 2.11 cu130). nftw(3) sidesteps the clash.
bool remove_tree(const std::string& path);

// Reads a whole file; InputError naming the path when it is missing or unreadable.
std::string read_file(const std::string& path);

}  // namespace s2d
