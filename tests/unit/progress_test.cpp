#include "s2d/util/progress.h"

#include <gtest/gtest.h>

namespace s2d {

TEST(Progress, FormatsDurations) {
  EXPECT_EQ(Progress::format_duration(0), "00:00");
  EXPECT_EQ(Progress::format_duration(75), "01:15");
  EXPECT_EQ(Progress::format_duration(3725), "1:02:05");
  EXPECT_EQ(Progress::format_duration(-1), "--:--");
}

TEST(Progress, ShowsCountRateAndEta) {
  Progress p("generate", 100, "tasks", 1e9);  // interval so long it never prints here
  p.update(25);
  p.set_extra("300 tok/s");
  const std::string line = p.render(10.0);  // 25 in 10 s -> 2.5/s, 75 left -> 30 s
  EXPECT_NE(line.find("25/100 tasks"), std::string::npos) << line;
  EXPECT_NE(line.find("2.5 tasks/s"), std::string::npos) << line;
  EXPECT_NE(line.find("ETA 00:30"), std::string::npos) << line;
  EXPECT_NE(line.find("| 300 tok/s"), std::string::npos) << line;
}

TEST(Progress, UnknownTotalHasNoEta) {
  Progress p("scan", 0, "lines", 1e9);
  p.update(10);
  const std::string line = p.render(5.0);
  EXPECT_EQ(line.find("ETA"), std::string::npos) << line;
  EXPECT_NE(line.find("10 lines 2.0 lines/s"), std::string::npos) << line;
}

}  // namespace s2d
