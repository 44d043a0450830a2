#include "s2d/util/atomic_file.h"

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "s2d/util/error.h"

namespace fs = std::filesystem;

namespace s2d {

namespace {
std::string temp_sibling(const std::string& path, const char* tag) {
  return path + "." + tag + "." + std::to_string(::getpid());
}

std::string file_kind(mode_t m) {
  return S_ISDIR(m)    ? "a directory"
         : S_ISFIFO(m) ? "a FIFO"
         : S_ISCHR(m)  ? "a character device"
         : S_ISBLK(m)  ? "a block device"
         : S_ISSOCK(m) ? "a socket"
         : S_ISREG(m)  ? "a regular file"
                       : "a special file";
}

void fsync_path(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return;  // best effort: durability, not correctness
  ::fsync(fd);
  ::close(fd);
}
}  // namespace

bool remove_tree(const std::string& path) {
  struct stat st{};
  if (::lstat(path.c_str(), &st) != 0) return errno == ENOENT;
  // Depth-first (FTW_DEPTH) so directories are empty when removed; FTW_PHYS never follows links.
  auto rm = [](const char* p, const struct stat*, int, struct FTW*) -> int { return ::remove(p) == 0 ? 0 : -1; };
  return ::nftw(path.c_str(), rm, 16, FTW_DEPTH | FTW_PHYS) == 0;
}

void write_file_atomic(const std::string& path, const std::string& content) {
  struct stat st{};
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    throw_input("not a regular file; refusing to replace it",
                {.file = path, .expected = "a regular file or a new path", .found = file_kind(st.st_mode)});
  }
  auto parent = fs::path(path).parent_path();
  if (!parent.empty()) fs::create_directories(parent);
  const std::string tmp = temp_sibling(path, "tmp");
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw_runtime(std::string("cannot create: ") + std::strerror(errno), {.file = tmp});
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    out.flush();
    if (!out) {
      fs::remove(tmp);
      throw_runtime("write failed (disk full?)", {.file = tmp});
    }
  }
  fsync_path(tmp, O_RDONLY);
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp);
    throw_runtime("rename failed: " + ec.message(), {.file = path});
  }
  fsync_path(parent.empty() ? "." : parent.string(), O_RDONLY | O_DIRECTORY);
}

void write_dir_atomic(const std::string& dir, const std::function<void(const std::string&)>& fill) {
  fs::path target(dir);
  if (target.has_parent_path()) fs::create_directories(target.parent_path());
  const std::string tmp = temp_sibling(target.lexically_normal().string(), "tmp");
  remove_tree(tmp);
  fs::create_directories(tmp);
  try {
    fill(tmp);
  } catch (...) {
    remove_tree(tmp);
    throw;
  }
  std::error_code ec;
  std::string old;
  if (fs::exists(target)) {
    old = temp_sibling(target.lexically_normal().string(), "old");
    remove_tree(old);
    fs::rename(target, old, ec);
    if (ec) throw_runtime("cannot move old directory aside: " + ec.message(), {.file = dir});
  }
  fs::rename(tmp, target, ec);
  if (ec) {
    if (!old.empty()) fs::rename(old, target);  // put the old one back
    throw_runtime("rename failed: " + ec.message(), {.file = dir});
  }
  if (!old.empty()) remove_tree(old);
}

size_t require_regular_file(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) {
    throw_input(errno == ENOENT ? "no such file" : std::string("cannot stat: ") + std::strerror(errno),
                {.file = path, .hint = errno == ENOENT ? "check the path" : ""});
  }
  if (!S_ISREG(st.st_mode)) {
    throw_input("not a regular file", {.file = path, .expected = "a regular file", .found = file_kind(st.st_mode)});
  }
  return static_cast<size_t>(st.st_size);
}

std::string read_file(const std::string& path, size_t max_bytes) {
  const size_t size = require_regular_file(path);
  if (size > max_bytes) {
    throw_input("file too large", {.file = path,
                                   .expected = "at most " + std::to_string(max_bytes) + " bytes",
                                   .found = std::to_string(size) + " bytes"});
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_input(std::string("cannot open: ") + std::strerror(errno), {.file = path});
  std::string out(size, '\0');
  in.read(out.data(), static_cast<std::streamsize>(size));
  out.resize(static_cast<size_t>(in.gcount()));  // a file that shrank meanwhile
  return out;
}

void check_output_dir(const std::string& dir, const std::vector<std::string>& inputs, const std::string& flag) {
  struct stat sd{};
  if (::stat(dir.c_str(), &sd) != 0) return;
  if (!S_ISDIR(sd.st_mode)) {
    throw_input("output is not a directory",
                {.file = dir, .field = flag, .expected = "a directory or a new path", .found = file_kind(sd.st_mode)});
  }
  std::error_code ec;
  const fs::path root = fs::weakly_canonical(dir, ec);
  for (const auto& in : inputs) {
    if (in.empty() || !fs::exists(in, ec)) continue;
    const fs::path p = fs::weakly_canonical(in, ec);
    // `p` is `root` or below it when `root`'s parts are a prefix of `p`'s.
    auto [r, q] = std::mismatch(root.begin(), root.end(), p.begin(), p.end());
    if (r == root.end()) {
      throw_input("an input lies inside the output directory; refusing to write over it",
                  {.file = dir,
                   .field = flag,
                   .expected = "a directory that holds none of the inputs",
                   .found = in,
                   .hint = "choose another " + flag});
    }
  }
}

void check_output_file(const std::string& out, const std::vector<std::string>& inputs, const std::string& flag) {
  struct stat so{};
  if (::stat(out.c_str(), &so) != 0) return;  // a new file cannot be one of the inputs
  if (!S_ISREG(so.st_mode)) {
    throw_input(
        "output is not a regular file",
        {.file = out, .field = flag, .expected = "a regular file or a new path", .found = file_kind(so.st_mode)});
  }
  for (const auto& in : inputs) {
    struct stat si{};
    if (in.empty() || ::stat(in.c_str(), &si) != 0) continue;
    if (si.st_dev == so.st_dev && si.st_ino == so.st_ino) {
      throw_input("output is one of the inputs; refusing to overwrite it", {.file = out,
                                                                            .field = flag,
                                                                            .expected = "a path other than " + in,
                                                                            .found = "the same file",
                                                                            .hint = "choose another " + flag});
    }
  }
}

}  // namespace s2d
