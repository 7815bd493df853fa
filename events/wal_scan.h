// Reading RocksDB's write-ahead log without opening the database, to say
// what a damaged WAL would cost before anything is recovered.
//
// RocksDB is opened with kTolerateCorruptedTailRecords: a torn tail (the
// unacknowledged last write of a crash) is recovered as always, but a record
// damaged in the middle of a WAL refuses the open instead of silently
// recovering to a point in time and dropping every acknowledged write after
// it. scan_wal then reads the WAL files (RocksDB's log format: 32 KiB
// blocks of CRC32C-checked records holding WriteBatches) and lists the
// events (user, sequence) that recovering to the last good point would
// drop, taken from their `feed` entries.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/ids.h"
#include "base/result.h"

namespace coach::events {

struct LostEvent {
  Uuid user;
  uint64_t sequence = 0;
};

struct WalDamage {
  std::string file;     // the WAL file with the first damaged record
  uint64_t offset = 0;  // byte offset of that record in the file
  // Events in intact records after the damage (in this and later WAL files):
  // acknowledged, and lost by a point-in-time recovery.
  std::vector<LostEvent> lost;
  uint64_t lost_records = 0;  // WriteBatches after the damage (any family)
};

// The first damage in the middle of the WALs in `store_dir` (*.log, in file
// number order), if any. A damaged tail with no intact record after it is a
// torn write, not damage: nullopt. io_error if a file cannot be read.
Result<std::optional<WalDamage>> scan_wal(const std::string& store_dir);

// "N events of M users (<user> from sequence S, ...)" for messages.
std::string describe_loss(const WalDamage& damage);

}  // namespace coach::events
