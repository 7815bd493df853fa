// How events and snapshots look on disk, and what makes an event valid.
//
// A stored value is: format byte, CRC-32 of the body (4 bytes, big-endian),
// body. Format 1's body is the serialized protobuf. The checksum catches
// truncated or corrupted values that protobuf would otherwise parse into a
// plausible but wrong message.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "events/ids.h"
#include "events/result.h"
#include "schema/events.pb.h"

namespace coach::events {

// The schema version this build writes (schema/events.proto).
inline constexpr uint32_t kCurrentSchemaVersion = 1;
// Largest serialized event the store accepts, by default.
inline constexpr size_t kDefaultMaxEventBytes = 64 * 1024;
inline constexpr size_t kMaxIdempotencyKeyBytes = 128;

// The event type that names a payload case, or EVENT_TYPE_UNSPECIFIED.
v1::EventType event_type_of(v1::TaskEvent::PayloadCase payload);

// Checks one envelope: ids are UUIDs, type and payload agree, created_at and
// schema_version are set, the idempotency key is short. Does not check the
// sequence (the store does, against the stream head).
Status validate_event(const v1::TaskEvent& event);

// Validates and serializes an event for storage; payload_too_large when the
// serialized event exceeds max_event_bytes.
Result<std::string> encode_event(const v1::TaskEvent& event, size_t max_event_bytes);

// Decodes a stored value found at (user, sequence). Every failure is a
// `corrupted` error naming the user and the sequence.
Result<v1::TaskEvent> decode_event(std::string_view stored, const Uuid& user, uint64_t sequence);

// Parses an event a client sent as protobuf bytes (no storage header).
Result<v1::TaskEvent> parse_event(std::string_view bytes, size_t max_event_bytes);

// Projection state saved so that recovery replays only the log's tail.
struct Snapshot {
  uint64_t version = 0;  // sequence of the last event folded into `state`
  std::string state;     // the projection's own serialization
};

std::string encode_snapshot(const Snapshot& snapshot);
Result<Snapshot> decode_snapshot(std::string_view stored, const Uuid& user,
                                 std::string_view projection);

}  // namespace coach::events
