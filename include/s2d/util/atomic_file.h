// Atomic writes: readers see the old content or the new, never a half-written file or folder.
// Files are written to a sibling temp path, fsync'd, then rename(2)d over the target.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace s2d {

// Writes `content` to `path` atomically. An existing `path` that is not a regular file (a device,
// a FIFO, a directory) is an InputError: the rename would replace it.
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

// Reads a whole file; InputError naming the path when it is missing, unreadable, not a regular
// file (a FIFO would block, a device never end) or larger than `max_bytes`.
std::string read_file(const std::string& path, size_t max_bytes = size_t{256} << 20);

// InputError unless `path` exists and is a regular file (or a link to one). Opens nothing, so a
// FIFO cannot block it. Returns the file's size.
size_t require_regular_file(const std::string& path);

// Checks an output before anything is written, InputError naming `flag` when `out` exists and is
// not a regular file, or is the same file (by device and inode, so links count) as one of `inputs`.
void check_output_file(const std::string& out, const std::vector<std::string>& inputs,
                       const std::string& flag = "--out");

// The same for an output directory, which a run may replace whole: InputError when `dir` exists
// and is not a directory, or when one of `inputs` is `dir` itself or lies inside it.
void check_output_dir(const std::string& dir, const std::vector<std::string>& inputs,
                      const std::string& flag = "--out");

}  // namespace s2d
