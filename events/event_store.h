// EventStore: coach's durable, append-only log of TaskEvents, one stream per
// user, on RocksDB. It knows RocksDB and protobuf, nothing of actors.
//
// Guarantees:
// - append is atomic: all events of a call are stored, or none.
// - An append is acknowledged only after RocksDB's write-ahead log is synced
//   (unless StoreOptions::sync is off). One writer thread takes every append
//   queued while it was syncing and writes them as one batch with one fsync
//   (group commit), so many users writing at once do not each pay a fsync.
// - A user's events read back in sequence order, 1, 2, 3, ... with no gaps.
// - The feed lists every event of every user in commit order, at gapless
//   positions 1, 2, 3, ...; a reader resumes from the position it last saw.
// Thread-safe: every method may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/histogram.h"
#include "base/ids.h"
#include "base/result.h"
#include "events/codec.h"
#include "events/log_replica.h"
#include "events/wal_scan.h"
#include "schema/entities.pb.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
class Status;
class WriteBatch;
struct Options;
}  // namespace rocksdb

namespace coach::events {

// How bad a line of StoreOptions::log is.
enum class StoreLogLevel { warning, error };

struct StoreOptions {
  std::string path;  // directory of the RocksDB database
  // Wraps every user's data key (crypto.h). Required; a store opened with
  // another master key than it was created with is refused.
  SecretKey master_key;
  // Sync the WAL before acknowledging an append. Off only for tests and
  // imports that can be rerun; the node always syncs.
  bool sync = true;
  bool read_only = false;  // open an existing store without writing
  size_t max_event_bytes = kDefaultMaxEventBytes;
  size_t max_batch_events = 1000;
  // Most events one group commit writes at once; the rest wait for the next.
  size_t max_group_events = 4096;
  // When fewer appends are queued than the last group held, the appenders it
  // just served are usually about to append again: the writer waits up to
  // this long for them so they share the next fsync. 0 turns it off. A lone
  // appender never waits (its queue is as long as its last group).
  std::chrono::microseconds max_group_wait{150};
  // A WAL damaged in the middle (not a torn tail) refuses the open with a
  // `corrupted` error naming the file and the acknowledged events a
  // recovery would drop, and changes nothing. With recover_wal set the open
  // recovers to the last good point instead, after copying the WAL files to
  // <path>.wal-<unix time>/ and writing what was dropped (user, sequence) to
  // <path>.wal-<unix time>.json (wal_recovery_report()). Default: off.
  bool recover_wal = false;
  // Where log lines go, one per call, without newline: RocksDB's own
  // (warnings and errors only, "rocksdb" true) and the store's on faults and
  // resumes. RocksDB's usual LOG file in the store's folder is not written:
  // on a full disk its failing writes abort RocksDB 7.8. Default: none
  // (lines are dropped).
  std::function<void(StoreLogLevel level, bool rocksdb, std::string_view line)> log;
  // Storage faults. A write that fails with an I/O error (a full disk
  // above all) fences the store: from then on every write answers
  // io_error without reaching RocksDB, reads go on, and write_fault() says
  // why. RocksDB's own error recovery is off (in 7.8 it may write the failed
  // WAL buffer again). Every resume_check the store looks at the free space
  // of its file system; once resume_free_bytes plus the size of the WAL is
  // free, it reopens the database (a fresh WAL; the torn tail of the failed
  // write, never acknowledged, is dropped) and writes resume. A store that
  // cannot be opened for writing for want of space opens read-only, fenced,
  // and resumes the same way. Defaults: 1 s, 1 MiB.
  std::chrono::milliseconds resume_check{1000};
  uint64_t resume_free_bytes = uint64_t{1} << 20;
  // Replication (events/log_replica.h). When set, every group commit and
  // every erasure is appended to the replica, fenced at the position this
  // store applied last, before RocksDB writes it and before anyone is
  // answered; new users' data keys go to the replica first. open() first
  // applies what the replica holds beyond the store's position (catch-up:
  // a node taking over the log). A replica that fails answers the group's
  // appends `unavailable` and the store reads the replica again before its
  // next group; a fence broken by another writer answers `conflict` and
  // stops writes for good (the node lost the log). Default: none (a single
  // node: acknowledged after the synced RocksDB write only).
  std::shared_ptr<LogReplica> replica;
  // Called once, with the replica's lock held (on the writer thread), when
  // another writer appended to the replica (the node should stop: it no
  // longer owns the log); must not block. Default: none.
  std::function<void(const std::string& why)> on_fenced;
};

struct AppendResult {
  uint64_t first_sequence = 0;
  uint64_t last_sequence = 0;   // the stream's version after the append
  uint64_t first_position = 0;  // feed position of the first event
  bool duplicate = false;       // true: the idempotency key was already stored
  // With duplicate: the reply stored with the key (see append), empty when
  // the original append stored none.
  std::string reply;
};

struct FeedEntry {
  uint64_t position = 0;
  v1::TaskEvent event;
};

struct FeedPage {
  std::vector<FeedEntry> entries;
  uint64_t next_position = 1;  // pass to read_feed to continue
};

// Counters for benchmarks and the ops dashboard.
struct StoreStats {
  uint64_t appends = 0;             // append calls that stored events
  uint64_t events = 0;              // events stored by this process
  uint64_t groups = 0;              // group commits (one WAL sync each)
  uint64_t largest_group = 0;       // most appends in one group commit
  uint64_t feed_head = 0;           // position of the newest event in the feed
  uint64_t write_micros = 0;        // time spent in synced RocksDB writes
  HistogramSnapshot group_appends;  // appends per group commit (per fsync)
  HistogramSnapshot write_seconds;  // duration of each group's synced write
  // Blocking calls made on threads that must not block (base/blocking.h).
  uint64_t blocking_on_scheduler = 0;
  // With a replica: the position of the last group applied, and how many
  // groups and events of other writers were applied by catching up.
  uint64_t replica_position = 0;
  uint64_t caught_up_groups = 0;
  uint64_t caught_up_events = 0;
};

// Receives the outcome of append_async, exactly once.
using AppendCallback = std::function<void(Result<AppendResult>)>;

class EventStore {
 public:
  // Opens (creating if needed) the store at options.path.
  static Result<std::unique_ptr<EventStore>> open(const StoreOptions& options);
  // The report a recover_wal open wrote; empty if the WAL was intact.
  const std::string& wal_recovery_report() const { return wal_report_; }
  ~EventStore();
  EventStore(const EventStore&) = delete;
  EventStore& operator=(const EventStore&) = delete;

