#include "wire/log.h"

#include <google/protobuf/stubs/logging.h>

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include "wire/api_codec.h"

namespace coach::actors {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::info)};

std::string_view level_name(LogLevel level) {
  switch (level) {
    case LogLevel::debug:
      return "debug";
    case LogLevel::info:
      return "info";
    case LogLevel::warn:
      return "warn";
    case LogLevel::error:
      return "error";
  }
  return "info";
}

std::string utc_now() {
  auto now = std::chrono::system_clock::now();
  auto seconds = std::chrono::system_clock::to_time_t(now);
  auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03d}Z", text, static_cast<int>(millis));
}

std::string json_value(const LogValue& value) {
  struct Visitor {
    std::string operator()(const std::string& s) const { return json_quote(s); }
    std::string operator()(int64_t n) const { return std::to_string(n); }
    std::string operator()(double d) const {
      return std::isfinite(d) ? fmt::format("{}", d) : json_quote(fmt::format("{}", d));
    }
    std::string operator()(bool b) const { return b ? "true" : "false"; }
  };
  return std::visit(Visitor{}, value);
}

}  // namespace

std::optional<LogLevel> parse_log_level(std::string_view name) {
  for (auto level : {LogLevel::debug, LogLevel::info, LogLevel::warn, LogLevel::error})
    if (level_name(level) == name) return level;
  return std::nullopt;
}

void set_log_level(LogLevel level) {
  g_level.store(static_cast<int>(level), std::memory_order_relaxed);
}

bool log_enabled(LogLevel level) {
  return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed);
}

std::string format_log_line(LogLevel level, std::string_view component, std::string_view message,
                            std::initializer_list<LogField> fields) {
  std::string line = "{\"ts\":" + json_quote(utc_now()) +
                     ",\"level\":" + json_quote(level_name(level)) +
                     ",\"component\":" + json_quote(component) + ",\"msg\":" + json_quote(message);
  for (const auto& [name, value] : fields) line += "," + json_quote(name) + ":" + json_value(value);
  return line + "}";
}

void log_line(LogLevel level, std::string_view component, std::string_view message,
              std::initializer_list<LogField> fields) {
  if (!log_enabled(level)) return;
  auto line = format_log_line(level, component, message, fields) + "\n";
  // One fwrite per line: stdio locks the stream, so lines never interleave.
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

void route_protobuf_logs() {
  google::protobuf::SetLogHandler(
      [](google::protobuf::LogLevel level, const char* file, int line, const std::string& message) {
        LogLevel ours = level == google::protobuf::LOGLEVEL_INFO      ? LogLevel::info
                        : level == google::protobuf::LOGLEVEL_WARNING ? LogLevel::warn
                                                                      : LogLevel::error;
        log_line(ours, "protobuf", message,
                 {{"file", std::string(file ? file : "")}, {"line", int64_t{line}}});
      });
}

}  // namespace coach::actors
