#include "events/event_store.h"

#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <pthread.h>
#include <algorithm>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "base/blocking.h"
#include "events/keys.h"
#include "events/store_hold.h"

namespace coach::events {
namespace {

// Heads of streams are cached for the writer thread; beyond this many users
// the cache starts over (it is only a cache: misses read RocksDB).
constexpr size_t kMaxCachedHeads = 1 << 20;

// What a stored reply is bound to: its user and its idempotency key.
std::string reply_context(const Uuid& user, std::string_view hashed_key) {
  return std::string("coach.reply") + '\0' + user.to_string() + '\0' + std::string(hashed_key);
}

}  // namespace

// One append queued for, or being written by, the writer thread.
struct EventStore::Request {
  Uuid user;
  uint64_t expected_version = 0;
  std::vector<std::string> values;            // encoded events, in sequence order
  std::vector<std::string> event_keys;        // their RocksDB keys (sealed under them)
  std::vector<std::string> idempotency_keys;  // distinct keyed hashes
  std::vector<std::string> sealed_replies;    // the reply, sealed for each of them
  std::string reply;                          // the reply, for duplicates in one group
  SecretKey sealing;                          // the user's data key, when keyed
  std::string new_key;  // the user's sealed data key, when this append must store it
  AppendCallback done;
  std::optional<Result<AppendResult>> result;
};

// The writer thread and its queue. Group commit: while the writer syncs one
// group, new appends queue up; it then takes all of them (up to a limit) as
// the next group: one WriteBatch, one WAL write, one fsync. Appends per fsync
// thus grow with the number of concurrent appenders, and nobody waits for a
// fsync that started after their append was queued plus the one in flight.
class EventStore::Writer {
 public:
  Writer(EventStore& store, uint64_t feed_head)
      : next_position(feed_head + 1), store_(store), thread_([this] {
          pthread_setname_np(pthread_self(), "coach-writer");  // for top, perf, gdb
          run();
        }) {}

  ~Writer() { stop(); }

  // Writes everything still queued, then ends the thread. Idempotent.
  void stop() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) thread_.join();
  }

  void enqueue(std::unique_ptr<Request> request) {
    bool wake = false;
    {
      std::lock_guard lock(mu_);
      queue_.push_back(std::move(request));
      wake = idle_ || (gathering_ && queue_.size() >= last_group_);
      if (wake) idle_ = gathering_ = false;
    }
    if (wake) cv_.notify_one();
  }

  // Writer-thread state: touched only by commit_group, on the writer thread.
  std::unordered_map<Uuid, uint64_t, UuidHash> heads;
  uint64_t next_position;

 private:
  void run() {
    std::unique_lock lock(mu_);
    for (;;) {
      if (queue_.empty()) {
        if (stopping_) return;
        idle_ = true;
        cv_.wait(lock, [&] { return !queue_.empty() || stopping_; });
        continue;
      }
      gather(lock);
      auto group = take_group();
      last_group_ = group.size();
      lock.unlock();
      store_.commit_group(group);
      for (auto& r : group) r->done(std::move(*r->result));
      lock.lock();
    }
  }

  // Waits, briefly, for the appenders of the last group to come back.
  void gather(std::unique_lock<std::mutex>& lock) {
    auto wait = store_.options_.max_group_wait;
    if (wait.count() <= 0 || queue_.size() >= last_group_ || stopping_) return;
    gathering_ = true;
    cv_.wait_for(lock, wait, [&] { return queue_.size() >= last_group_ || stopping_; });
    gathering_ = false;
  }

  std::vector<std::unique_ptr<Request>> take_group() {
    std::vector<std::unique_ptr<Request>> group;
    size_t events = 0;
    while (!queue_.empty()) {
      size_t n = queue_.front()->values.size();
      if (!group.empty() && events + n > store_.options_.max_group_events) break;
      events += n;
      group.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    return group;
  }

  EventStore& store_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Request>> queue_;
  bool idle_ = false;       // the writer sleeps until an append comes
  bool gathering_ = false;  // the writer waits for last_group_ appends
  size_t last_group_ = 0;   // appends in the group written last
  bool stopping_ = false;
  std::thread thread_;  // last: starts once everything above is ready
};

EventStore::EventStore(StoreOptions options) : options_(std::move(options)) {}

EventStore::~EventStore() {
  stop_healer();  // no reopen from now on
  // Finish every queued append while writer_ still points at the writer:
  // its thread reaches the store's state through it.
  if (writer_) writer_->stop();
  writer_.reset();
  close_db();
}

Result<std::unique_ptr<EventStore>> EventStore::open(const StoreOptions& options) {
  if (options.path.empty()) return make_error(Errc::invalid_argument, "store path is empty");
  if (options.master_key.empty())
    return make_error(Errc::invalid_argument,
                      "the store needs a master key (StoreOptions::master_key)");
  std::unique_ptr<EventStore> store(new EventStore(options));
  if (auto s = store->open_db_or_fence(); !s) return s.error();
  store->options_.recover_wal = false;  // a later reopen finds the WAL whole
  if (options.replica && !options.read_only) {
    std::lock_guard replica_lock(store->replica_mu_);
    if (auto caught_up = store->catch_up(/*at_open=*/true); !caught_up) return caught_up.error();
    if (auto claimed = store->claim_replica(); !claimed) return claimed.error();
  }
  auto head = store->load_feed_head();
  if (!head) return head.error();
  store->feed_head_ = *head;
  if (!options.read_only) {
    store->writer_ = std::make_unique<Writer>(*store, *head);
    store->healer_ = std::thread([s = store.get()] { s->heal_loop(); });
  }
  return store;
}

void EventStore::reset_writer(uint64_t feed_head) {
  // Only the writer thread touches these, inside commit_group, which cannot
  // run while reopen() holds db_mu_ alone.
  if (writer_) {
    writer_->heads.clear();
    writer_->next_position = feed_head + 1;
  }
  feed_head_.store(feed_head);
}

