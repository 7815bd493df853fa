// Filling in the envelope of a TaskEvent whose payload is already set.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "events/ids.h"
#include "schema/events.pb.h"

namespace coach::events {

using Clock = std::chrono::system_clock;

// Sets event_id (fresh), user_id, sequence, event_type (from the payload),
// created_at, schema_version and idempotency_key. task_id is left as set.
void stamp_envelope(v1::TaskEvent& event, const Uuid& user, uint64_t sequence,
                    Clock::time_point created_at, std::string_view idempotency_key = {});

// Conversions between std::chrono and protobuf Timestamps (UTC).
google::protobuf::Timestamp to_timestamp(Clock::time_point t);
Clock::time_point from_timestamp(const google::protobuf::Timestamp& t);
// RFC 3339 in UTC to the second, e.g. "2026-11-26T06:15:08Z" (messages, CSV).
std::string format_time(Clock::time_point t);

}  // namespace coach::events
