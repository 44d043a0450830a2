#include "s2d/util/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "s2d/util/error.h"

namespace s2d::log {

namespace {
std::shared_ptr<spdlog::logger> logger() {
  static auto l = [] {
    auto lg = spdlog::stderr_color_mt("s2d");
    lg->set_pattern("[%H:%M:%S] [%^%l%$] %v");
    lg->set_level(spdlog::level::info);
    return lg;
  }();
  return l;
}

spdlog::level::level_enum to_spd(Level l) {
  return static_cast<spdlog::level::level_enum>(static_cast<int>(l) == 5 ? 6 : static_cast<int>(l));
}
}  // namespace

void setup(const std::string& level) {
  const auto lvl = spdlog::level::from_str(level);
  // from_str maps unknown names to "off"; accept "off" only when asked for.
  if (lvl == spdlog::level::off && level != "off") {
    throw_input("unknown log level",
                {.field = "--log-level", .expected = "trace|debug|info|warn|error|off", .found = level});
  }
  logger()->set_level(lvl);
}

bool enabled(Level level) { return logger()->should_log(to_spd(level)); }

void write(Level level, const std::string& message) { logger()->log(to_spd(level), "{}", message); }

}  // namespace s2d::log