Status EventStore::open_db(bool read_only) {
  // RocksDB logs an error for a missing folder before creating it.
  std::error_code ignored;
  if (!read_only) std::filesystem::create_directories(options_.path, ignored);
  rocksdb::Options db_options;
  db_options.create_if_missing = !read_only;
  db_options.create_missing_column_families = !read_only;
  db_options.max_background_jobs = 2;
  configure_faults(db_options);

  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  rocksdb::ColumnFamilyOptions cf_options;
  cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  cf_options.compression = rocksdb::kLZ4Compression;  // cheaper than snappy for flushes
  // No memtable_insert_with_hint_prefix_extractor: RocksDB 7.8 reuses those
  // insert hints for the range-tombstone memtable, and erase_user's
  // DeleteRange then corrupts it (an assertion in Debian's build).
  std::vector<rocksdb::ColumnFamilyDescriptor> families = {
      {rocksdb::kDefaultColumnFamilyName, cf_options},
      {std::string(keys::kEventsFamily), cf_options},
      {std::string(keys::kFeedFamily), cf_options},
      {std::string(keys::kIdempotencyFamily), cf_options},
      {std::string(keys::kSnapshotsFamily), cf_options},
      {std::string(keys::kKeysFamily), cf_options},
      {std::string(keys::kFeaturesFamily), cf_options},
  };
  if (read_only) {
    // A store written before the feature store existed has no such family;
    // read-only opens cannot add one.
    std::vector<std::string> existing;
    rocksdb::DB::ListColumnFamilies(db_options, options_.path, &existing);
    if (std::find(existing.begin(), existing.end(), keys::kFeaturesFamily) == existing.end())
      families.pop_back();
  }
  // A torn tail (the unacknowledged write of a crash) is recovered; a record
  // damaged mid-WAL refuses the open, where point-in-time recovery would
  // drop every acknowledged write after it without a word.
  db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  if (options_.recover_wal && !read_only) {
    auto damage = scan_wal(options_.path);
    if (!damage) return damage.error();
    if (*damage) {
      if (auto kept = preserve_damaged_wal(**damage); !kept) return kept;
      db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
    }
  }
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s =
      read_only ? rocksdb::DB::OpenForReadOnly(db_options, options_.path, families, &handles_, &raw)
                : rocksdb::DB::Open(db_options, options_.path, families, &handles_, &raw);
  if (s.IsCorruption()) {
    auto damage = scan_wal(options_.path);
    std::string loss = damage && *damage ? "the WAL " + (*damage)->file + " is damaged at byte " +
                                               std::to_string((*damage)->offset) +
                                               "; recovering to the last good point would drop " +
                                               describe_loss(**damage)
                                         : "the store is damaged";
    return make_error(Errc::corrupted,
                      "cannot open event store at " + options_.path + ": " + loss + " (" +
                          s.ToString() +
                          "). Nothing was changed and the WAL is in place; to recover what is "
                          "intact, start once with --recover-wal (it keeps a copy of the WAL "
                          "and writes a report of every event it drops)");
  }
  open_lacked_space_ = s.IsNoSpace();
  if (!s.ok())
    return make_error(Errc::io_error,
                      "cannot open event store at " + options_.path + ": " + s.ToString());
  db_.reset(raw);
  events_cf_ = handles_[1];
  feed_cf_ = handles_[2];
  idempotency_cf_ = handles_[3];
  snapshots_cf_ = handles_[4];
  keys_cf_ = handles_[5];
  features_cf_ = handles_.size() > 6 ? handles_[6] : nullptr;
  return check_master_key();
}

// Before a point-in-time recovery: the damaged WAL files are copied aside
// (the recovery deletes them) and what is dropped is written down.
Status EventStore::preserve_damaged_wal(const WalDamage& damage) {
  auto stamp = std::to_string(std::time(nullptr));
  std::filesystem::path copy = options_.path + ".wal-" + stamp;
  std::error_code error;
  std::filesystem::create_directories(copy, error);
  for (const auto& entry : std::filesystem::directory_iterator(options_.path, error))
    if (entry.path().extension() == ".log")
      std::filesystem::copy_file(entry.path(), copy / entry.path().filename(), error);
  if (error) return make_error(Errc::io_error, "cannot copy the WAL to " + copy.string());
  std::string report =
      "{\"wal\":\"" + damage.file + "\",\"damaged_at\":" + std::to_string(damage.offset) +
      ",\"copy\":\"" + copy.string() +
      "\",\"records_dropped\":" + std::to_string(damage.lost_records) + ",\"events_dropped\":[";
  for (size_t i = 0; i < damage.lost.size(); ++i)
    report += (i ? "," : "") + std::string("{\"user\":\"") + damage.lost[i].user.to_string() +
              "\",\"sequence\":" + std::to_string(damage.lost[i].sequence) + "}";
  report += "]}\n";
  wal_report_ = copy.string() + ".json";
  std::ofstream out(wal_report_);
  out << report;
  out.close();
  if (!out) return make_error(Errc::io_error, "cannot write the WAL report " + wal_report_);
  return Ok{};
}

// The first open seals a known value with the master key; every later open
// must be able to open it, so a wrong key is refused at start, not found out
// later as unreadable data.
Status EventStore::check_master_key() {
  static constexpr std::string_view kPlain = "coach master key check";
  std::string stored;
  auto s = db_->Get(rocksdb::ReadOptions(), handles_[0], keys::kKeyCheck, &stored);
  if (s.IsNotFound()) {
    if (options_.read_only) return Ok{};
    s = db_->Put(rocksdb::WriteOptions(), handles_[0], keys::kKeyCheck,
                 seal_bytes(options_.master_key, kPlain, keys::kKeyCheck));
    if (!s.ok()) return write_failed(s, "cannot write the master key check");
    return Ok{};
  }
  if (!s.ok()) return read_failed(s, "cannot read the master key check");
  std::string plain;
  if (!open_bytes(options_.master_key, stored, keys::kKeyCheck, plain) || plain != kPlain)
    return make_error(Errc::permission_denied, "the master key does not match the store at " +
                                                   options_.path +
                                                   " (wrong COACH_MASTER_KEY or key file?)");
  return Ok{};
}