  // Appends events to the user's stream, whose version (last sequence, 0 for
  // a new stream) must equal expected_version. Each event must be valid
  // (validate_event), belong to `user`, and carry the next sequence:
  // expected_version + 1, + 2, ... When an event's idempotency key is already
  // stored for the user, nothing is appended and the original result comes
  // back with duplicate = true, with the `reply` that append stored. `reply`
  // (default: none) is the caller's answer to the command, kept sealed with
  // the user's data key beside each idempotency key of the events, so that a
  // retry is answered without replaying anything.
  // Errors: empty_batch, invalid_argument, malformed_event, user_mismatch,
  // payload_too_large, sequence_gap, wrong_expected_version, io_error.
  // Blocks the calling thread until the append is durable or refused.
  Result<AppendResult> append(const Uuid& user, uint64_t expected_version,
                              const std::vector<v1::TaskEvent>& events,
                              std::string_view reply = {});

  // The same append without blocking: validates and encodes the events in
  // the calling thread, queues them, and returns. `done` runs exactly once:
  // on the calling thread when the batch is refused before queueing, else
  // on the store's writer thread once the group is durable. Keep `done`
  // short (send a message, set a promise): it delays later appends.
  void append_async(const Uuid& user, uint64_t expected_version,
                    const std::vector<v1::TaskEvent>& events, AppendCallback done,
                    std::string_view reply = {});

  // Events of the user with sequence >= from_sequence (>= 1), in order, at
  // most max_count. unknown_stream when the user has no events; corrupted,
  // naming user and sequence, when a stored value is damaged.
  Result<std::vector<v1::TaskEvent>> read(const Uuid& user, uint64_t from_sequence = 1,
                                          size_t max_count = SIZE_MAX) const;

  // The original result of the append that stored this idempotency key for
  // the user (with its stored reply), or nullopt. Lets a caller answer a
  // retried command that would not be decided the same way again.
  Result<std::optional<AppendResult>> find_idempotency_key(const Uuid& user,
                                                           std::string_view key) const;

  // Puts the user's data key in memory (a new one, stored with the user's
  // first append, for a user without one), so that append_async validates
  // and seals without reading RocksDB on the caller's thread. Blocks. For
  // loaders of a user with no events yet; an erased user is refused.
  Status warm_data_key(const Uuid& user) const;

  // Drops the user's data key from memory, and a new key not stored yet
  // (a user loaded but never written), so memory holds keys only for users
  // in use. The next call that needs the key reads it from RocksDB again.
  // Does not block; for a user's loader when the user goes idle, after the
  // user's last append and snapshot save have returned.
  void forget_data_key(const Uuid& user) const;

