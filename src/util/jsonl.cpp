#include "s2d/util/jsonl.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "s2d/util/error.h"

namespace s2d {

namespace {
std::string short_snippet(const std::string& line) {
  constexpr size_t kMax = 40;
  return line.size() <= kMax ? line : line.substr(0, kMax) + "...";
}
}  // namespace

int64_t read_jsonl(const std::string& path,
                   const std::function<void(int64_t, const nlohmann::json&)>& fn) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    throw_input("no such file", {.file = path, .hint = "check the path"});
  }
  if (std::filesystem::is_directory(path, ec)) {
    throw_input("is a directory, not a JSONL file", {.file = path});
  }
  std::ifstream in(path);
  if (!in) throw_input(std::string("cannot open: ") + std::strerror(errno), {.file = path});
  std::string line;
  int64_t lineno = 0, count = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json obj;
    try {
      obj = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error& e) {
      throw_input("malformed JSON",
                  {.file = path, .line = lineno, .expected = "one JSON object per line",
                   .found = "'" + short_snippet(line) + "' (" + e.what() + ")"});
    }
    if (!obj.is_object()) {
      throw_input("not a JSON object", {.file = path, .line = lineno, .expected = "{...}",
                                        .found = std::string(obj.type_name())});
    }
    fn(lineno, obj);
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

const std::string& json_string_field(const nlohmann::json& obj, const char* field, const std::string& file, int64_t line) {
  auto it = obj.find(field);
  if (it == obj.end()) {
    throw_input("missing field", {.file = file, .line = line, .field = field, .expected = "a string", .found = "nothing"});
  }
  if (!it->is_string()) {
    throw_input("wrong type", {.file = file, .line = line, .field = field, .expected = "a string",
                               .found = std::string(it->type_name())});
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
