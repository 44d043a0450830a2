#include "s2d/util/resume.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "s2d/util/atomic_file.h"
#include "s2d/util/error.h"
#include "s2d/util/json.h"

namespace fs = std::filesystem;

namespace s2d {

std::string id_key(const nlohmann::json& obj) {
  auto it = obj.find("id");
  if (it == obj.end()) return {};
  return it->is_string() ? it->get<std::string>() : it->dump();
}

ResumeState scan_for_resume(const std::string& path, const RecordKey& key) {
  ResumeState st;
  std::error_code ec;
  if (!fs::exists(path, ec)) return st;
  require_regular_file(path);  // a device or FIFO as --out would be read without end
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_runtime("cannot open output for resume", {.file = path});
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();

  size_t pos = 0, good_end = 0;
  int64_t lineno = 0;
  while (pos < content.size()) {
    size_t nl = content.find('\n', pos);
    ++lineno;
    if (nl == std::string::npos) {  // no newline: the writer was killed mid-line
      st.dropped_torn_line = true;
      break;
    }
    std::string line = content.substr(pos, nl - pos);
    if (line.find_first_not_of(" \t\r") != std::string::npos) {
      const nlohmann::json obj = parse_json_or_discarded(line);
      if (obj.is_discarded() || !obj.is_object()) {
        if (nl + 1 == content.size()) {  // a corrupt final line is treated as torn
          st.dropped_torn_line = true;
          break;
        }
        throw_input("malformed JSON in an existing output; refusing to resume over it",
                    {.file = path, .line = lineno, .hint = "move the file away or fix that line"});
      }
      st.done.insert(with_json_context({.file = path, .line = lineno}, [&] { return key(obj); }));
      ++st.records;
    }
    pos = nl + 1;
    good_end = pos;
  }
  if (st.dropped_torn_line) fs::resize_file(path, good_end);
  return st;
}

}  // namespace s2d