  // How many users' data keys are in memory (stored and not yet stored).
  size_t cached_data_keys() const;

  // The user's version: the last sequence stored, 0 for no events.
  Result<uint64_t> version(const Uuid& user) const;

  // Events of all users in commit order, from feed position from_position
  // (>= 1), at most max_count.
  Result<FeedPage> read_feed(uint64_t from_position, size_t max_count) const;

  // Snapshots of a projection's state, keyed by user and projection name.
  Status save_snapshot(const Uuid& user, std::string_view projection, const Snapshot& snapshot);
  // nullopt when none was saved.
  Result<std::optional<Snapshot>> load_snapshot(const Uuid& user,
                                                std::string_view projection) const;

  // The feature store (issue #5): the user's FeatureSnapshots over time,
  // keyed by their created_at ("as of" that instant), sealed like events.
  // Not synced: features are derived from the log and the batch job
  // rebuilds them. invalid_argument for a snapshot without created_at or
  // before 1970, or of another user.
  Status put_features(const Uuid& user, const std::vector<v1::FeatureSnapshot>& snapshots);
  // The newest snapshot whose created_at is <= `as_of` (point-in-time read:
  // features as they were known then), or nullopt.
  Result<std::optional<v1::FeatureSnapshot>> features_as_of(
      const Uuid& user, std::chrono::system_clock::time_point as_of) const;
  // Removes every feature snapshot of the user (tracking turned off).
  Status clear_features(const Uuid& user);
  // Snapshots with created_at in [from, to], oldest first, at most max_count.
  Result<std::vector<v1::FeatureSnapshot>> feature_history(
      const Uuid& user, std::chrono::system_clock::time_point from,
      std::chrono::system_clock::time_point to, size_t max_count = SIZE_MAX) const;

  // Small node-wide values (the behavior-mode model, the batch job's
  // checkpoint) under "meta/<name>" in the default family; not user data,
  // not encrypted, not synced. nullopt when absent.
  Status put_meta(std::string_view name, std::string_view value);
  Result<std::optional<std::string>> get_meta(std::string_view name) const;

  // Every user with stored data (a data key), in id order.
  Result<std::vector<Uuid>> users() const;

  // Erases everything of the user for good: destroys their data key (so any
  // copy of their data left anywhere is unreadable), deletes their events,
  // snapshots, feature snapshots and idempotency rows, and records a
  // tombstone (id and time only). The user's id is refused afterwards.
  // Synced before returning, and by then no file under the store's folder
  // (WAL included) holds the user's wrapped data key: every memtable is
  // flushed, the key's range compacted to the bottom level and the obsolete
  // files deleted at once. Costs a flush and a small compaction (see
  // bench/event_store_bench --erase); runs on the calling thread.
  Status erase_user(const Uuid& user, std::chrono::system_clock::time_point when);
  // When the user was erased, or nullopt.
  Result<std::optional<std::chrono::system_clock::time_point>> erased_at(const Uuid& user) const;

  // Flushes memtables to SST files (tests, shutdown).
  Status flush();
  // Compacts every column family fully, dropping deleted data from disk.
  Status compact();

  StoreStats stats() const;
  const StoreOptions& options() const { return options_; }

  // Why writes fail now (the first I/O error, without file paths), or
  // nullopt while the store is writable. Cheap: one atomic load when fine.
  std::optional<std::string> write_fault() const;
  // Times the store reopened itself after a fault (StoreOptions::resume_*).
  uint64_t resumes() const { return resumes_.load(); }

 private:
  struct Request;
  class Writer;
  class Hold;
  class Listener;