Result<std::optional<SecretKey>> EventStore::data_key(const Uuid& user, NewKey create,
                                                      std::string* wrapped_pending) const {
  std::lock_guard lock(data_keys_mu_);
  if (auto it = data_keys_.find(user); it != data_keys_.end()) {
    auto pending = pending_keys_.find(user);
    if (pending != pending_keys_.end()) {
      if (create == NewKey::pending && wrapped_pending) {
        *wrapped_pending = pending->second;
      } else if (create != NewKey::pending) {
        // Sealing something other than events: the key goes to disk now
        // (and first to the replica, like an append's).
        if (auto writable = check_writable(); !writable) return writable.error();
        if (options_.replica)
          if (auto put = options_.replica->put_key(user, pending->second); !put) return put.error();
        rocksdb::WriteOptions sync;
        sync.sync = options_.sync;
        auto s = db_->Put(sync, keys_cf_, keys::user_key(user), pending->second);
        if (!s.ok()) return write_failed(s, "cannot store a new data key");
        pending_keys_.erase(pending);
      }
    }
    return std::optional<SecretKey>{it->second};
  }
  note_blocking("data_key");  // not cached yet: read from RocksDB
  std::string wrapped;
  auto s = db_->Get(rocksdb::ReadOptions(), keys_cf_, keys::user_key(user), &wrapped);
  if (s.ok()) {
    auto key = unwrap_data_key(options_.master_key, wrapped, user);
    if (!key) return key.error();
    data_keys_.emplace(user, *key);
    return std::optional<SecretKey>{std::move(*key)};
  }
  if (!s.IsNotFound()) return read_failed(s, "cannot read the data key");
  if (create == NewKey::none || options_.read_only) return std::optional<SecretKey>{};
  // Only here can an erased user come back (their key is gone, cached or
  // not), so this is the one place, off the hot path, that checks it.
  std::string tombstone;
  s = db_->Get(rocksdb::ReadOptions(), handles_[0], keys::tombstone_key(user), &tombstone);
  if (s.ok())
    return make_error(Errc::not_found,
                      "user " + user.to_string() + " was deleted; the id cannot be used again");
  if (!s.IsNotFound()) return read_failed(s, "cannot read tombstone");
  auto key = SecretKey::random();
  wrapped = wrap_data_key(options_.master_key, key, user);
  if (create == NewKey::pending && wrapped_pending) {
    // Stored in the same WriteBatch as the first events sealed with it.
    *wrapped_pending = wrapped;
    pending_keys_[user] = std::move(wrapped);
  } else {
    if (auto writable = check_writable(); !writable) return writable.error();
    if (options_.replica)
      if (auto put = options_.replica->put_key(user, wrapped); !put) return put.error();
    rocksdb::WriteOptions sync;
    sync.sync = options_.sync;
    s = db_->Put(sync, keys_cf_, keys::user_key(user), wrapped);
    if (!s.ok()) return write_failed(s, "cannot store a new data key");
  }
  data_keys_.emplace(user, key);
  return std::optional<SecretKey>{std::move(key)};
}

Result<uint64_t> EventStore::load_feed_head() const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), feed_cf_));
  it->SeekToLast();
  if (!it->status().ok()) return read_failed(it->status(), "cannot read the feed head");
  if (!it->Valid()) return uint64_t{0};
  if (it->key().size() != 8) return make_error(Errc::corrupted, "feed key of wrong size");
  return keys::get_u64(it->key().data());
}

Result<AppendResult> EventStore::append(const Uuid& user, uint64_t expected_version,
                                        const std::vector<v1::TaskEvent>& events,
                                        std::string_view reply) {
  note_blocking("append");
  std::mutex mu;
  std::condition_variable cv;
  std::optional<Result<AppendResult>> outcome;
  append_async(
      user, expected_version, events,
      [&](Result<AppendResult> r) {
        std::lock_guard lock(mu);  // notify under the lock: cv lives on our stack
        outcome = std::move(r);
        cv.notify_one();
      },
      reply);
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return outcome.has_value(); });
  return std::move(*outcome);
}

void EventStore::append_async(const Uuid& user, uint64_t expected_version,
                              const std::vector<v1::TaskEvent>& events, AppendCallback done,
                              std::string_view reply) {
  auto request = [&]() -> Result<std::unique_ptr<Request>> {
    Hold hold(*this);
    if (!hold) return hold.error();
    return prepare(user, expected_version, events, reply);
  }();
  if (!request) return done(request.error());
  (*request)->done = std::move(done);
  writer_->enqueue(std::move(*request));
}

