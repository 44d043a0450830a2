// Answer extraction for every answer kind, and the BSM criteria/score and USC choice parsers.
#include "fuzz_util.h"
#include "s2d/methods/answers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  for (const char* task : {"last-letter", "coin-flip", "arithmetic", "qa", "judge", "gsm8k", "other"}) {
    const auto kind = s2d::answer_kind_for_task(task);
    s2d::fuzz::expect_clean([&] {
      if (auto a = s2d::extract_answer(text, kind)) (void)s2d::canonical_final(*a, kind);
    });
  }
  s2d::fuzz::expect_clean([&] { (void)s2d::parse_criteria(text); });
  s2d::fuzz::expect_clean([&] { (void)s2d::parse_pair_scores(text); });
  for (int n : {1, 3, 8}) s2d::fuzz::expect_clean([&] { (void)s2d::parse_usc_choice(text, n); });
  return 0;
}
