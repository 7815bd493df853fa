// LogReplica: where an EventStore copies what it writes before it answers,
// so that another node can take over the log when this one dies (issue 18,
// step two: one owner, replicated log, standby takeover).
//
// The store hands over what it writes as RocksDB WriteBatch contents, one
// per append (or erasure), already sealed with the users' data keys. The
// users' data keys travel apart (put_key), so that erasing a user shreds
// the key and leaves only ciphertext nobody can open in the replicated log.
//
// Contract, for implementations (adapters/jetstream_log.h is the one coach
// ships):
// - append stores one group at the position right after `after` or not at
//   all: the fence. When anything else was appended after `after` (another
//   node wrote), it stores nothing and answers `conflict`. Any other failure
//   is `unavailable`; then the group may or may not be stored, and the
//   caller must read from `after` before it appends again.
// - read returns groups in the order they were appended, each with its
//   position, skipping positions that were removed.
// Every method blocks; the store calls them on its writer thread and while
// it opens.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/ids.h"
#include "base/result.h"

namespace coach::events {

// One appended group, as the log gives it back.
struct ReplicatedGroup {
  uint64_t position = 0;
  std::string writer;                // the node that appended it (LogReplica::writer_id)
  std::vector<std::string> batches;  // WriteBatch contents, applied in order
  std::vector<Uuid> new_keys;        // users whose data key was put with this group
  std::optional<Uuid> erased;        // an erasure: the user whose data goes
};

class LogReplica {
 public:
  virtual ~LogReplica() = default;

  // The id this node writes into every group it appends.
  virtual const std::string& writer_id() const = 0;
  // The most bytes of WriteBatch contents one append may give the log
  // (the store refuses a bigger append with payload_too_large).
  virtual size_t max_group_bytes() const = 0;

  // Stores a user's wrapped data key (crypto.h), before the first group
  // holding events sealed with it: created, never replaced. The same key
  // again is fine; another key for the user is `conflict` (another writer
  // made one: this writer's is void).
  virtual Status put_key(const Uuid& user, const std::string& wrapped) = 0;
  // The wrapped key, or nullopt when none is stored (never, or shredded).
  virtual Result<std::optional<std::string>> get_key(const Uuid& user) = 0;
  // Removes the user's key with all its history.
  virtual Status shred_key(const Uuid& user) = 0;

  // Appends one group right after position `after` (0: the log is empty);
  // its position. See the fence above.
  virtual Result<uint64_t> append(uint64_t after, const ReplicatedGroup& group) = 0;
  // At most `max_groups` groups after position `after`, oldest first; empty
  // at the end of the log.
  virtual Result<std::vector<ReplicatedGroup>> read(uint64_t after, size_t max_groups) = 0;
};

}  // namespace coach::events