// Validation and serialization happen in the caller's thread, so that the
// writer thread only checks versions and writes.
Result<std::unique_ptr<EventStore::Request>> EventStore::prepare(
    const Uuid& user, uint64_t expected_version, const std::vector<v1::TaskEvent>& events,
    std::string_view reply) const {
  if (!writer_) return make_error(Errc::invalid_argument, "store is open read-only");
  if (auto writable = check_writable(); !writable) return writable.error();
  if (events.empty()) return make_error(Errc::empty_batch, "append needs at least one event");
  if (events.size() > options_.max_batch_events)
    return make_error(Errc::invalid_argument, "batch of " + std::to_string(events.size()) +
                                                  " events; the limit is " +
                                                  std::to_string(options_.max_batch_events));
  auto request = std::make_unique<Request>();
  auto key = data_key(user, NewKey::pending, &request->new_key);  // refuses erased users
  if (!key) return key.error();
  const SecretKey& sealing = **key;
  request->user = user;
  request->expected_version = expected_version;
  request->values.reserve(events.size());
  request->event_keys.reserve(events.size());
  const std::string user_text = user.to_string();
  size_t replicated_bytes = 0;  // about what one message of the log will carry
  for (size_t i = 0; i < events.size(); ++i) {
    const auto& event = events[i];
    if (event.user_id() != user_text)
      return make_error(Errc::user_mismatch, "event " + event.event_id() + " belongs to user '" +
                                                 event.user_id() + "', not " + user_text);
    uint64_t want = expected_version + 1 + i;
    if (event.sequence() != want)
      return make_error(Errc::sequence_gap, "event " + event.event_id() + " has sequence " +
                                                std::to_string(event.sequence()) +
                                                "; the next sequence after version " +
                                                std::to_string(expected_version) + " is " +
                                                std::to_string(want));
    auto event_key = keys::event_key(user, want);
    auto value = encode_event(event, options_.max_event_bytes, sealing, event_key);
    if (!value) return value.error();
    replicated_bytes += value->size() + 2 * event_key.size() + 64;
    request->values.push_back(std::move(*value));
    request->event_keys.push_back(std::move(event_key));
    if (event.idempotency_key().empty()) continue;
    // Stored as a keyed hash: client-chosen keys may say what the command was.
    auto hashed = keyed_hash(sealing, event.idempotency_key());
    auto& hashes = request->idempotency_keys;
    if (std::find(hashes.begin(), hashes.end(), hashed) == hashes.end()) hashes.push_back(hashed);
  }
  if (options_.replica && replicated_bytes + reply.size() * request->idempotency_keys.size() >
                              options_.replica->max_group_bytes())
    return make_error(Errc::payload_too_large,
                      "an append of about " + std::to_string(replicated_bytes) +
                          " bytes; with a replicated log one append holds at most " +
                          std::to_string(options_.replica->max_group_bytes()) + " bytes");
  if (!request->idempotency_keys.empty()) {
    request->sealing = sealing;
    request->reply = std::string(reply);
    for (const auto& hashed : request->idempotency_keys)
      request->sealed_replies.push_back(
          reply.empty() ? std::string() : seal_bytes(sealing, reply, reply_context(user, hashed)));
  }
  return request;
}

// Runs on the writer thread only.
void EventStore::commit_group(std::vector<std::unique_ptr<Request>>& group) {
  Hold hold(*this);
  Status usable = hold ? check_writable() : Status(hold.error());
  if (!usable) {
    for (auto& req : group) req->result = usable.error();
    return;
  }
  const bool replicated = options_.replica != nullptr;
  if (replicated) {
    // The group is checked against heads that must include everything in
    // the replica: after a failed append, read it first.
    std::lock_guard replica_lock(replica_mu_);
    Status ready = replica_fenced_ ? Status(*replica_fenced_) : Status(Ok{});
    if (ready && replica_unsure_) ready = catch_up(/*at_open=*/false);
    if (!ready) {
      for (auto& req : group) req->result = ready.error();
      return;
    }
  }
  auto& heads = writer_->heads;
  if (heads.size() > kMaxCachedHeads) heads.clear();
  const uint64_t first_position = writer_->next_position;
  uint64_t position = first_position;
  rocksdb::WriteBatch batch;
  std::unordered_map<std::string, AppendResult> keys_in_group;
  size_t accepted = 0;
  // With a replica: what it gets, one WriteBatch per append, without the
  // data keys (they go to the replica apart, so that erasure shreds them).
  ReplicatedGroup replicated_group;
  // Answered from an append earlier in this group: it stands or falls with it.
  std::vector<Request*> in_group_duplicates;

  for (auto& req : group) {
    // A known idempotency key answers with the original result.
    std::optional<Result<AppendResult>> answer;
    for (const auto& key : req->idempotency_keys) {
      auto full = keys::idempotency_key(req->user, key);
      if (auto it = keys_in_group.find(full); it != keys_in_group.end()) {
        AppendResult dup = it->second;
        dup.duplicate = true;
        answer = dup;
        in_group_duplicates.push_back(req.get());
        break;
      }
      auto stored = find_hashed_key(req->user, key, req->sealing);
      if (!stored || stored->has_value()) {
        answer = stored ? Result<AppendResult>(**stored) : Result<AppendResult>(stored.error());
        break;
      }
    }
    if (answer) {
      req->result = std::move(*answer);
      continue;
    }

    uint64_t head;
    if (auto it = heads.find(req->user); it != heads.end()) {
      head = it->second;
    } else {
      auto v = version(req->user);
      if (!v) {
        req->result = v.error();
        continue;
      }
      head = *v;
    }
    if (head != req->expected_version) {
      req->result = make_error(Errc::wrong_expected_version,
                               "user " + req->user.to_string() + " is at version " +
                                   std::to_string(head) + ", the command expected version " +
                                   std::to_string(req->expected_version) + "; reload and retry");
      continue;
    }

    // A new user's key is in the replica before any event sealed with it.
    if (replicated && !req->new_key.empty())
      if (auto put = options_.replica->put_key(req->user, req->new_key); !put) {
        req->result = put.error();
        continue;
      }
    AppendResult result{head + 1, head + req->values.size(), position, false, {}};
    // Into the group's batch and, with a replica, this append's own.
    rocksdb::WriteBatch one;
    auto put = [&](rocksdb::ColumnFamilyHandle* family, const rocksdb::Slice& key,
                   const rocksdb::Slice& value) {
      batch.Put(family, key, value);
      if (replicated) one.Put(family, key, value);
    };
    // head == expected_version: the keys built when the values were sealed.
    for (size_t i = 0; i < req->values.size(); ++i) {
      put(events_cf_, req->event_keys[i], req->values[i]);
      put(feed_cf_, keys::feed_key(position++), req->event_keys[i]);
    }
    std::string range;
    keys::put_u64(range, result.first_sequence);
    keys::put_u64(range, result.last_sequence);
    keys::put_u64(range, result.first_position);
    AppendResult in_group = result;
    in_group.reply = req->reply;
    for (size_t k = 0; k < req->idempotency_keys.size(); ++k) {
      auto full = keys::idempotency_key(req->user, req->idempotency_keys[k]);
      put(idempotency_cf_, full, range + req->sealed_replies[k]);
      keys_in_group.emplace(std::move(full), in_group);
    }
    if (!req->new_key.empty()) batch.Put(keys_cf_, keys::user_key(req->user), req->new_key);
    if (replicated) {
      replicated_group.batches.push_back(one.Data());
      if (!req->new_key.empty()) replicated_group.new_keys.push_back(req->user);
    }
    heads[req->user] = result.last_sequence;
    req->result = result;
    ++accepted;
  }
  if (accepted == 0) return;

  std::unique_lock<std::mutex> replica_lock;
  if (replicated) {
    replica_lock = std::unique_lock(replica_mu_);
    if (auto stored = replicate(replicated_group, batch); !stored) {
      heads.clear();  // nothing of the group is stored here
      for (auto& req : group)
        if (req->result && *req->result && !(*req->result)->duplicate) req->result = stored.error();
      for (auto* req : in_group_duplicates) req->result = stored.error();
      return;
    }
  }
  rocksdb::WriteOptions write_options;
  write_options.sync = options_.sync;
  auto write_start = std::chrono::steady_clock::now();
  auto s = db_->Write(write_options, &batch);
  auto write_time = std::chrono::steady_clock::now() - write_start;
  stat_write_micros_.fetch_add(static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(write_time).count()));
  write_seconds_.observe(std::chrono::duration<double>(write_time).count());
  if (!s.ok()) {
    // Nothing of the group is stored: forget the tentative heads and
    // positions, and tell every appender of the group. With a replica the
    // group is in it already: read it back before the next group.
    heads.clear();
    if (replicated) {
      replica_unsure_ = true;
      auto failed = write_failed(s, "append not written here");
      for (auto& req : group)
        req->result = make_error(Errc::unavailable,
                                 failed.message +
                                     "; it is in the replicated log and may be stored: retry "
                                     "with the same idempotency key");
      return;
    }
    for (auto& req : group) req->result = write_failed(s, "append failed, nothing stored");
    return;
  }
  {
    // New users' keys written with this group are on disk now.
    std::lock_guard lock(data_keys_mu_);
    for (const auto& req : group)
      if (!req->new_key.empty() && req->result && *req->result && !(*req->result)->duplicate)
        if (auto it = pending_keys_.find(req->user);
            it != pending_keys_.end() && it->second == req->new_key)
          pending_keys_.erase(it);
  }
  writer_->next_position = position;
  feed_head_.store(position - 1, std::memory_order_release);
  stat_appends_.fetch_add(accepted, std::memory_order_relaxed);
  stat_events_.fetch_add(position - first_position, std::memory_order_relaxed);
  stat_groups_.fetch_add(1, std::memory_order_relaxed);
  group_appends_.observe(static_cast<double>(accepted));
  uint64_t largest = stat_largest_group_.load(std::memory_order_relaxed);
  while (accepted > largest && !stat_largest_group_.compare_exchange_weak(largest, accepted)) {
  }
}

