// The safetensors reader: the 8-byte length, the JSON header and every entry's dtype, shape and
// offsets, over a file of the fuzzer's bytes. Also the sharded index's weight_map.
#include <filesystem>

#include "fuzz_util.h"
#include "s2d/model/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = s2d::fuzz::write_input(data, size);
  s2d::fuzz::expect_clean([&] {
    s2d::SafetensorsFile f(path);
    for (const auto& [name, t] : f.tensors()) {
      volatile uint8_t sink = t.nbytes > 0 ? t.data[t.nbytes - 1] : 0;  // the view must lie inside the map
      (void)sink;
    }
  });
  // The same bytes as a model directory's index.
  static const std::string dir = path + ".dir";
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(path, dir + "/model.safetensors.index.json",
                             std::filesystem::copy_options::overwrite_existing);
  s2d::fuzz::expect_clean([&] { (void)s2d::find_safetensors(dir); });
  return 0;
}
