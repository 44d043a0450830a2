#include "s2d/util/atomic_file.h"

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "s2d/util/error.h"

namespace fs = std::filesystem;

namespace s2d {

namespace {
std::string temp_sibling(const std::string& path, const char* tag) {
  return path + "." + tag + "." + std::to_string(::getpid());
}

void fsync_path(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return;  // best effort: durability, not correctness
  ::fsync(fd);
  ::close(fd);
}
}  // namespace

bool remove_tree(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return errno == ENOENT;
  // Depth-first (FTW_DEPTH) so directories are empty when removed; FTW_PHYS never follows links.
  auto rm = [](const char* p, const struct stat*, int, struct FTW*) -> int { return ::remove(p) == 0 ? 0 : -1; };
  return ::nftw(path.c_str(), rm, 16, FTW_DEPTH | FTW_PHYS) == 0;
}

void write_file_atomic(const std::string& path, const std::string& content) {
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

std::string read_file(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw_input("no such file", {.file = path});
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_input(std::string("cannot open: ") + std::strerror(errno), {.file = path});
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace s2d
