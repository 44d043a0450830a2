// The report chart: accuracy against generated tokens per answer (log scale), one mark per run.
// Runs near one another (several at 90-100%, say) would smear long labels into each other, so each
// point carries only its number, placed where it collides with nothing, and a key beside the plot
// spells the numbers out. Every text box is estimated with DejaVu Sans's advance widths (the
// sans-serif of Debian's rsvg-convert, a little wide for most others); tests/cli/chart_check.py
// measures the rendered font and checks that no two text boxes intersect.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "s2d/methods/run_role.h"
#include "s2d/report/report.h"
#include "s2d/util/strings.h"

namespace s2d {

namespace {

std::string fmt(const char* f, double v) { return format_number(f, v); }

std::string xml_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<')
      o += "&lt;";
    else if (c == '>')
      o += "&gt;";
    else if (c == '&')
      o += "&amp;";
    else if (c == '"')
      o += "&quot;";
    else
      o += c;
  }
  return o;
}

struct Box {
  double x0, y0, x1, y1;
  bool intersects(const Box& o) const { return x0 < o.x1 && o.x0 < x1 && y0 < o.y1 && o.y0 < y1; }
  bool inside(const Box& o) const { return x0 >= o.x0 && x1 <= o.x1 && y0 >= o.y0 && y1 <= o.y1; }
};

// Advance width in em of one character in DejaVu Sans, rounded up; UTF-8 continuation bytes add 0.
double char_em(unsigned char c) {
  if ((c & 0xC0) == 0x80) return 0.0;
  if (c >= 0x80) return 0.8;
  if (c == ' ') return 0.32;
  if (c == '%') return 0.96;
  if (c == 'm' || c == 'w' || c == 'M' || c == 'W') return 1.0;
  if (c == 'i' || c == 'l' || c == 'j' || c == '.' || c == ',' || c == ':' || c == ';' || c == '\'' || c == '|' ||
      c == '!')
    return 0.34;
  if (c == 'f' || c == 't' || c == 'r' || c == '(' || c == ')' || c == '[' || c == ']' || c == '-' || c == 'I')
    return 0.44;
  if (c >= 'A' && c <= 'Z') return 0.78;
  if (c >= '0' && c <= '9') return 0.64;
  return 0.64;
}

double text_width(const std::string& s, double size) {
  double em = 0;
  for (unsigned char c : s) em += char_em(c);
  return em * size;
}

std::string text(double x, double y, const std::string& s, double size, const char* anchor, const char* extra = "") {
  std::string out =
      "<text x=\"" + fmt("%.1f", x) + "\" y=\"" + fmt("%.1f", y) + "\" font-size=\"" + fmt("%g", size) + "\"";
  if (std::string(anchor) != "start") out += std::string(" text-anchor=\"") + anchor + "\"";
  return out + extra + ">" + xml_escape(s) + "</text>\n";
}

// One mark per role, so the three kinds of run read apart without colour too.
std::string mark(const std::string& role, double x, double y) {
  if (role == "system2")
    return "<rect x=\"" + fmt("%.1f", x - 7) + "\" y=\"" + fmt("%.1f", y - 7) +
           "\" width=\"14\" height=\"14\" fill=\"#1f77b4\"/>";
  if (role == "distilled")
    return "<polygon points=\"" + fmt("%.1f", x) + "," + fmt("%.1f", y - 9) + " " + fmt("%.1f", x + 9) + "," +
           fmt("%.1f", y) + " " + fmt("%.1f", x) + "," + fmt("%.1f", y + 9) + " " + fmt("%.1f", x - 9) + "," +
           fmt("%.1f", y) + "\" fill=\"#ff7f0e\"/>";
  return "<circle cx=\"" + fmt("%.1f", x) + "\" cy=\"" + fmt("%.1f", y) + "\" r=\"7\" fill=\"#7f7f7f\"/>";
}

std::string line(double x1, double y1, double x2, double y2, const char* stroke) {
  return "<line x1=\"" + fmt("%.1f", x1) + "\" y1=\"" + fmt("%.1f", y1) + "\" x2=\"" + fmt("%.1f", x2) + "\" y2=\"" +
         fmt("%.1f", y2) + "\" stroke=\"" + stroke + "\"/>\n";
}

}  // namespace

