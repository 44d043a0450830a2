// The three kinds of run the paper compares. `s2d eval` writes one into summary.json ("role");
// the paper report has a column for each and the accuracy chart a mark and a legend line.
#pragma once

#include <algorithm>
#include <array>
#include <string>

namespace s2d {

struct RunRole {
  const char* id;    // in summary.json and --role
  const char* name;  // in tables and legends
};

inline constexpr std::array<RunRole, 3> kRunRoles = {
    {{"system1", "System 1"}, {"system2", "System 2"}, {"distilled", "distilled System 1"}}};

inline bool is_run_role(const std::string& id) {
  return std::any_of(kRunRoles.begin(), kRunRoles.end(), [&](const RunRole& r) { return id == r.id; });
}

// "system1|system2|distilled", for errors and help.
inline std::string run_role_ids() {
  std::string s;
  for (const RunRole& r : kRunRoles) s += (s.empty() ? "" : "|") + std::string(r.id);
  return s;
}

}  // namespace s2d
