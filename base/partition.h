// Partitions of a cluster (issue 18): users map to a fixed number of
// partitions by a hash of their id, and each partition has one owner node
// at a time (adapters/partition_leases.h).
//
// The hash is 32-bit FNV-1a over the 16 bytes of the user id (big-endian,
// as Uuid::bytes holds them), taken modulo the partition count: any client
// or tool can compute a user's partition without coach's code, e.g. in
// Python:
//   h = 0x811c9dc5
//   for b in uuid.UUID(user_id).bytes: h = ((h ^ b) * 0x01000193) & 0xffffffff
//   partition = h % partitions
// A cluster's partition count is chosen once, when its first node starts
// (coachd --partitions, default kDefaultPartitions), and kept in NATS: a
// node started with another count is refused, since every user would move.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/ids.h"

namespace coach {

// 64: on 3 nodes about 21 each, and enough to spread over a few dozen nodes
// (docs/architecture.md says how it grows).
inline constexpr uint32_t kDefaultPartitions = 64;
inline constexpr uint32_t kMaxPartitions = 1024;

// The user's partition, in [0, partitions); partitions must be >= 1.
uint32_t partition_of(const Uuid& user, uint32_t partitions);

// Rendezvous (highest random weight) hashing: how much node `node_id`
// wants `partition`. Among the live members, the one with the highest
// weight is the partition's preferred owner, so a node joining or leaving
// moves only the partitions it wins or held. 64-bit FNV-1a of
// "<node_id>/<partition>".
uint64_t rendezvous_weight(std::string_view node_id, uint32_t partition);

}  // namespace coach