std::string accuracy_cost_svg(const std::vector<nlohmann::json>& runs) {
  constexpr double kFont = 13, kNumberFont = 11, kRow = 19;
  const double L = 80, T = 50, PW = 480, PH = 360, B = 70;  // plot area [L, L+PW] x [T, T+PH]
  double tmin = 1e30, tmax = 0;
  for (const auto& r : runs) {
    const double t = std::max(0.5, r.value("generated_tokens_per_answer", 1.0));
    tmin = std::min(tmin, t);
    tmax = std::max(tmax, t);
  }
  if (runs.empty()) tmin = tmax = 1;
  // Log-scale x over whole decades around the data.
  const double lo = std::pow(10, std::floor(std::log10(tmin))), hi = std::pow(10, std::ceil(std::log10(tmax * 1.01)));
  auto X = [&](double t) {
    return L + (std::log10(std::max(0.5, t)) - std::log10(lo)) / (std::log10(hi) - std::log10(lo)) * PW;
  };
  auto Y = [&](double a) { return T + (1.0 - std::clamp(a, 0.0, 1.0)) * PH; };

  // The key: the three marks, then one numbered row per run.
  std::vector<std::string> keys;
  double key_w = text_width("distilled System 1", kFont) + 16;
  for (size_t i = 0; i < runs.size(); ++i) {
    keys.push_back(std::to_string(i + 1) + "  " + runs[i].value("label", std::string("?")));
    key_w = std::max(key_w, text_width(keys.back(), kFont));
  }
  const double KX = L + PW + 30, W = KX + key_w + 20;
  const double H = std::max(T + PH + B, T + 20 + kRow * static_cast<double>(3 + runs.size()) + 20);

  std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + fmt("%.0f", W) + "\" height=\"" +
                  fmt("%.0f", H) +
                  "\" font-family=\"DejaVu Sans, sans-serif\" font-size=\"13\">\n<rect width=\"100%\" height=\"100%\" "
                  "fill=\"white\"/>\n";
  s += text(L, 28, "Accuracy against inference cost", 16, "start", " font-weight=\"bold\"");
  for (int k = 0; k <= 10; k += 2) {  // y grid
    const double y = Y(k / 10.0);
    s += line(L, y, L + PW, y, "#e0e0e0") + text(L - 8, y + 4, std::to_string(k * 10) + "%", kFont, "end");
  }
  for (double d = lo; d <= hi * 1.0001; d *= 10) {  // x decades
    const double x = X(d);
    s += line(x, T, x, T + PH, "#e0e0e0") + text(x, T + PH + 20, fmt("%g", d), kFont, "middle");
  }
  s += line(L, T + PH, L + PW, T + PH, "black") + line(L, T, L, T + PH, "black");
  s += text(L + PW / 2, T + PH + 50, "generated tokens per answer (log scale)", kFont, "middle");
  s += "<text transform=\"translate(22," + fmt("%.0f", T + PH / 2) +
       ") rotate(-90)\" text-anchor=\"middle\">accuracy</text>\n";

  // Points first, then each number at the first free spot around its point: nearest ring first,
  // eight directions per ring; from the third ring on, a leader line joins number and point.
  std::vector<std::pair<double, double>> at;
  for (const auto& r : runs)
    at.emplace_back(X(r.value("generated_tokens_per_answer", 1.0)), Y(r.value("accuracy", 0.0)));
  std::vector<Box> taken;
  for (const auto& [x, y] : at) taken.push_back({x - 9, y - 9, x + 9, y + 9});
  const Box plot{L + 1, T - 12, L + PW + 24, T + PH - 1};
  std::string numbers;
  for (size_t i = 0; i < runs.size(); ++i) {
    s += mark(runs[i].value("role", std::string("system1")), at[i].first, at[i].second) + "\n";
    const std::string n = std::to_string(i + 1);
    const double w = text_width(n, kNumberFont), h = 0.93 * kNumberFont;
    bool placed = false;
    for (int ring = 1; ring <= 12 && !placed; ++ring) {
      const double r = 6 + 8.0 * ring;
      for (int dir = 0; dir < 8 && !placed; ++dir) {
        static constexpr double kDx[] = {1, -1, 0, 0, 0.7, -0.7, 0.7, -0.7},
                                kDy[] = {0, 0, -1, 1, -0.7, -0.7, 0.7, 0.7};
        const double cx = at[i].first + kDx[dir] * r, cy = at[i].second + kDy[dir] * r;  // the number's centre
        const Box b{cx - w / 2 - 1, cy - h / 2 - 1, cx + w / 2 + 1, cy + h / 2 + 0.24 * kNumberFont + 1};
        if (!b.inside(plot) || std::any_of(taken.begin(), taken.end(), [&](const Box& o) { return o.intersects(b); }))
          continue;
        if (ring >= 3) numbers += line(at[i].first, at[i].second, cx, cy, "#999999");
        numbers += text(cx, cy + h / 2, n, kNumberFont, "middle", " font-weight=\"bold\"");
        taken.push_back(b);
        placed = true;
      }
    }
  }
  s += numbers;
  int row = 0;
  for (const RunRole& role : kRunRoles) {
    const double y = T + 20 + kRow * row++;
    s += mark(role.id, KX + 6, y) + "\n" + text(KX + 22, y + 4, role.name, kFont, "start");
  }
  for (const auto& k : keys) s += text(KX, T + 20 + kRow * row++ + 4, k, kFont, "start");
  return s + "</svg>\n";
}

}  // namespace s2d
