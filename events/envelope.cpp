#include "events/envelope.h"

#include <ctime>

#include "events/codec.h"

namespace coach::events {

void stamp_envelope(v1::TaskEvent& event, const Uuid& user, uint64_t sequence,
                    Clock::time_point created_at, std::string_view idempotency_key) {
  event.set_event_id(new_uuid_string());
  event.set_user_id(user.to_string());
  event.set_sequence(sequence);
  event.set_event_type(event_type_of(event.payload_case()));
  *event.mutable_created_at() = to_timestamp(created_at);
  event.set_schema_version(kCurrentSchemaVersion);
  event.set_idempotency_key(std::string(idempotency_key));
}

}  // namespace coach::events
