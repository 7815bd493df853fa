// Instants as coach writes them: std::chrono's system clock, protobuf
// Timestamps on the wire and on disk (always UTC), RFC 3339 in messages.
#pragma once

#include <google/protobuf/timestamp.pb.h>

#include <chrono>
#include <string>

namespace coach {

using Clock = std::chrono::system_clock;

// Conversions between std::chrono and protobuf Timestamps (UTC). Exact to
// the clock's resolution; instants before 1970 keep nanos in [0, 1e9).
google::protobuf::Timestamp to_timestamp(Clock::time_point t);
Clock::time_point from_timestamp(const google::protobuf::Timestamp& t);
// RFC 3339 in UTC to the second, e.g. "2026-11-26T06:15:08Z" (messages, CSV).
std::string format_time(Clock::time_point t);

}  // namespace coach