  explicit EventStore(StoreOptions options);
  // Opens the database into db_ and handles_; read_only as given (a fenced
  // store may fall back to it).
  Status open_db(bool read_only);
  void close_db();
  // Opens for writing; for want of space, read-only and fenced.
  Status open_db_or_fence();
  // io_error for a failed RocksDB call, without the store's path (replies
  // must not carry server paths). write_failed also fences the store when
  // the status is an I/O error.
  Error read_failed(const rocksdb::Status& s, std::string_view what) const;
  Error write_failed(const rocksdb::Status& s, std::string_view what) const;
  std::string without_path(std::string text) const;
  // io_error while the store is fenced.
  Status check_writable() const;
  void fence(std::string reason) const;
  // RocksDB's log through StoreOptions::log, the fault listener, no
  // automatic resume.
  void configure_faults(rocksdb::Options& db_options) const;
  void heal_loop();
  void stop_healer();
  bool room_to_resume() const;
  void reopen();
  // After a reopen: the writer's cached heads and next feed position.
  void reset_writer(uint64_t feed_head);
  Status preserve_damaged_wal(const WalDamage& damage);
  Result<uint64_t> load_feed_head() const;
  Status check_master_key();
  Status purge_erased_key(const Uuid& user);
  // Replication: applies what the replica holds after replica_position_
  // (each group with its new keys, an erasure with its purge), then resets
  // the writer's heads. The caller holds replica_mu_ and runs on the
  // writer thread (or opens the store). While serving (not at_open) a
  // group of another writer fences the store instead.
  Status catch_up(bool at_open);
  Status claim_replica();
  // Stops writes for good: another node writes the replica (on_fenced).
  Status fence_replica(std::string why);
  Status apply_replicated(const ReplicatedGroup& group);
  // Appends a group to the replica at replica_position_ (replica_mu_ held);
  // on success adds the new position to `batch` for the local write.
  Status replicate(ReplicatedGroup& group, rocksdb::WriteBatch& batch);
  // The row of a hashed idempotency key; its reply is opened with `sealing`.
  Result<std::optional<AppendResult>> find_hashed_key(const Uuid& user, std::string_view hashed,
                                                      const SecretKey& sealing) const;
  // How data_key treats a user without a key.
  enum class NewKey {
    none,     // answer nullopt
    synced,   // make one and store it (synced) before returning it
    pending,  // make one and leave it to the next append's WriteBatch
  };
  // The user's data key; for a user without one, as `create` says.
  // `wrapped_pending`, when given, receives the sealed key an append must
  // store with its events (empty when the key is already on disk).
  Result<std::optional<SecretKey>> data_key(const Uuid& user, NewKey create,
                                            std::string* wrapped_pending = nullptr) const;
  Result<std::unique_ptr<Request>> prepare(const Uuid& user, uint64_t expected_version,
                                           const std::vector<v1::TaskEvent>& events,
                                           std::string_view reply) const;
  void commit_group(std::vector<std::unique_ptr<Request>>& group);

  StoreOptions options_;
  // Shared by every call that uses db_; held alone by reopen().
  mutable std::shared_mutex db_mu_;
  std::unique_ptr<rocksdb::DB> db_;  // null only if a reopen failed
  std::string wal_report_;           // written by a recover_wal open
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::ColumnFamilyHandle* events_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* feed_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* idempotency_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* snapshots_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* keys_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* features_cf_ = nullptr;  // null: read-only store from before it
  // Replication state: the position of the last group applied (and
  // written in meta/replica-position); set when the replica failed and
  // must be read before the next append; set for good when another writer
  // broke the fence.
  std::mutex replica_mu_;
  uint64_t replica_position_ = 0;
  bool replica_unsure_ = false;
  std::optional<Error> replica_fenced_;
  std::atomic<uint64_t> stat_caught_up_groups_{0}, stat_caught_up_events_{0};
  std::atomic<uint64_t> stat_replica_position_{0};
  mutable std::mutex data_keys_mu_;
  mutable std::unordered_map<Uuid, SecretKey, UuidHash> data_keys_;  // unwrapped, cached
  // New users' keys not yet on disk: sealed, waiting for their first append's
  // group commit (so a new user costs no extra fsync).
  mutable std::unordered_map<Uuid, std::string, UuidHash> pending_keys_;
  std::unique_ptr<Writer> writer_;  // null when read-only

  mutable std::atomic<bool> fenced_{false};
  mutable std::mutex fault_mu_;
  mutable std::string fault_;
  std::atomic<uint64_t> resumes_{0};
  bool open_lacked_space_ = false;  // the last open_db failed for want of space
  std::mutex heal_mu_;
  std::condition_variable heal_cv_;
  bool heal_stopping_ = false;
  std::thread healer_;  // not started when read-only

  std::atomic<uint64_t> stat_appends_{0};
  std::atomic<uint64_t> stat_events_{0};
  std::atomic<uint64_t> stat_groups_{0};
  std::atomic<uint64_t> stat_largest_group_{0};
  std::atomic<uint64_t> feed_head_{0};
  std::atomic<uint64_t> stat_write_micros_{0};
  mutable std::atomic<uint64_t> blocking_on_scheduler_{0};
  // Counts (and logs the first) blocking call on a nonblocking thread.
  void note_blocking(const char* call) const;
  Histogram group_appends_{Histogram::size_bounds()};
  Histogram write_seconds_{Histogram::latency_bounds()};
};

}  // namespace coach::events