Result<std::optional<AppendResult>> EventStore::find_idempotency_key(const Uuid& user,
                                                                     std::string_view key) const {
  note_blocking("find_idempotency_key");
  Hold hold(*this);
  if (!hold) return hold.error();
  auto sealing = data_key(user, NewKey::none);
  if (!sealing) return sealing.error();
  if (!*sealing) return std::optional<AppendResult>{};  // no data key: nothing stored yet
  return find_hashed_key(user, keyed_hash(**sealing, key), **sealing);
}

Result<std::optional<AppendResult>> EventStore::find_hashed_key(const Uuid& user,
                                                                std::string_view hashed,
                                                                const SecretKey& sealing) const {
  std::string stored;
  auto s = db_->Get(rocksdb::ReadOptions(), idempotency_cf_, keys::idempotency_key(user, hashed),
                    &stored);
  if (s.IsNotFound()) return std::optional<AppendResult>{};
  if (!s.ok()) return read_failed(s, "cannot read idempotency key");
  auto corrupted = [&] {
    return make_error(Errc::corrupted,
                      "idempotency entry of user " + user.to_string() + " is corrupted");
  };
  // 24 bytes of range, then the sealed reply (none in rows of older builds).
  if (stored.size() < 24) return corrupted();
  AppendResult found{keys::get_u64(stored.data()),
                     keys::get_u64(stored.data() + 8),
                     keys::get_u64(stored.data() + 16),
                     true,
                     {}};
  std::string_view sealed = std::string_view(stored).substr(24);
  if (!sealed.empty() && !open_bytes(sealing, sealed, reply_context(user, hashed), found.reply))
    return corrupted();
  return std::optional<AppendResult>{std::move(found)};
}

void EventStore::forget_data_key(const Uuid& user) const {
  std::lock_guard lock(data_keys_mu_);
  data_keys_.erase(user);  // SecretKey wipes itself
  pending_keys_.erase(user);
}

size_t EventStore::cached_data_keys() const {
  std::lock_guard lock(data_keys_mu_);
  return data_keys_.size();
}

Status EventStore::warm_data_key(const Uuid& user) const {
  note_blocking("warm_data_key");
  Hold hold(*this);
  if (!hold) return hold.error();
  std::string ignored;
  auto key = data_key(user, NewKey::pending, &ignored);
  if (!key) return key.error();
  return Ok{};
}

Result<uint64_t> EventStore::version(const Uuid& user) const {
  note_blocking("version");
  Hold hold(*this);
  if (!hold) return hold.error();
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), events_cf_));
  auto last = keys::event_key(user, UINT64_MAX);
  it->SeekForPrev(last);
  if (!it->status().ok()) return read_failed(it->status(), "cannot read stream head");
  if (!it->Valid()) return uint64_t{0};
  Uuid found;
  uint64_t sequence = 0;
  if (!keys::parse_event_key({it->key().data(), it->key().size()}, found, sequence) ||
      found != user)
    return uint64_t{0};
  return sequence;
}

