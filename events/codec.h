// How events and snapshots look on disk, and what makes an event valid.
//
// A stored value is: format byte (2), then the serialized protobuf sealed
// with the user's data key (crypto.h: nonce, ciphertext, tag). The sealing
// binds each value to its place (user and sequence, or user and projection),
// so a truncated, altered or moved value fails to open and is reported as
// `corrupted`, never parsed into a plausible but wrong message.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/ids.h"
#include "base/result.h"
#include "events/crypto.h"
#include "schema/events.pb.h"

namespace coach::events {

// The schema version this build writes (schema/events.proto). Version 2
// moved TaskCreated's fields into TaskCreated.fields; upcast.h reads v1.
inline constexpr uint32_t kCurrentSchemaVersion = 2;
// Largest serialized event the store accepts, by default.
inline constexpr size_t kDefaultMaxEventBytes = 64 * 1024;
inline constexpr size_t kMaxIdempotencyKeyBytes = 128;

// The event type that names a payload case, or EVENT_TYPE_UNSPECIFIED.
v1::EventType event_type_of(v1::TaskEvent::PayloadCase payload);

// Checks one envelope: ids are UUIDs, type and payload agree, created_at and
// schema_version are set, the payload has its version's shape (upcast.h),
// the idempotency key is short. Does not check the
// sequence (the store does, against the stream head).
Status validate_event(const v1::TaskEvent& event);

// Validates, serializes and seals an event for storage at (user, sequence);
// payload_too_large when the serialized event exceeds max_event_bytes.
Result<std::string> encode_event(const v1::TaskEvent& event, size_t max_event_bytes,
                                 const SecretKey& data_key, const Uuid& user, uint64_t sequence);
// The same for a writer that has the value's RocksDB key (keys::event_key of
// user and sequence) already and stores the value under it: the key is
// built once per event.
Result<std::string> encode_event(const v1::TaskEvent& event, size_t max_event_bytes,
                                 const SecretKey& data_key, std::string_view event_key);

// Opens and decodes a stored value found at (user, sequence), upcast to the
// current schema version (upcast.h). Every failure is a `corrupted` error
// naming the user and the sequence.
Result<v1::TaskEvent> decode_event(std::string_view stored, const Uuid& user, uint64_t sequence,
                                   const SecretKey& data_key);
// The same for a reader of many events of one user, which has the user's
// text (user.to_string()) and the value's RocksDB key (keys::event_key)
// already: nothing is built again per event.
Result<v1::TaskEvent> decode_event(std::string_view stored, const Uuid& user,
                                   std::string_view user_text, uint64_t sequence,
                                   std::string_view event_key, const SecretKey& data_key);

// Parses an event a client sent as protobuf bytes (no storage header),
// validates it and upcasts it to the current schema version.
Result<v1::TaskEvent> parse_event(std::string_view bytes, size_t max_event_bytes);

// Projection state saved so that recovery replays only the log's tail.
struct Snapshot {
  uint64_t version = 0;  // sequence of the last event folded into `state`
  std::string state;     // the projection's own serialization
};

std::string encode_snapshot(const Snapshot& snapshot, const SecretKey& data_key, const Uuid& user,
                            std::string_view projection);
Result<Snapshot> decode_snapshot(std::string_view stored, const Uuid& user,
                                 std::string_view projection, const SecretKey& data_key);

}  // namespace coach::events
