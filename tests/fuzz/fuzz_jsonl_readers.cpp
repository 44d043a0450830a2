// The JSONL readers: tasks (read_tasks), any record (read_jsonl), and the resume scan of an
// existing output, which also truncates a torn tail.
#include "fuzz_util.h"
#include "s2d/data/task.h"
#include "s2d/util/jsonl.h"
#include "s2d/util/resume.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = s2d::fuzz::write_input(data, size);
  s2d::fuzz::expect_clean([&] { (void)s2d::read_tasks(path); });
  s2d::fuzz::expect_clean([&] {
    s2d::read_jsonl(path, [](int64_t, const nlohmann::json& r) {
      // What filter and merge read of a sample record.
      (void)r.value("sample", 0);
      (void)r.value("perturbed", false);
      (void)s2d::json_string_field(r, "id", "f", 1);
    });
  });
  s2d::fuzz::expect_clean([&] { (void)s2d::scan_for_resume(path); });
  return 0;
}