Result<std::vector<v1::TaskEvent>> EventStore::read(const Uuid& user, uint64_t from_sequence,
                                                    size_t max_count) const {
  note_blocking("read");
  Hold hold(*this);
  if (!hold) return hold.error();
  if (from_sequence == 0) return make_error(Errc::invalid_argument, "from_sequence starts at 1");
  auto lower = keys::event_key(user, from_sequence);
  auto upper = keys::event_key(user, UINT64_MAX);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions read_options;
  read_options.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read_options, events_cf_));

  auto sealing = data_key(user, NewKey::none);
  if (!sealing) return sealing.error();
  if (!*sealing)
    return make_error(Errc::unknown_stream, "no events stored for user " + user.to_string());
  std::vector<v1::TaskEvent> events;
  uint64_t want = from_sequence;
  const std::string user_text = user.to_string();  // once, not per event
  for (it->Seek(lower); it->Valid() && events.size() < max_count; it->Next()) {
    Uuid found;
    uint64_t sequence = 0;
    std::string_view key(it->key().data(), it->key().size());
    keys::parse_event_key(key, found, sequence);
    if (sequence != want)
      return make_error(Errc::corrupted, "stream of user " + user.to_string() +
                                             " has a gap: sequence " + std::to_string(want) +
                                             " is missing (next stored is " +
                                             std::to_string(sequence) + ")");
    auto event = decode_event({it->value().data(), it->value().size()}, user, user_text, sequence,
                              key, **sealing);
    if (!event) return event.error();
    events.push_back(std::move(*event));
    ++want;
  }
  if (!it->status().ok()) return read_failed(it->status(), "cannot read stream");
  if (events.empty() && from_sequence == 1)
    return make_error(Errc::unknown_stream, "no events stored for user " + user.to_string());
  return events;
}

Result<FeedPage> EventStore::read_feed(uint64_t from_position, size_t max_count) const {
  note_blocking("read_feed");
  Hold hold(*this);
  if (!hold) return hold.error();
  if (from_position == 0) return make_error(Errc::invalid_argument, "feed positions start at 1");
  FeedPage page;
  page.next_position = from_position;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), feed_cf_));
  std::string value;
  for (it->Seek(keys::feed_key(from_position)); it->Valid() && page.entries.size() < max_count;
       it->Next()) {
    uint64_t position = keys::get_u64(it->key().data());
    page.next_position = position + 1;
    Uuid user;
    uint64_t sequence = 0;
    if (!keys::parse_event_key({it->value().data(), it->value().size()}, user, sequence))
      return make_error(Errc::corrupted,
                        "feed entry " + std::to_string(position) + " is corrupted");
    auto s = db_->Get(rocksdb::ReadOptions(), events_cf_, it->value(), &value);
    if (s.IsNotFound()) continue;  // the user's data was erased
    if (!s.ok()) return read_failed(s, "cannot read feed event");
    auto sealing = data_key(user, NewKey::none);
    if (!sealing) return sealing.error();
    if (!*sealing) continue;  // the user's key was destroyed: their data is gone
    auto event = decode_event(value, user, sequence, **sealing);
    if (!event) return event.error();
    page.entries.push_back({position, std::move(*event)});
  }
  if (!it->status().ok()) return read_failed(it->status(), "cannot read feed");
  return page;
}

Status EventStore::save_snapshot(const Uuid& user, std::string_view projection,
                                 const Snapshot& snapshot) {
  note_blocking("save_snapshot");
  if (options_.read_only) return make_error(Errc::invalid_argument, "store is open read-only");
  Hold hold(*this);
  if (!hold) return hold.error();
  if (auto writable = check_writable(); !writable) return writable.error();
  auto sealing = data_key(user, NewKey::synced);
  if (!sealing) return sealing.error();
  // Not synced: a snapshot lost in a crash is rebuilt from the log.
  auto s = db_->Put(rocksdb::WriteOptions(), snapshots_cf_, keys::snapshot_key(user, projection),
                    encode_snapshot(snapshot, **sealing, user, projection));
  if (!s.ok()) return write_failed(s, "cannot save snapshot");
  return Ok{};
}

Result<std::optional<Snapshot>> EventStore::load_snapshot(const Uuid& user,
                                                          std::string_view projection) const {
  note_blocking("load_snapshot");
  Hold hold(*this);
  if (!hold) return hold.error();
  std::string value;
  auto s =
      db_->Get(rocksdb::ReadOptions(), snapshots_cf_, keys::snapshot_key(user, projection), &value);
  if (s.IsNotFound()) return std::optional<Snapshot>{};
  if (!s.ok()) return read_failed(s, "cannot load snapshot");
  auto sealing = data_key(user, NewKey::none);
  if (!sealing) return sealing.error();
  if (!*sealing) return std::optional<Snapshot>{};
  auto snapshot = decode_snapshot(value, user, projection, **sealing);
  if (!snapshot) return snapshot.error();
  return std::optional<Snapshot>{std::move(*snapshot)};
}

Status EventStore::flush() {
  note_blocking("flush");
  if (options_.read_only) return Ok{};
  Hold hold(*this);
  if (!hold) return hold.error();
  if (auto writable = check_writable(); !writable) return writable.error();
  rocksdb::FlushOptions flush_options;
  auto s = db_->Flush(flush_options, handles_);
  if (!s.ok()) return write_failed(s, "flush failed");
  return Ok{};
}

