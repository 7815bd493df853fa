// EventStore's feature store, node metadata and user listing (declared in
// event_store.h; kept apart from the log's code).
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <memory>

#include "events/envelope.h"
#include "events/event_store.h"
#include "events/keys.h"
#include "events/store_hold.h"

namespace coach::events {
namespace {

using TimePoint = std::chrono::system_clock::time_point;

int64_t micros_of(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

// Each feature snapshot is sealed to its place, as a projection snapshot
// named after its instant would be.
std::string place_of(uint64_t as_of_micros) {
  std::string place = "features/";
  keys::put_u64(place, as_of_micros);
  return place;
}

std::string meta_key(std::string_view name) {
  return "meta/" + std::string(name);
}

}  // namespace

Status EventStore::put_features(const Uuid& user,
                                const std::vector<v1::FeatureSnapshot>& snapshots) {
  note_blocking("put_features");
  if (options_.read_only) return make_error(Errc::invalid_argument, "store is open read-only");
  Hold hold(*this);
  if (!hold) return hold.error();
  if (auto writable = check_writable(); !writable) return writable.error();
  if (snapshots.empty()) return Ok{};
  auto sealing = data_key(user, NewKey::synced);
  if (!sealing) return sealing.error();
  rocksdb::WriteBatch batch;
  for (const auto& snapshot : snapshots) {
    if (snapshot.user_id() != user.to_string())
      return make_error(Errc::user_mismatch, "feature snapshot of user '" + snapshot.user_id() +
                                                 "' given for user " + user.to_string());
    int64_t micros =
        snapshot.has_created_at() ? micros_of(from_timestamp(snapshot.created_at())) : -1;
    if (micros < 0)
      return make_error(Errc::invalid_argument,
                        "a feature snapshot needs created_at, at or after 1970-01-01");
    auto as_of = static_cast<uint64_t>(micros);
    batch.Put(features_cf_, keys::features_key(user, as_of),
              encode_snapshot({snapshot.as_of_sequence(), snapshot.SerializeAsString()}, **sealing,
                              user, place_of(as_of)));
  }
  // No WAL: features are derived and rebuilt by the next batch run, and a
  // WAL write would queue the batch job's writes with the users' synced
  // appends (one RocksDB write path).
  rocksdb::WriteOptions options;
  options.disableWAL = true;
  auto s = db_->Write(options, &batch);
  if (!s.ok()) return write_failed(s, "cannot store features of user " + user.to_string());
  return Ok{};
}

Status EventStore::clear_features(const Uuid& user) {
  note_blocking("clear_features");
  if (options_.read_only) return make_error(Errc::invalid_argument, "store is open read-only");
  Hold hold(*this);
  if (!hold) return hold.error();
  if (auto writable = check_writable(); !writable) return writable.error();
  auto s = db_->DeleteRange(rocksdb::WriteOptions(), features_cf_, keys::user_key(user),
                            keys::after_user(user));
  if (!s.ok()) return write_failed(s, "cannot clear features of user " + user.to_string());
  return Ok{};
}

Result<std::vector<v1::FeatureSnapshot>> EventStore::feature_history(const Uuid& user,
                                                                     TimePoint from, TimePoint to,
                                                                     size_t max_count) const {
  note_blocking("feature_history");
  Hold hold(*this);
  if (!hold) return hold.error();
  std::vector<v1::FeatureSnapshot> out;
  if (!features_cf_ || to < from) return out;
  auto sealing = data_key(user, NewKey::none);
  if (!sealing) return sealing.error();
  if (!*sealing) return out;
  auto begin = static_cast<uint64_t>(std::max<int64_t>(0, micros_of(from)));
  auto end = keys::features_key(user, static_cast<uint64_t>(std::max<int64_t>(0, micros_of(to))));
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), features_cf_));
  for (it->Seek(keys::features_key(user, begin)); it->Valid() && out.size() < max_count;
       it->Next()) {
    auto key = it->key().ToStringView();
    if (key > std::string_view(end)) break;
    uint64_t as_of = keys::get_u64(key.data() + 16);
    auto opened = decode_snapshot(it->value().ToStringView(), user, place_of(as_of), **sealing);
    if (!opened) return opened.error();
    v1::FeatureSnapshot snapshot;
    if (!snapshot.ParseFromString(opened->state))
      return make_error(Errc::corrupted,
                        "feature snapshot of user " + user.to_string() + " does not parse");
    out.push_back(std::move(snapshot));
  }
  if (!it->status().ok()) return read_failed(it->status(), "cannot read features");
  return out;
}

Result<std::optional<v1::FeatureSnapshot>> EventStore::features_as_of(const Uuid& user,
                                                                      TimePoint as_of) const {
  note_blocking("features_as_of");
  Hold hold(*this);
  if (!hold) return hold.error();
  using Optional = std::optional<v1::FeatureSnapshot>;
  if (!features_cf_ || micros_of(as_of) < 0) return Optional{};
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), features_cf_));
  it->SeekForPrev(keys::features_key(user, static_cast<uint64_t>(micros_of(as_of))));
  if (!it->status().ok()) return read_failed(it->status(), "cannot read features");
  if (!it->Valid() || !it->key().starts_with(keys::user_key(user))) return Optional{};
  auto found = std::chrono::system_clock::time_point(
      std::chrono::microseconds(static_cast<int64_t>(keys::get_u64(it->key().data() + 16))));
  auto one = feature_history(user, found, found, 1);
  if (!one) return one.error();
  if (one->empty()) return Optional{};
  return Optional{std::move(one->front())};
}

Status EventStore::put_meta(std::string_view name, std::string_view value) {
  note_blocking("put_meta");
  if (options_.read_only) return make_error(Errc::invalid_argument, "store is open read-only");
  Hold hold(*this);
  if (!hold) return hold.error();
  if (auto writable = check_writable(); !writable) return writable.error();
  if (name.empty() || meta_key(name) == keys::kKeyCheck)
    return make_error(Errc::invalid_argument, "meta name '" + std::string(name) + "' is reserved");
  auto s = db_->Put(rocksdb::WriteOptions(), handles_[0], meta_key(name),
                    rocksdb::Slice(value.data(), value.size()));
  if (!s.ok()) return write_failed(s, "cannot store meta/" + std::string(name));
  return Ok{};
}

Result<std::optional<std::string>> EventStore::get_meta(std::string_view name) const {
  note_blocking("get_meta");
  Hold hold(*this);
  if (!hold) return hold.error();
  std::string value;
  auto s = db_->Get(rocksdb::ReadOptions(), handles_[0], meta_key(name), &value);
  if (s.IsNotFound()) return std::optional<std::string>{};
  if (!s.ok()) return read_failed(s, "cannot read meta/" + std::string(name));
  return std::optional<std::string>{std::move(value)};
}

Result<std::vector<Uuid>> EventStore::users() const {
  note_blocking("users");
  Hold hold(*this);
  if (!hold) return hold.error();
  std::vector<Uuid> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), keys_cf_));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto key = it->key().ToStringView();
    if (key.size() != 16) continue;
    out.push_back(Uuid::from_bytes(reinterpret_cast<const uint8_t*>(key.data())));
  }
  if (!it->status().ok()) return read_failed(it->status(), "cannot list users");
  return out;
}

}  // namespace coach::events
