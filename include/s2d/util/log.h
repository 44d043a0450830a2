// Logging facade over spdlog, to stderr (stdout stays clean for data and tables).
//
// Why a facade: libtorch ships its own fmt headers (a newer major version) on its include path,
// and Debian's spdlog needs the system fmt. Keeping spdlog inside log.cpp, which never sees torch
// headers, lets every other file log without that clash, and keeps spdlog's heavy headers out of
// most translation units. Callers format their own message (std::string concatenation or c10::str).
#pragma once

#include <string>

namespace s2d::log {

enum class Level { trace, debug, info, warn, error, off };

// `level` is one of trace, debug, info, warn, error, off. Unknown names are an InputError.
void setup(const std::string& level);
bool enabled(Level level);
void write(Level level, const std::string& message);

inline void debug(const std::string& m) { write(Level::debug, m); }
inline void info(const std::string& m) { write(Level::info, m); }
inline void warn(const std::string& m) { write(Level::warn, m); }
inline void error(const std::string& m) { write(Level::error, m); }

}  // namespace s2d::log
