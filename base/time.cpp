#include "base/time.h"

#include <ctime>

namespace coach {

google::protobuf::Timestamp to_timestamp(Clock::time_point t) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  google::protobuf::Timestamp ts;
  int64_t seconds = ns / 1'000'000'000;
  int64_t nanos = ns % 1'000'000'000;
  if (nanos < 0) {
    nanos += 1'000'000'000;
    --seconds;
  }
  ts.set_seconds(seconds);
  ts.set_nanos(static_cast<int32_t>(nanos));
  return ts;
}

Clock::time_point from_timestamp(const google::protobuf::Timestamp& t) {
  auto d = std::chrono::seconds(t.seconds()) + std::chrono::nanoseconds(t.nanos());
  return Clock::time_point(std::chrono::duration_cast<Clock::duration>(d));
}

std::string format_time(Clock::time_point t) {
  std::time_t seconds = Clock::to_time_t(std::chrono::floor<std::chrono::seconds>(t));
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

}  // namespace coach
