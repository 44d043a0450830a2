// config.json: parse_json then parse_model_config, and its write-back form.
#include "fuzz_util.h"
#include "s2d/model/config.h"
#include "s2d/util/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  s2d::fuzz::expect_clean([&] {
    const auto j = s2d::parse_json({reinterpret_cast<const char*>(data), size}, {.file = "config.json"});
    const s2d::ModelConfig c = s2d::parse_model_config(j, "config.json");
    (void)s2d::model_config_to_json(c).dump();
    (void)c.num_parameters();
  });
  return 0;
}
