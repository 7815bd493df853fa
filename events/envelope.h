// Filling in the envelope of a TaskEvent whose payload is already set.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/ids.h"
#include "base/time.h"
#include "schema/events.pb.h"

namespace coach::events {

// Sets event_id (fresh), user_id, sequence, event_type (from the payload),
// created_at, schema_version and idempotency_key. task_id is left as set.
void stamp_envelope(v1::TaskEvent& event, const Uuid& user, uint64_t sequence,
                    Clock::time_point created_at, std::string_view idempotency_key = {});

}  // namespace coach::events
