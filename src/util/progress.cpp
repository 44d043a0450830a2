#include "s2d/util/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace s2d {

Progress::Progress(std::string label, int64_t total, std::string unit, double interval_s)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(total),
      interval_s_(interval_s),
      tty_(::isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

Progress::~Progress() { finish(); }

std::string Progress::format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "--:--";
  auto t = static_cast<int64_t>(s + 0.5);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", (long long)(t / 3600), (long long)(t / 60 % 60),
                  (long long)(t % 60));
  else
    std::snprintf(buf, sizeof buf, "%02lld:%02lld", (long long)(t / 60), (long long)(t % 60));
  return buf;
}

std::string Progress::render(double elapsed) const {
  const double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0.0;
  std::string out = label_ + " ";
  char buf[160];
  if (total_ > 0) {
    const double frac = std::min(1.0, static_cast<double>(done_) / static_cast<double>(total_));
    if (tty_) {
      constexpr int kWidth = 24;
      int filled = static_cast<int>(frac * kWidth);
      out += "[" + std::string(filled, '#') + std::string(kWidth - filled, '.') + "] ";
    }
    const double eta = rate > 0 ? static_cast<double>(total_ - done_) / rate : NAN;
    std::snprintf(buf, sizeof buf, "%lld/%lld %s (%3.0f%%) %.1f %s/s elapsed %s ETA %s", (long long)done_,
                  (long long)total_, unit_.c_str(), frac * 100.0, rate, unit_.c_str(), format_duration(elapsed).c_str(),
                  format_duration(eta).c_str());
  } else {
    std::snprintf(buf, sizeof buf, "%lld %s %.1f %s/s elapsed %s", (long long)done_, unit_.c_str(), rate, unit_.c_str(),
                  format_duration(elapsed).c_str());
  }
  out += buf;
  if (!extra_.empty()) out += " | " + extra_;
  return out;
}

void Progress::update(int64_t done) {
  done_ = done;
  auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_draw_).count();
  // TTY: redraw up to 10x/s. Plain: one line per interval, so CI logs do not explode.
  if (since >= (tty_ ? 0.1 : interval_s_)) draw(false);
}

void Progress::draw(bool final) {
  auto now = std::chrono::steady_clock::now();
  last_draw_ = now;
  const std::string line = render(std::chrono::duration<double>(now - start_).count());
  if (tty_)
    std::fprintf(stderr, "\r\033[2K%s%s", line.c_str(), final ? "\n" : "");
  else
    std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  draw(true);
}

}  // namespace s2d
