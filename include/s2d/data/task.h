// Task records: the input of every stage (schema v1, docs/formats.md).
//   {"id": str, "input": str, "task": str, "answer"?: str, "meta"?: object, ...}
// Fields this struct does not name (judge fields such as "question", "response_a", or
// "unbiased_input") are kept verbatim in `extra`, so tools never drop what users wrote.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace s2d {

struct Task {
  std::string id;
  std::string input;
  std::string task;
  std::optional<std::string> answer;
  nlohmann::json meta = nlohmann::json::object();
  nlohmann::json extra = nlohmann::json::object();
  std::string file;  // where read_tasks found it (for error messages); not written out
  int64_t line = 0;
};

// Validates one JSON object; errors name `file`, `line` and the field at fault.
Task task_from_json(const nlohmann::json& obj, const std::string& file, int64_t line);
nlohmann::json task_to_json(const Task& t);

// Reads and validates a task file: every line valid, ids unique, at least one task.
std::vector<Task> read_tasks(const std::string& path);
// Writes all tasks at once, atomically.
void write_tasks(const std::string& path, const std::vector<Task>& tasks);

}  // namespace s2d