Status EventStore::erase_user(const Uuid& user, std::chrono::system_clock::time_point when) {
  note_blocking("erase_user");
  if (options_.read_only) return make_error(Errc::invalid_argument, "store is open read-only");
  Hold hold(*this);
  if (!hold) return hold.error();
  if (auto writable = check_writable(); !writable) return writable.error();
  auto from = keys::user_key(user), to = keys::after_user(user);
  std::string tombstone;
  keys::put_u64(
      tombstone,
      static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch()).count()));
  rocksdb::WriteBatch batch;
  batch.Delete(keys_cf_, from);
  for (auto* family : {events_cf_, snapshots_cf_, idempotency_cf_, features_cf_})
    batch.DeleteRange(family, from, to);
  batch.Put(handles_[0], keys::tombstone_key(user), tombstone);
  std::unique_lock<std::mutex> replica_lock;
  if (options_.replica) {
    // The user's key leaves NATS first: from then on the user's groups in
    // the log are ciphertext nobody can open, whatever happens next. The
    // erasure then goes through the log like any write, so that a node
    // catching up erases too (and shreds again, in case this one died).
    if (auto shredded = options_.replica->shred_key(user); !shredded) return shredded;
    replica_lock = std::unique_lock(replica_mu_);
    ReplicatedGroup erasure;
    erasure.batches.push_back(batch.Data());
    erasure.erased = user;
    if (auto stored = replicate(erasure, batch); !stored) return stored;
  }
  rocksdb::WriteOptions sync;
  sync.sync = true;
  auto s = db_->Write(sync, &batch);
  if (!s.ok()) {
    if (options_.replica) replica_unsure_ = true;
    return write_failed(s, "cannot erase user " + user.to_string());
  }
  if (replica_lock) replica_lock.unlock();  // the purge below is slow; appends go on
  {
    std::lock_guard lock(data_keys_mu_);
    data_keys_.erase(user);  // SecretKey wipes itself
    pending_keys_.erase(user);
  }
  return purge_erased_key(user);
}

// The Delete above only hides the wrapped key: its value stays in the WAL
// files and SST files that hold it until compactions nothing forces. So:
// - every family's memtable is flushed, which makes each WAL file written
//   before the erase (and so every copy of the key in a WAL) obsolete;
// - the user's range of the keys family is compacted to the bottom level,
//   where the key's value and its deletion meet and both are dropped;
// - obsolete files are deleted on this thread before returning (enabling
//   file deletions with force purges at once) instead of in the background.
// RocksDB keeps no WAL archive here (WAL_ttl_seconds and WAL_size_limit_MB
// are 0) and recycles no WAL file (recycle_log_file_num is 0).
Status EventStore::purge_erased_key(const Uuid& user) {
  rocksdb::FlushOptions flush_options;
  flush_options.wait = true;
  flush_options.allow_write_stall = true;
  auto s = db_->Flush(flush_options, handles_);
  if (!s.ok()) return write_failed(s, "cannot flush after erasing user " + user.to_string());
  auto from = keys::user_key(user), to = keys::after_user(user);
  rocksdb::Slice begin(from), end(to);
  rocksdb::CompactRangeOptions compact_options;
  compact_options.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  s = db_->CompactRange(compact_options, keys_cf_, &begin, &end);
  if (!s.ok()) return write_failed(s, "cannot compact the key of erased user " + user.to_string());
  s = db_->DisableFileDeletions();
  if (s.ok()) s = db_->EnableFileDeletions(/*force=*/true);
  if (!s.ok())
    return write_failed(s, "cannot delete the files that held erased user " + user.to_string());
  return Ok{};
}

Status EventStore::replicate(ReplicatedGroup& group, rocksdb::WriteBatch& batch) {
  if (replica_fenced_) return *replica_fenced_;
  if (replica_unsure_)  // set by a concurrent erasure: read the log first
    return make_error(Errc::unavailable,
                      "the replicated log is being read back after a failed write; retry");
  group.writer = options_.replica->writer_id();
  auto position = options_.replica->append(replica_position_, group);
  if (!position && position.error().code == Errc::conflict) {
    // The log moved past this store's position: by this node's own write
    // whose answer was lost, or by another node. The next group reads it
    // back first, and fences this node in the second case.
    replica_unsure_ = true;
    return make_error(Errc::unavailable, "the replicated log moved past position " +
                                             std::to_string(replica_position_) +
                                             "; reading it back, retry");
  }
  if (!position) {
    replica_unsure_ = true;  // the group may be stored there: read before the next
    return make_error(Errc::unavailable, "the replicated log did not acknowledge the write (" +
                                             position.error().message + "); retry");
  }
  replica_position_ = *position;
  stat_replica_position_.store(*position);
  std::string value;
  keys::put_u64(value, *position);
  batch.Put(handles_[0], keys::kReplicaPosition, value);
  return Ok{};
}

// An empty group right after what was caught up: from here on the append
// of any node that has not read it (a stale owner, paused or with
// publishes buffered in its client) fails the fence.
Status EventStore::claim_replica() {
  ReplicatedGroup claim;
  rocksdb::WriteBatch batch;
  if (auto stored = replicate(claim, batch); !stored)
    return make_error(Errc::unavailable,
                      "cannot claim the replicated log: " + stored.error().message);
  rocksdb::WriteOptions synced;
  synced.sync = options_.sync;
  if (auto s = db_->Write(synced, &batch); !s.ok())
    return write_failed(s, "cannot store the replicated log's position");
  return Ok{};
}

Status EventStore::fence_replica(std::string why) {
  replica_fenced_ = make_error(Errc::conflict, std::move(why));
  if (options_.log) options_.log(StoreLogLevel::error, false, replica_fenced_->message);
  if (options_.on_fenced) options_.on_fenced(replica_fenced_->message);
  return *replica_fenced_;
}

