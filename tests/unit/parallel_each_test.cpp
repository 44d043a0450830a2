// parallel_each: every job once, on several threads, and the first error back on the caller.
#include "s2d/util/parallel_each.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

namespace s2d {

TEST(ParallelEach, RunsEveryJobOnceOnUpToTheThreadsAsked) {
  for (const int threads : {1, 2, 4, 64}) {
    std::vector<std::atomic<int>> runs(1000);
    std::mutex m;
    std::set<std::thread::id> seen;
    parallel_each(1000, threads, [&](int64_t i) {
      ++runs[static_cast<size_t>(i)];
      const std::lock_guard<std::mutex> lock(m);
      seen.insert(std::this_thread::get_id());
    });
    for (const auto& r : runs) ASSERT_EQ(r.load(), 1) << threads << " threads";
    EXPECT_LE(seen.size(), static_cast<size_t>(threads));
  }
  int calls = 0;
  parallel_each(0, 4, [&](int64_t) { ++calls; });
  EXPECT_EQ(calls, 0);
}

TEST(ParallelEach, AJobsErrorReachesTheCallerAndLaterJobsDoNotStart) {
  std::atomic<int64_t> started{0};
  EXPECT_THROW(parallel_each(100000, 2,
                             [&](int64_t i) {
                               ++started;
                               if (i == 10) throw std::runtime_error("job 10");
                             }),
               std::runtime_error);
  EXPECT_LT(started.load(), 100000);
}

}  // namespace s2d
