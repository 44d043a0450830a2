#include "s2d/data/task.h"

#include <unordered_map>

#include "s2d/util/atomic_file.h"
#include "s2d/util/error.h"
#include "s2d/util/jsonl.h"

namespace s2d {

Task task_from_json(const nlohmann::json& obj, const std::string& file, int64_t line) {
  Task t;
  t.id = json_string_field(obj, "id", file, line);
  if (t.id.empty()) throw_input("empty id", {.file = file, .line = line, .field = "id"});
  t.input = json_string_field(obj, "input", file, line);
  t.task = json_string_field(obj, "task", file, line);
  if (auto it = obj.find("answer"); it != obj.end() && !it->is_null()) {
    t.answer = json_string_field(obj, "answer", file, line);
  }
  if (auto it = obj.find("meta"); it != obj.end()) {
    if (!it->is_object()) {
      throw_input("wrong type", {.file = file,
                                 .line = line,
                                 .field = "meta",
                                 .expected = "an object",
                                 .found = std::string(it->type_name())});
    }
    t.meta = *it;
  }
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    const auto& k = it.key();
    if (k != "id" && k != "input" && k != "task" && k != "answer" && k != "meta") t.extra[k] = it.value();
  }
  return t;
}

nlohmann::json task_to_json(const Task& t) {
  nlohmann::json j = {{"id", t.id}, {"input", t.input}, {"task", t.task}};
  if (t.answer) j["answer"] = *t.answer;
  if (!t.meta.empty()) j["meta"] = t.meta;
  for (auto it = t.extra.begin(); it != t.extra.end(); ++it) j[it.key()] = it.value();
  return j;
}

std::vector<Task> read_tasks(const std::string& path) {
  std::vector<Task> tasks;
  std::unordered_map<std::string, int64_t> seen;  // id -> line
  read_jsonl(path, [&](int64_t line, const nlohmann::json& obj) {
    Task t = task_from_json(obj, path, line);
    t.file = path;
    t.line = line;
    auto [it, inserted] = seen.emplace(t.id, line);
    if (!inserted) {
      throw_input("duplicate id", {.file = path,
                                   .line = line,
                                   .field = "id",
                                   .expected = "ids unique within a file",
                                   .found = "'" + t.id + "' again (first on line " + std::to_string(it->second) + ")"});
    }
    tasks.push_back(std::move(t));
  });
  if (tasks.empty()) {
    throw_input("empty file", {.file = path, .expected = "at least one task", .found = "none"});
  }
  return tasks;
}

void write_tasks(const std::string& path, const std::vector<Task>& tasks) {
  std::string out;
  for (const auto& t : tasks) out += task_to_json(t).dump() + "\n";
  write_file_atomic(path, out);
}

}  // namespace s2d