Status EventStore::catch_up(bool at_open) {
  std::string stored;
  auto s = db_->Get(rocksdb::ReadOptions(), handles_[0], keys::kReplicaPosition, &stored);
  if (s.ok() && stored.size() == 8) {
    replica_position_ = keys::get_u64(stored.data());
  } else if (!s.IsNotFound()) {
    return read_failed(s, "cannot read the replicated log's position");
  }
  auto head_before = load_feed_head();
  if (!head_before) return head_before.error();
  if (replica_position_ == 0 && *head_before > 0)
    return make_error(Errc::invalid_argument,
                      "the store at " + options_.path +
                          " holds events written without a replicated log, which other nodes "
                          "cannot have: start a replicated node with an empty data dir");
  for (;;) {
    auto groups = options_.replica->read(replica_position_, 256);
    if (!groups)
      return make_error(Errc::unavailable,
                        "cannot read the replicated log: " + groups.error().message);
    if (groups->empty()) break;
    for (const auto& group : *groups) {
      bool foreign = group.writer != options_.replica->writer_id();
      // While serving, only this node's own groups can follow its position
      // (a write whose acknowledgement was lost); another's means it lost
      // the log.
      if (foreign && !at_open)
        return fence_replica("node " + group.writer +
                             " appended to the replicated log at position " +
                             std::to_string(group.position) +
                             ": this node no longer owns it and writes nothing more");
      if (auto applied = apply_replicated(group); !applied) return applied;
      if (foreign) stat_caught_up_groups_.fetch_add(1);
    }
  }
  auto head = load_feed_head();
  if (!head) return head.error();
  stat_caught_up_events_.fetch_add(*head - *head_before);
  stat_replica_position_.store(replica_position_);
  reset_writer(*head);
  replica_unsure_ = false;
  return Ok{};
}

// Applying a group again (a crash before its position was written) changes
// nothing: its writes are puts and deletes of the same keys.
Status EventStore::apply_replicated(const ReplicatedGroup& group) {
  rocksdb::WriteOptions unsynced;
  if (!group.new_keys.empty() && group.writer != options_.replica->writer_id()) {
    // Another writer made these users' keys: any made here is void.
    std::lock_guard lock(data_keys_mu_);
    for (const auto& user : group.new_keys) {
      data_keys_.erase(user);
      pending_keys_.erase(user);
    }
  }
  for (const auto& user : group.new_keys) {
    std::string present;
    auto s = db_->Get(rocksdb::ReadOptions(), keys_cf_, keys::user_key(user), &present);
    if (s.ok()) continue;
    if (!s.IsNotFound()) return read_failed(s, "cannot read a data key");
    auto wrapped = options_.replica->get_key(user);
    if (!wrapped) return make_error(Errc::unavailable, wrapped.error().message);
    if (!*wrapped) continue;  // shredded: an erasure of the user follows in the log
    s = db_->Put(unsynced, keys_cf_, keys::user_key(user), **wrapped);
    if (!s.ok()) return write_failed(s, "cannot store a replicated data key");
  }
  for (const auto& data : group.batches) {
    rocksdb::WriteBatch batch(data);
    auto s = db_->Write(unsynced, &batch);
    if (!s.ok()) return write_failed(s, "cannot apply a replicated group");
  }
  std::string value;
  keys::put_u64(value, group.position);
  rocksdb::WriteOptions synced;
  synced.sync = options_.sync;
  auto s = db_->Put(synced, handles_[0], keys::kReplicaPosition, value);
  if (!s.ok()) return write_failed(s, "cannot store the replicated log's position");
  replica_position_ = group.position;
  if (group.erased) {
    {
      std::lock_guard lock(data_keys_mu_);
      data_keys_.erase(*group.erased);
      pending_keys_.erase(*group.erased);
    }
    if (auto purged = purge_erased_key(*group.erased); !purged) return purged;
    // Shredded again (idempotent): the erasing node may have died before.
    if (auto shredded = options_.replica->shred_key(*group.erased); !shredded)
      return make_error(Errc::unavailable, shredded.error().message);
  }
  return Ok{};
}

Result<std::optional<std::chrono::system_clock::time_point>> EventStore::erased_at(
    const Uuid& user) const {
  note_blocking("erased_at");
  Hold hold(*this);
  if (!hold) return hold.error();
  using Optional = std::optional<std::chrono::system_clock::time_point>;
  std::string stored;
  auto s = db_->Get(rocksdb::ReadOptions(), handles_[0], keys::tombstone_key(user), &stored);
  if (s.IsNotFound()) return Optional{};
  if (!s.ok()) return read_failed(s, "cannot read tombstone");
  if (stored.size() != 8) return make_error(Errc::corrupted, "tombstone of user is corrupted");
  return Optional{std::chrono::system_clock::time_point(
      std::chrono::milliseconds(static_cast<int64_t>(keys::get_u64(stored.data()))))};
}

Status EventStore::compact() {
  note_blocking("compact");
  if (options_.read_only) return Ok{};
  Hold hold(*this);
  if (!hold) return hold.error();
  if (auto writable = check_writable(); !writable) return writable.error();
  rocksdb::CompactRangeOptions compact_options;
  compact_options.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  for (auto* handle : handles_) {
    auto s = db_->CompactRange(compact_options, handle, nullptr, nullptr);
    if (!s.ok()) return write_failed(s, "compaction failed");
  }
  return Ok{};
}

StoreStats EventStore::stats() const {
  return {stat_appends_.load(),
          stat_events_.load(),
          stat_groups_.load(),
          stat_largest_group_.load(),
          feed_head_.load(),
          stat_write_micros_.load(),
          group_appends_.snapshot(),
          write_seconds_.snapshot(),
          blocking_on_scheduler_.load(),
          stat_replica_position_.load(),
          stat_caught_up_groups_.load(),
          stat_caught_up_events_.load()};
}

void EventStore::note_blocking(const char* call) const {
  if (!thread_is_nonblocking()) return;
  if (blocking_on_scheduler_.fetch_add(1, std::memory_order_relaxed) == 0 && options_.log)
    options_.log(StoreLogLevel::warning, false,
                 std::string("blocking store call ") + call +
                     " on a thread that must not block (a CAF scheduler thread); "
                     "further ones are only counted");
}

}  // namespace coach::events
