#include "s2d/util/jsonl.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <vector>

#include "s2d/util/atomic_file.h"
#include "s2d/util/error.h"
#include "s2d/util/json.h"

namespace s2d {

namespace {

// Lines of a file through a 1 MiB buffer, each at most `max_line` bytes, so that a file with no
// newline cannot make the reader allocate without bound.
class LineReader {
 public:
  LineReader(const std::string& path, size_t max_line) : path_(path), max_line_(max_line), buf_(size_t{1} << 20) {
    f_ = std::fopen(path.c_str(), "rb");
    if (f_ == nullptr) throw_input(std::string("cannot open: ") + std::strerror(errno), {.file = path});
  }
  ~LineReader() { std::fclose(f_); }
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // The next line without its '\n'; false at the end of the file.
  bool next(std::string& line, int64_t lineno) {
    line.clear();
    for (;;) {
      if (pos_ == len_) {
        len_ = std::fread(buf_.data(), 1, buf_.size(), f_);
        pos_ = 0;
        if (len_ == 0) {
          if (std::ferror(f_)) throw_input("read failed", {.file = path_, .line = lineno});
          return !line.empty();
        }
      }
      const char* start = buf_.data() + pos_;
      const auto* nl = static_cast<const char*>(std::memchr(start, '\n', len_ - pos_));
      const size_t n = nl ? static_cast<size_t>(nl - start) : len_ - pos_;
      if (line.size() + n > max_line_) {
        throw_input("line too long", {.file = path_,
                                      .line = lineno,
                                      .expected = "at most " + std::to_string(max_line_) + " bytes per line",
                                      .found = "more"});
      }
      line.append(start, n);
      pos_ += n;
      if (nl) {
        ++pos_;
        return true;
      }
    }
  }

 private:
  std::string path_;
  size_t max_line_;
  std::vector<char> buf_;
  size_t pos_ = 0, len_ = 0;
  FILE* f_ = nullptr;
};

}  // namespace

int64_t read_jsonl(const std::string& path, const std::function<void(int64_t, const nlohmann::json&)>& fn) {
  require_regular_file(path);
  LineReader in(path, kMaxJsonlLineBytes);
  std::string line;
  int64_t lineno = 0, count = 0;
  while (in.next(line, lineno + 1)) {
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const ErrorContext where{.file = path, .line = lineno};
    const nlohmann::json obj = parse_json(line, where);
    if (!obj.is_object()) {
      throw_input("not a JSON object",
                  {.file = path, .line = lineno, .expected = "{...}", .found = std::string(obj.type_name())});
    }
    with_json_context(where, [&] { fn(lineno, obj); });
    ++count;
  }
  return count;
}

std::vector<nlohmann::json> read_jsonl_all(const std::string& path, bool require_nonempty) {
  std::vector<nlohmann::json> out;
  read_jsonl(path, [&](int64_t, const nlohmann::json& obj) { out.push_back(obj); });
  if (require_nonempty && out.empty()) {
    throw_input("empty file", {.file = path, .expected = "at least one JSON line", .found = "none"});
  }
  return out;
}

const std::string& json_string_field(const nlohmann::json& obj, const char* field, const std::string& file,
                                     int64_t line) {
  auto it = obj.find(field);
  if (it == obj.end()) {
    throw_input("missing field",
                {.file = file, .line = line, .field = field, .expected = "a string", .found = "nothing"});
  }
  if (!it->is_string()) {
    throw_input(
        "wrong type",
        {.file = file, .line = line, .field = field, .expected = "a string", .found = std::string(it->type_name())});
  }
  return it->get_ref<const std::string&>();
}

JsonlWriter::JsonlWriter(const std::string& path, bool exclusive) : path_(path) {
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) throw_runtime(std::string("cannot open for append: ") + std::strerror(errno), {.file = path});
  if (exclusive && ::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd_);
    fd_ = -1;
    throw_input("another process is writing this file", {.file = path, .hint = "wait for it, or choose another --out"});
  }
}

JsonlWriter::~JsonlWriter() {
  if (fd_ >= 0) ::close(fd_);
}

void JsonlWriter::write(const nlohmann::json& obj) {
  // One write(2) per record: the line and its '\n' land together or (on a crash) torn at the end.
  std::string line = obj.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line.push_back('\n');
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_runtime(std::string("write failed: ") + std::strerror(errno), {.file = path_});
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
}

void JsonlWriter::sync() {
  if (::fsync(fd_) != 0) throw_runtime(std::string("fsync failed: ") + std::strerror(errno), {.file = path_});
}

}  // namespace s2d
