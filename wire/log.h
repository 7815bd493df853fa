// Structured logs: one JSON object per line on stderr, e.g.
//   {"ts":"2026-11-26T10:00:00.123Z","level":"warn","component":"registry",
//    "msg":"actor restarted","user":"...","reason":"kill"}
// Lines below the process's level are dropped. Thread-safe: each line is
// written whole.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace coach::actors {

enum class LogLevel { debug, info, warn, error };

std::optional<LogLevel> parse_log_level(std::string_view name);
void set_log_level(LogLevel level);
bool log_enabled(LogLevel level);

using LogValue = std::variant<std::string, int64_t, double, bool>;
using LogField = std::pair<std::string_view, LogValue>;

// The line log_line would write (no newline); for tests.
std::string format_log_line(LogLevel level, std::string_view component, std::string_view message,
                            std::initializer_list<LogField> fields = {});

void log_line(LogLevel level, std::string_view component, std::string_view message,
              std::initializer_list<LogField> fields = {});

// Sends protobuf's own log messages (e.g. "String field contains invalid
// UTF-8 data", written as plain "[libprotobuf ERROR ...]" lines) through
// log_line as component "protobuf", so the log stays one JSON object per
// line. For the whole process; call once at start.
void route_protobuf_logs();

}  // namespace coach::actors
