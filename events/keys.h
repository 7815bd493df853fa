// The RocksDB key layout of the event store. Every integer is big-endian so
// that RocksDB's bytewise order is numeric order. See docs/architecture.md.
//
//   column family  key                                  value
//   events         user(16) seq(8)                      stored event (codec.h)
//   feed           position(8)                          user(16) seq(8)
//   idempotency    user(16) idempotency key (<=128)     first seq(8) last seq(8) position(8)
//   snapshots      user(16) projection name             stored snapshot (codec.h)
//   keys           user(16)                             data key wrapped by the master key
//   features       user(16) as_of(8, Unix us)           FeatureSnapshot, sealed like a snapshot
//   default        "meta/" name                         node-wide value (cluster model, batch)
//   default        "meta/key-check"                     a value sealed by the master key
//   default        "meta/replica-position"              last replicated group applied (8)
//   default        "tombstone/" user(16)                when the user was erased (8, ms)
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/ids.h"

namespace coach::events::keys {

inline constexpr std::string_view kEventsFamily = "events";
inline constexpr std::string_view kFeedFamily = "feed";
inline constexpr std::string_view kIdempotencyFamily = "idempotency";
inline constexpr std::string_view kSnapshotsFamily = "snapshots";
inline constexpr std::string_view kKeysFamily = "keys";
inline constexpr std::string_view kFeaturesFamily = "features";
inline constexpr std::string_view kKeyCheck = "meta/key-check";
inline constexpr std::string_view kReplicaPosition = "meta/replica-position";

void put_u64(std::string& out, uint64_t v);
uint64_t get_u64(const char* p);

std::string event_key(const Uuid& user, uint64_t sequence);
// Decodes an events key; false when it is not 24 bytes.
bool parse_event_key(std::string_view key, Uuid& user, uint64_t& sequence);

std::string feed_key(uint64_t position);
std::string feed_value(const Uuid& user, uint64_t sequence);

std::string idempotency_key(const Uuid& user, std::string_view key);
std::string snapshot_key(const Uuid& user, std::string_view projection);
std::string user_key(const Uuid& user);
// The first key after every key that starts with the user's 16 bytes.
std::string after_user(const Uuid& user);
std::string tombstone_key(const Uuid& user);
std::string features_key(const Uuid& user, uint64_t as_of_micros);

}  // namespace coach::events::keys
