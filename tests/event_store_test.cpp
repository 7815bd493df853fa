// The event store against a real RocksDB in a temporary directory.
#include <doctest/doctest.h>
#include <rocksdb/db.h>
#include <rocksdb/sst_file_reader.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "base/time.h"
#include "events/codec.h"
#include "events/crypto.h"
#include "events/event_store.h"
#include "events/keys.h"
#include "tests/support.h"

using namespace coach;
using namespace coach::events;
using coach::test::task_batch;
using coach::test::task_created;
using coach::test::TempDir;

namespace {

std::unique_ptr<EventStore> open_store(const TempDir& dir, bool sync = false) {
  return test::open_test_store(dir.str(), sync);
}

// Nothing stored anywhere: the user's version and the feed head are as before.
void check_nothing_stored(EventStore& store, const Uuid& user, uint64_t version,
                          uint64_t feed_head) {
  CHECK(*store.version(user) == version);
  CHECK(store.stats().feed_head == feed_head);
  auto page = store.read_feed(feed_head + 1, 10);
  REQUIRE(page);
  CHECK(page->entries.empty());
}

// An event as release 1 wrote it (schema_version 1: TaskCreated's fields
// flat), the shape events/upcast.h reads.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
v1::TaskEvent as_release_1_wrote_it(v1::TaskEvent event) {
  event.set_schema_version(1);
  auto* created = event.mutable_task_created();
  v1::TaskFields fields = created->fields();
  created->clear_fields();
  created->set_title(fields.title());
  created->set_description(fields.description());
  if (fields.has_due_at()) *created->mutable_due_at() = fields.due_at();
  created->set_category(fields.category());
  created->set_priority(fields.priority());
  created->set_estimated_minutes(fields.estimated_minutes());
  *created->mutable_tags() = fields.tags();
  return event;
}

// The same event with one v1 field set beside `fields`: a writer that mixed
// the shapes.
v1::TaskEvent with_a_v1_field(v1::TaskEvent event) {
  event.mutable_task_created()->set_title("flat");
  return event;
}
#pragma GCC diagnostic pop

}  // namespace

TEST_CASE("append then read returns the events in order") {
  TempDir dir;
  auto store = open_store(dir, /*sync=*/true);
  auto user = Uuid::random();
  CHECK(*store->version(user) == 0);

  auto first = store->append(user, 0, task_batch(user, 0, 3, "a"));
  REQUIRE(first);
  CHECK(first->first_sequence == 1);
  CHECK(first->last_sequence == 3);
  CHECK(first->first_position == 1);
  CHECK_FALSE(first->duplicate);
  auto second = store->append(user, 3, task_batch(user, 3, 2, "b"));
  REQUIRE(second);
  CHECK(second->last_sequence == 5);

  auto events = store->read(user);
  REQUIRE(events);
  REQUIRE(events->size() == 5);
  for (size_t i = 0; i < 5; ++i) CHECK((*events)[i].sequence() == i + 1);
  CHECK((*events)[0].task_created().fields().title() == "a 0");
  CHECK((*events)[4].task_created().fields().title() == "b 1");

  auto tail = store->read(user, 4);
  REQUIRE(tail);
  REQUIRE(tail->size() == 2);
  CHECK((*tail)[0].sequence() == 4);
  auto limited = store->read(user, 1, 2);
  REQUIRE(limited);
  CHECK(limited->size() == 2);
  CHECK(*store->version(user) == 5);
}

TEST_CASE("streams of different users are independent") {
  TempDir dir;
  auto store = open_store(dir);
  auto alice = Uuid::random(), bob = Uuid::random();
  REQUIRE(store->append(alice, 0, task_batch(alice, 0, 2)));
  REQUIRE(store->append(bob, 0, task_batch(bob, 0, 1)));
  CHECK(store->read(alice)->size() == 2);
  CHECK(store->read(bob)->size() == 1);
  CHECK(*store->version(alice) == 2);
  CHECK(*store->version(bob) == 1);
}

TEST_CASE("a wrong expected version is a distinct error and stores nothing") {
  TempDir dir;
  auto store = open_store(dir);
  auto user = Uuid::random();
  REQUIRE(store->append(user, 0, task_batch(user, 0, 2)));
  auto stale = store->append(user, 1, task_batch(user, 1, 1));
  REQUIRE_FALSE(stale);
  CHECK(stale.error().code == Errc::wrong_expected_version);
  CHECK(stale.error().message.find("is at version 2") != std::string::npos);
  auto ahead = store->append(user, 5, task_batch(user, 5, 1));
  REQUIRE_FALSE(ahead);
  CHECK(ahead.error().code == Errc::wrong_expected_version);
  check_nothing_stored(*store, user, 2, 2);
}

TEST_CASE("concurrent appends at the same version: exactly one wins") {
  TempDir dir;
  auto store = open_store(dir);
  auto user = Uuid::random();
  std::atomic<int> wins{0}, conflicts{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      auto r = store->append(user, 0, task_batch(user, 0, 1));
      if (r)
        ++wins;
      else if (r.error().code == Errc::wrong_expected_version)
        ++conflicts;
    });
  for (auto& t : threads) t.join();
  CHECK(wins == 1);
  CHECK(conflicts == 7);
  CHECK(*store->version(user) == 1);
}

TEST_CASE("an idempotency key already stored appends nothing and returns the original result") {
  TempDir dir;
  auto user = Uuid::random();
  AppendResult original;
  {
    auto store = open_store(dir);
    REQUIRE(store->append(user, 0, task_batch(user, 0, 1)));
    auto first = store->append(user, 1, {task_created(user, 2, "pay rent", "cmd-42")});
    REQUIRE(first);
    original = *first;
    auto retry = store->append(user, 1, {task_created(user, 2, "pay rent", "cmd-42")});
    REQUIRE(retry);
    CHECK(retry->duplicate);
    CHECK(retry->first_sequence == original.first_sequence);
    CHECK(retry->last_sequence == original.last_sequence);
    CHECK(retry->first_position == original.first_position);
    CHECK(*store->version(user) == 2);
  }
  // The key survives a restart.
  auto store = open_store(dir);
  auto later = store->append(user, 2, {task_created(user, 3, "pay rent", "cmd-42")});
  REQUIRE(later);
  CHECK(later->duplicate);
  CHECK(later->last_sequence == original.last_sequence);
  CHECK(*store->version(user) == 2);
  // The same key for another user is another command.
  auto other = Uuid::random();
  auto theirs = store->append(other, 0, {task_created(other, 1, "x", "cmd-42")});
  REQUIRE(theirs);
  CHECK_FALSE(theirs->duplicate);
}

TEST_CASE("the reply stored with an idempotency key comes back with every retry") {
  TempDir dir;
  auto user = Uuid::random();
  const std::string reply = "the original reply \x01\x02 bytes";
  {
    auto store = open_store(dir);
    REQUIRE(store->append(user, 0, {task_created(user, 1, "pay rent", "cmd-7")}, reply));
    auto retry = store->append(user, 1, {task_created(user, 2, "pay rent", "cmd-7")}, "other");
    REQUIRE(retry);
    CHECK(retry->duplicate);
    CHECK(retry->reply == reply);
    // Without a key nothing is stored, and a keyless append has no reply.
    REQUIRE(store->append(user, 1, {task_created(user, 2, "no key")}, "ignored"));
  }
  auto store = open_store(dir);
  auto found = store->find_idempotency_key(user, "cmd-7");
  REQUIRE(found);
  REQUIRE(found->has_value());
  CHECK((*found)->reply == reply);
  CHECK((*found)->last_sequence == 1);
  // A key stored without a reply answers with an empty one.
  REQUIRE(store->append(user, 2, {task_created(user, 3, "bare", "cmd-8")}));
  auto bare = store->find_idempotency_key(user, "cmd-8");
  REQUIRE(bare);
  REQUIRE(bare->has_value());
  CHECK((*bare)->reply.empty());
}

TEST_CASE("two appends with one key at once: the second gets the first's reply") {
  TempDir dir;
  auto store = open_store(dir, /*sync=*/true);
  auto user = Uuid::random();
  REQUIRE(store->append(user, 0, task_batch(user, 0, 1)));
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Result<AppendResult>> results;
  for (int i = 0; i < 2; ++i)
    store->append_async(
        user, 1, {task_created(user, 2, "twice", "same-key")},
        [&](Result<AppendResult> r) {
          std::lock_guard lock(mu);
          results.push_back(std::move(r));
          cv.notify_one();
        },
        "reply " + std::to_string(i));
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return results.size() == 2; });
  int duplicates = 0;
  for (const auto& r : results) {
    REQUIRE(r);
    if (r->duplicate) {
      ++duplicates;
      CHECK(r->reply == "reply 0");
    }
  }
  CHECK(duplicates == 1);
  CHECK(*store->version(user) == 2);
}

TEST_CASE("concurrent retries of one command store it once") {
  TempDir dir;
  auto store = open_store(dir);
  auto user = Uuid::random();
  std::atomic<int> fresh{0}, duplicates{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {  // no assertion here: doctest owns only its own thread
      auto r = store->append(user, 0, {task_created(user, 1, "once", "same-key")});
      if (!r)
        ++failed;
      else
        (r->duplicate ? duplicates : fresh)++;
    });
  for (auto& t : threads) t.join();
  CHECK(failed == 0);
  CHECK(fresh == 1);
  CHECK(duplicates == 7);
  CHECK(store->read(user)->size() == 1);
}

TEST_CASE("the feed lists every event in commit order and resumes from a position") {
  TempDir dir;
  auto store = open_store(dir);
  auto alice = Uuid::random(), bob = Uuid::random();
  REQUIRE(store->append(alice, 0, task_batch(alice, 0, 2, "a")));
  REQUIRE(store->append(bob, 0, task_batch(bob, 0, 1, "b")));
  REQUIRE(store->append(alice, 2, task_batch(alice, 2, 1, "c")));

  auto page = store->read_feed(1, 3);
  REQUIRE(page);
  REQUIRE(page->entries.size() == 3);
  CHECK(page->entries[0].position == 1);
  CHECK(page->entries[2].event.user_id() == bob.to_string());
  CHECK(page->next_position == 4);
  auto rest = store->read_feed(page->next_position, 100);
  REQUIRE(rest);
  REQUIRE(rest->entries.size() == 1);
  CHECK(rest->entries[0].event.task_created().fields().title() == "c 0");
  CHECK(rest->entries[0].position == 4);
  auto empty = store->read_feed(rest->next_position, 100);
  REQUIRE(empty);
  CHECK(empty->entries.empty());
  CHECK(empty->next_position == 5);
}

TEST_CASE("everything survives closing and reopening the store") {
  TempDir dir;
  auto user = Uuid::random();
  {
    auto store = open_store(dir, true);
    REQUIRE(store->append(user, 0, task_batch(user, 0, 4)));
    REQUIRE(store->save_snapshot(user, "tasks", Snapshot{4, "state-bytes"}));
  }
  auto store = open_store(dir);
  CHECK(*store->version(user) == 4);
  CHECK(store->stats().feed_head == 4);
  auto next = store->append(user, 4, task_batch(user, 4, 1));
  REQUIRE(next);
  CHECK(next->first_position == 5);
  auto snapshot = store->load_snapshot(user, "tasks");
  REQUIRE(snapshot);
  REQUIRE(snapshot->has_value());
  CHECK((*snapshot)->version == 4);
  CHECK((*snapshot)->state == "state-bytes");
  auto none = store->load_snapshot(user, "other");
  REQUIRE(none);
  CHECK_FALSE(none->has_value());
}

TEST_CASE("bad input is a clear error and stores nothing") {
  TempDir dir;
  auto store = open_store(dir);
  auto user = Uuid::random();
  REQUIRE(store->append(user, 0, task_batch(user, 0, 1)));

  SUBCASE("empty batch") {
    auto r = store->append(user, 1, {});
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::empty_batch);
  }
  SUBCASE("unknown user on read") {
    auto stranger = Uuid::random();
    auto r = store->read(stranger);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::unknown_stream);
    CHECK(r.error().message.find(stranger.to_string()) != std::string::npos);
  }
  SUBCASE("payload over the size limit, inside a batch") {
    auto batch = task_batch(user, 1, 3);
    batch[1].mutable_task_created()->mutable_fields()->set_description(
        std::string(kDefaultMaxEventBytes, 'x'));
    auto r = store->append(user, 1, batch);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::payload_too_large);
    CHECK(r.error().message.find("65536") != std::string::npos);
  }
  SUBCASE("malformed protobuf") {
    auto r = parse_event("\xff\xff\xff garbage", kDefaultMaxEventBytes);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::malformed_event);
  }
  SUBCASE("event whose type does not match its payload") {
    auto batch = task_batch(user, 1, 2);
    batch[1].set_event_type(v1::EVENT_TYPE_TASK_COMPLETED);
    auto r = store->append(user, 1, batch);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::malformed_event);
    CHECK(r.error().message.find("does not match payload") != std::string::npos);
  }
  SUBCASE("event without a payload or with a bad id") {
    auto batch = task_batch(user, 1, 1);
    batch[0].set_task_id("*");
    auto r = store->append(user, 1, batch);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::malformed_event);
    CHECK(r.error().message.find("task_id") != std::string::npos);
  }
  SUBCASE("sequence gap") {
    auto batch = task_batch(user, 1, 3);
    batch[2].set_sequence(5);
    auto r = store->append(user, 1, batch);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::sequence_gap);
  }
  SUBCASE("event of another user") {
    auto batch = task_batch(user, 1, 2);
    batch[1].set_user_id(Uuid::random().to_string());
    auto r = store->append(user, 1, batch);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::user_mismatch);
  }
  SUBCASE("from_sequence 0") {
    auto r = store->read(user, 0);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::invalid_argument);
  }
  check_nothing_stored(*store, user, 1, 1);
}

// Schema evolution (issue 21): a store holding events of schema version 1
// is read as the current version, unchanged on disk; no writer may mix the
// shapes; a version newer than this build is refused.
TEST_CASE("v1 events are read upcast to the current schema and never written mixed") {
  TempDir dir;
  auto store = open_store(dir);
  auto user = Uuid::random();
  auto written = task_batch(user, 0, 2, "old");
  written[0].mutable_task_created()->mutable_fields()->set_priority(3);
  written[0].mutable_task_created()->mutable_fields()->add_tags("work");
  *written[0].mutable_task_created()->mutable_fields()->mutable_due_at() =
      to_timestamp(Clock::from_time_t(1800000000));
  std::vector<v1::TaskEvent> old_batch;
  for (const auto& e : written) old_batch.push_back(as_release_1_wrote_it(e));
  REQUIRE(store->append(user, 0, old_batch));

  auto read = store->read(user);
  REQUIRE(read);
  REQUIRE(read->size() == 2);
  for (size_t i = 0; i < 2; ++i) {
    CHECK((*read)[i].schema_version() == kCurrentSchemaVersion);
    // Exactly what today's writer makes of the same task: nothing lost,
    // nothing left in the v1 fields.
    CHECK((*read)[i].SerializeAsString() == written[i].SerializeAsString());
  }
  auto feed = store->read_feed(1, 10);
  REQUIRE(feed);
  REQUIRE(feed->entries.size() == 2);
  CHECK(feed->entries[0].event.task_created().fields().tags(0) == "work");

  SUBCASE("a client's v1 bytes parse to the current form") {
    auto parsed = parse_event(old_batch[0].SerializeAsString(), kDefaultMaxEventBytes);
    REQUIRE(parsed);
    CHECK(parsed->SerializeAsString() == written[0].SerializeAsString());
  }
  SUBCASE("a v2 event with a v1 field is refused") {
    auto r = store->append(user, 2, {with_a_v1_field(task_created(user, 3, "t"))});
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::malformed_event);
    CHECK(r.error().message.find("v1 only") != std::string::npos);
  }
  SUBCASE("a v1 event with v2 fields is refused") {
    auto event = task_created(user, 3, "t");
    event.set_schema_version(1);
    auto r = store->append(user, 2, {event});
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::malformed_event);
    CHECK(r.error().message.find("flat") != std::string::npos);
  }
  SUBCASE("a version newer than this build is refused") {
    auto event = task_created(user, 3, "t");
    event.set_schema_version(kCurrentSchemaVersion + 1);
    auto r = store->append(user, 2, {event});
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::malformed_event);
    CHECK(r.error().message.find("schema_version") != std::string::npos);
    auto parsed = parse_event(event.SerializeAsString(), kDefaultMaxEventBytes);
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error().code == Errc::malformed_event);
  }
  check_nothing_stored(*store, user, 2, 2);
}

TEST_CASE("a user id that is not a UUID is refused") {
  for (const char* bad : {"*", ">", "", "user.1", "123e4567-e89b-42d3-a456-42661417400g",
                          "123e4567e89b42d3a456426614174000"}) {
    auto r = Uuid::parse(bad, "user_id");
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::invalid_argument);
    CHECK(r.error().message.find("user_id must be a UUID") != std::string::npos);
  }
  auto good = Uuid::parse("123E4567-E89B-42D3-A456-426614174000");
  REQUIRE(good);
  CHECK(good->to_string() == "123e4567-e89b-42d3-a456-426614174000");
}

namespace {

// Overwrites the stored value of (user, sequence) behind the store's back.
void damage_event(const TempDir& dir, const Uuid& user, uint64_t sequence,
                  const std::function<std::string(std::string)>& damage) {
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (auto name : {rocksdb::kDefaultColumnFamilyName, std::string(keys::kEventsFamily),
                    std::string(keys::kFeedFamily), std::string(keys::kIdempotencyFamily),
                    std::string(keys::kSnapshotsFamily), std::string(keys::kKeysFamily),
                    std::string(keys::kFeaturesFamily)})
    families.emplace_back(name, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  REQUIRE(rocksdb::DB::Open(rocksdb::DBOptions(), dir.str(), families, &handles, &raw).ok());
  std::string value;
  auto key = keys::event_key(user, sequence);
  REQUIRE(raw->Get(rocksdb::ReadOptions(), handles[1], key, &value).ok());
  REQUIRE(raw->Put(rocksdb::WriteOptions(), handles[1], key, damage(value)).ok());
  for (auto* h : handles) raw->DestroyColumnFamilyHandle(h);
  delete raw;
}

}  // namespace

TEST_CASE("a corrupted or truncated stored event is an error naming user and sequence") {
  TempDir dir;
  auto user = Uuid::random();
  {
    auto store = open_store(dir);
    REQUIRE(store->append(user, 0, task_batch(user, 0, 3)));
  }
  SUBCASE("truncated") {
    damage_event(dir, user, 2, [](std::string v) { return v.substr(0, v.size() / 2); });
  }
  SUBCASE("a flipped byte") {
    damage_event(dir, user, 2, [](std::string v) {
      v[v.size() - 3] ^= 0x20;
      return v;
    });
  }
  SUBCASE("cut to the header") {
    damage_event(dir, user, 2, [](std::string v) { return v.substr(0, 2); });
  }
  SUBCASE("another sequence's value moved into its place") {
    std::string first;
    damage_event(dir, user, 1, [&](std::string v) {
      first = v;
      return v;
    });
    damage_event(dir, user, 2, [&](std::string) { return first; });
  }
  auto store = open_store(dir);
  auto r = store->read(user);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::corrupted);
  CHECK(r.error().message.find(user.to_string()) != std::string::npos);
  CHECK(r.error().message.find("sequence 2") != std::string::npos);
  // The events before the damage are still readable on their own.
  auto before = store->read(user, 1, 1);
  REQUIRE(before);
  CHECK(before->size() == 1);
  auto feed = store->read_feed(1, 10);
  REQUIRE_FALSE(feed);
  CHECK(feed.error().code == Errc::corrupted);
}

TEST_CASE("concurrent appenders share group commits") {
  TempDir dir;
  auto store = open_store(dir, /*sync=*/true);
  constexpr int kThreads = 16, kAppends = 50;
  std::vector<std::thread> threads;
  std::atomic<int> failed{0};
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&] {  // no assertion here: doctest owns only its own thread
      auto user = Uuid::random();
      for (int i = 0; i < kAppends; ++i) failed += !store->append(user, i, task_batch(user, i, 1));
    });
  for (auto& t : threads) t.join();
  REQUIRE(failed == 0);
  auto stats = store->stats();
  CHECK(stats.appends == kThreads * kAppends);
  CHECK(stats.events == kThreads * kAppends);
  CHECK(stats.feed_head == kThreads * kAppends);
  MESSAGE("groups: " << stats.groups << " for " << stats.appends
                     << " appends; largest group: " << stats.largest_group);
  CHECK(stats.groups < stats.appends);
  CHECK(stats.largest_group > 1);
}

TEST_CASE("append_async: refused batches call back at once, accepted ones once durable") {
  TempDir dir;
  auto store = open_store(dir);
  auto user = Uuid::random();
  std::optional<Result<AppendResult>> refused;
  store->append_async(user, 0, {}, [&](Result<AppendResult> r) { refused = std::move(r); });
  REQUIRE(refused.has_value());  // ran on this thread, before append_async returned
  CHECK(refused->error().code == Errc::empty_batch);

  std::mutex mu;
  std::condition_variable cv;
  int done = 0, failed = 0;
  constexpr int kUsers = 200;
  std::vector<Uuid> users(kUsers);
  for (auto& u : users) {
    u = Uuid::random();
    store->append_async(u, 0, task_batch(u, 0, 2), [&](Result<AppendResult> r) {
      std::lock_guard lock(mu);
      failed += !r;
      ++done;
      cv.notify_one();
    });
  }
  std::unique_lock lock(mu);
  REQUIRE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return done == kUsers; }));
  CHECK(failed == 0);
  for (const auto& u : users) CHECK(*store->version(u) == 2);
  CHECK(store->stats().feed_head == 2 * kUsers);
  // How many groups is timing: under ASan on a loaded box the writer kept
  // up with every one of them (200 groups), so grouping is asserted by the
  // threaded group-commit case above, where appends wait on each other.
  MESSAGE("groups: " << store->stats().groups << " for " << kUsers << " async appends");
}

TEST_CASE("closing the store finishes every queued append first") {
  TempDir dir;
  auto user = Uuid::random();
  std::atomic<int> acknowledged{0};
  {
    auto store = open_store(dir);
    for (uint64_t v = 0; v < 100; ++v)
      store->append_async(user, v, task_batch(user, v, 1), [&](Result<AppendResult> r) {
        if (r) ++acknowledged;
      });
  }  // destroyed with appends still queued
  CHECK(acknowledged == 100);
  auto store = open_store(dir);
  CHECK(*store->version(user) == 100);
}

TEST_CASE("a store opened with another master key is refused at once") {
  TempDir dir;
  { auto store = open_store(dir); }
  StoreOptions options;
  options.path = dir.str();
  options.master_key = SecretKey::random();
  auto wrong = EventStore::open(options);
  REQUIRE_FALSE(wrong);
  CHECK(wrong.error().code == Errc::permission_denied);
  CHECK(wrong.error().message.find("master key does not match") != std::string::npos);
  options.master_key = SecretKey();
  auto none = EventStore::open(options);
  REQUIRE_FALSE(none);
  CHECK(none.error().code == Errc::invalid_argument);
}

namespace {

// Every file under `dir` that holds `needle`, in any of them (SST, WAL,
// MANIFEST, LOG, ...).
std::vector<std::string> files_holding(const std::filesystem::path& dir,
                                       const std::string& needle) {
  std::vector<std::string> found;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (bytes.find(needle) != std::string::npos) found.push_back(entry.path().filename().string());
  }
  return found;
}

}  // namespace

TEST_CASE("no plaintext title, description or idempotency key in any file of the store") {
  TempDir dir;
  auto user = Uuid::random();
  const std::string title = "Zyzzyva-quarterly-title-8f3a", description = "Qwxp-secret-notes-77c1",
                    key = "pay-rent-idempotency-91b2";
  {
    auto store = open_store(dir, /*sync=*/true);
    auto event = task_created(user, 1, title, key);
    event.mutable_task_created()->mutable_fields()->set_description(description);
    REQUIRE(store->append(user, 0, {event}, "reply naming " + title));
    REQUIRE(store->save_snapshot(user, "tasks", Snapshot{1, "snapshot of " + title}));
    auto before_flush = files_holding(dir.path(), title);  // WAL only, still sealed
    CHECK_MESSAGE(before_flush.empty(),
                  "found in " << before_flush.size() << " files before flush");
    REQUIRE(store->flush());
    REQUIRE(store->compact());
    // Still readable through the store.
    CHECK((*store->read(user))[0].task_created().fields().title() == title);
  }
  for (const auto& needle : {title, description, key}) {
    auto found = files_holding(dir.path(), needle);
    CHECK_MESSAGE(found.empty(), needle << " found in " << (found.empty() ? "" : found.front()));
  }
  // A test that cannot fail is a defect: the scan does find plain bytes.
  { std::ofstream(dir.path() / "canary") << title; }
  CHECK(files_holding(dir.path(), title).size() == 1);
}

namespace {

// The stored bytes of (user, sequence), read behind the store's back.
std::string stored_value(const TempDir& dir, const Uuid& user, uint64_t sequence) {
  std::string value;
  damage_event(dir, user, sequence, [&](std::string v) {
    value = v;
    return v;
  });
  return value;
}

}  // namespace

TEST_CASE("erasing a user removes their data for good and refuses their id") {
  TempDir dir;
  auto alice = Uuid::random(), bob = Uuid::random();
  {
    auto store = open_store(dir, true);
    REQUIRE(store->append(alice, 0, {task_created(alice, 1, "alice secret", "k1")}));
    REQUIRE(store->append(alice, 1, task_batch(alice, 1, 3, "alice more")));
    REQUIRE(store->append(bob, 0, task_batch(bob, 0, 2, "bob")));
    REQUIRE(store->save_snapshot(alice, "user", Snapshot{4, "alice state"}));
  }
  auto sealed = stored_value(dir, alice, 1);
  REQUIRE(sealed.size() > 40);
  const std::string fingerprint = sealed.substr(20, 32);  // inside the ciphertext

  auto store = open_store(dir, true);
  REQUIRE(store->erase_user(alice, std::chrono::system_clock::now()));
  auto when = store->erased_at(alice);
  REQUIRE(when);
  CHECK(when->has_value());
  CHECK_FALSE(store->erased_at(bob)->has_value());

  auto read = store->read(alice);
  REQUIRE_FALSE(read);
  CHECK(read.error().code == Errc::unknown_stream);
  CHECK(*store->version(alice) == 0);
  CHECK_FALSE(store->load_snapshot(alice, "user")->has_value());
  CHECK_FALSE(store->find_idempotency_key(alice, "k1")->has_value());
  auto again = store->append(alice, 0, {task_created(alice, 1, "back?")});
  REQUIRE_FALSE(again);
  CHECK(again.error().code == Errc::not_found);
  CHECK(again.error().message.find("deleted") != std::string::npos);
  // Bob is untouched; the feed skips Alice.
  CHECK(store->read(bob)->size() == 2);
  auto feed = store->read_feed(1, 100);
  REQUIRE(feed);
  REQUIRE(feed->entries.size() == 2);
  for (const auto& e : feed->entries) CHECK(e.event.user_id() == bob.to_string());

  REQUIRE(store->flush());
  REQUIRE(store->compact());
  store.reset();
  auto found = files_holding(dir.path(), fingerprint);
  CHECK_MESSAGE(found.empty(), "Alice's ciphertext still in " << found.size() << " files");
  // The scan is able to see ciphertext of a user who was not erased.
  auto bob_sealed = stored_value(dir, bob, 1);
  CHECK_FALSE(files_holding(dir.path(), bob_sealed.substr(20, 32)).empty());
}

// Regression: with memtable insert hints on, RocksDB 7.8 corrupted the
// range-tombstone memtable on DeleteRange (an assertion abort in Debian's
// build) while the user's events were still in the memtable.
TEST_CASE("erasing a user whose events are still in the memtable") {
  TempDir dir;
  auto store = open_store(dir, true);
  for (int i = 0; i < 3; ++i) {
    auto user = Uuid::random();
    REQUIRE(store->append(user, 0, task_batch(user, 0, 2)));
    if (i == 1) REQUIRE(store->save_snapshot(user, "user", Snapshot{2, "s"}));
    REQUIRE(store->erase_user(user, std::chrono::system_clock::now()));
    CHECK(store->read(user).error().code == Errc::unknown_stream);
    CHECK(*store->version(user) == 0);
  }
  auto survivor = Uuid::random();
  REQUIRE(store->append(survivor, 0, task_batch(survivor, 0, 2)));
  CHECK(store->read(survivor)->size() == 2);
}

namespace {

// What an attacker who has the store's folder and the master key recovers:
// every data key that any byte range of any file (WAL, SST, MANIFEST, ...)
// or any value RocksDB's own SST reader decodes unwraps to, for the users
// asked about, and the titles of the events those keys then open.
struct Recovered {
  std::map<std::string, std::vector<std::string>> titles;  // user -> titles opened
  std::set<std::string> keys;                              // users whose data key unwrapped
};

Recovered attack(const std::filesystem::path& dir, const std::vector<Uuid>& users) {
  const auto& master = test::test_master_key();
  const size_t wrapped_size = wrap_data_key(master, SecretKey::random(), users[0]).size();
  std::map<std::string, SecretKey> found;
  auto try_unwrap = [&](std::string_view bytes) {
    for (size_t at = 0; at + wrapped_size <= bytes.size(); ++at)
      for (const auto& user : users)
        if (auto key = unwrap_data_key(master, bytes.substr(at, wrapped_size), user))
          found.emplace(user.to_string(), *key);
  };
  std::vector<std::pair<std::string, std::string>> sst_entries;  // every SST key/value
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    try_unwrap(bytes);  // raw bytes: the WAL is not compressed
    if (entry.path().extension() != ".sst") continue;
    rocksdb::Options options;
    rocksdb::SstFileReader reader(options);
    REQUIRE(reader.Open(entry.path().string()).ok());
    std::unique_ptr<rocksdb::Iterator> it(reader.NewIterator(rocksdb::ReadOptions()));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      sst_entries.emplace_back(it->key().ToString(), it->value().ToString());
      try_unwrap(it->value().ToStringView());  // decompressed blocks
    }
  }
  Recovered out;
  for (const auto& [user, key] : found) out.keys.insert(user);
  for (const auto& [k, value] : sst_entries) {
    Uuid user;
    uint64_t sequence = 0;
    if (!keys::parse_event_key(k, user, sequence)) continue;
    auto key = found.find(user.to_string());
    if (key == found.end()) continue;
    if (auto event = decode_event(value, user, sequence, key->second))
      out.titles[user.to_string()].push_back(event->task_created().fields().title());
  }
  return out;
}

}  // namespace

TEST_CASE("once erase_user returns, no file opens the user's data with the master key") {
  TempDir dir;
  auto alice = Uuid::random(), bob = Uuid::random();
  auto store = open_store(dir, /*sync=*/true);
  REQUIRE(store->append(alice, 0, task_batch(alice, 0, 3, "alice's secret")));
  REQUIRE(store->append(bob, 0, task_batch(bob, 0, 2, "bob's")));
  REQUIRE(store->flush());  // some of Alice's key in an SST file ...
  REQUIRE(store->append(alice, 3, task_batch(alice, 3, 2, "alice's later")));  // ... and the WAL
  REQUIRE(store->erase_user(alice, std::chrono::system_clock::now()));
  // The store is still open and serving: the promise holds from the reply on.
  auto recovered = attack(dir.path(), {alice, bob});
  CHECK_MESSAGE(recovered.keys.count(alice.to_string()) == 0,
                "Alice's data key still unwraps from a file of the store");
  CHECK(recovered.titles[alice.to_string()].empty());
  // The attack works: Bob's key unwraps and opens his events.
  CHECK(recovered.keys.count(bob.to_string()) == 1);
  CHECK(recovered.titles[bob.to_string()].size() == 2);
  CHECK(store->read(bob)->size() == 2);
  REQUIRE(store->append(bob, 2, task_batch(bob, 2, 1, "bob's next")));
}

namespace {

std::string wal_file(const std::string& store_dir) {
  std::string largest;
  uintmax_t size = 0;
  for (const auto& entry : std::filesystem::directory_iterator(store_dir))
    if (entry.path().extension() == ".log" && entry.file_size() > size)
      largest = entry.path().string(), size = entry.file_size();
  return largest;
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// Three users, 40 acknowledged (synced) appends each, all still in the WAL.
std::vector<Uuid> fill_wal(const std::string& path) {
  std::vector<Uuid> users = {Uuid::random(), Uuid::random(), Uuid::random()};
  auto store = test::open_test_store(path, /*sync=*/true);
  for (uint64_t round = 0; round < 40; ++round)
    for (const auto& user : users) REQUIRE(store->append(user, round, task_batch(user, round, 1)));
  return users;
}

uint64_t readable_events(EventStore& store, const std::vector<Uuid>& users) {
  uint64_t n = 0;
  for (const auto& user : users) n += store.read(user)->size();
  return n;
}

}  // namespace

TEST_CASE("a WAL damaged in the middle refuses the open, names the loss and changes nothing") {
  TempDir dir;
  auto path = dir.str() + "/events";
  auto users = fill_wal(path);
  auto wal = wal_file(path);
  REQUIRE_FALSE(wal.empty());
  auto bytes = file_bytes(wal);
  REQUIRE(bytes.size() > 4000);
  bytes[bytes.size() / 2] ^= 0x5a;  // one byte, mid-WAL
  write_bytes(wal, bytes);

  StoreOptions options;
  options.path = path;
  options.master_key = test::test_master_key();
  auto refused = EventStore::open(options);
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().code == Errc::corrupted);
  const auto& message = refused.error().message;
  CHECK(message.find(std::filesystem::path(wal).filename().string()) != std::string::npos);
  CHECK(message.find("would drop") != std::string::npos);
  CHECK(message.find("--recover-wal") != std::string::npos);
  CHECK(file_bytes(wal) == bytes);  // the evidence is in place, untouched

  // The operator's choice: recover to the last good point, with a report.
  options.recover_wal = true;
  auto recovered = EventStore::open(options);
  REQUIRE_MESSAGE(recovered.has_value(), test::error_of(recovered));
  auto report_path = (*recovered)->wal_recovery_report();
  REQUIRE_FALSE(report_path.empty());
  auto report = file_bytes(report_path);
  auto dropped = static_cast<uint64_t>(std::count(report.begin(), report.end(), '{')) - 1;
  auto kept = readable_events(**recovered, users);
  CHECK(kept > 0);
  CHECK(dropped > 0);
  // Every event is either readable or in the report, but for the one in
  // the damaged record itself.
  CHECK(kept + dropped >= 119);
  CHECK(kept + dropped <= 120);
  CHECK(report.find(users[0].to_string()) != std::string::npos);
  auto copy = std::filesystem::path(report_path).replace_extension("");
  CHECK(file_bytes((copy / std::filesystem::path(wal).filename()).string()) == bytes);
}

TEST_CASE("a torn WAL tail, the unacknowledged write of a crash, is recovered as always") {
  TempDir dir;
  auto path = dir.str() + "/events";
  auto users = fill_wal(path);
  auto wal = wal_file(path);
  auto bytes = file_bytes(wal);
  write_bytes(wal, bytes.substr(0, bytes.size() - 5));  // the last record cut short
  auto store = test::open_test_store(path);
  CHECK(readable_events(*store, users) == 119);
  CHECK((*scan_wal(path)) == std::nullopt);
}

namespace {

// A store on `disk` that checks for room often, and keeps its log lines.
struct FaultyDiskStore {
  explicit FaultyDiskStore(const test::SmallDisk& disk) {
    options.path = disk.str() + "/store";
    options.master_key = test::test_master_key();
    options.sync = true;
    options.resume_check = std::chrono::milliseconds(20);
    options.log = [this](StoreLogLevel, bool, std::string_view line) {
      std::lock_guard lock(mu);
      lines.emplace_back(line);
    };
  }
  std::unique_ptr<EventStore> open() {
    auto store = EventStore::open(options);
    REQUIRE_MESSAGE(store, test::error_of(store));
    return std::move(*store);
  }
  bool logged(std::string_view text) {
    std::lock_guard lock(mu);
    for (const auto& line : lines)
      if (line.find(text) != std::string::npos) return true;
    return false;
  }
  StoreOptions options;
  std::mutex mu;
  std::vector<std::string> lines;
};

// Appends batches of large events until one fails; returns that error.
Error append_until_full(EventStore& store, const Uuid& user, uint64_t& version) {
  const std::string title(400, 't');
  for (int i = 0; i < 100000; ++i) {
    auto appended = store.append(user, version, task_batch(user, version, 10, title));
    if (!appended) return appended.error();
    version = appended->last_sequence;
  }
  FAIL("the disk never filled up");
  return make_error(Errc::internal, "unreachable");
}

bool wait_until_writable(EventStore& store) {
  for (int i = 0; i < 500 && store.write_fault(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  return !store.write_fault();
}

// Every event of the user reads back, sequences 1..version with no gap.
void check_stream(EventStore& store, const Uuid& user, uint64_t version) {
  auto events = store.read(user);
  REQUIRE_MESSAGE(events, test::error_of(events));
  REQUIRE(events->size() == version);
  for (uint64_t i = 0; i < version; ++i) CHECK((*events)[i].sequence() == i + 1);
}

}  // namespace

TEST_CASE("a full disk fences writes without aborting, and writes resume once there is room") {
  test::SmallDisk disk(8 << 20);
  FaultyDiskStore faulty(disk);
  auto store = faulty.open();
  auto user = Uuid::random(), other = Uuid::random();
  uint64_t version = 0;
  REQUIRE(store->append(other, 0, task_batch(other, 0, 3)));
  disk.fill(512 << 10);
  Error full = append_until_full(*store, user, version);
  CHECK(full.code == Errc::io_error);
  CHECK_MESSAGE(full.message.find("No space left on device") != std::string::npos, full.message);
  CHECK_MESSAGE(full.message.find(disk.str()) == std::string::npos, full.message);  // no path
  REQUIRE(store->write_fault());
  CHECK(*store->version(user) == version);  // the failed append stored nothing

  // Fenced: every write answers io_error without reaching RocksDB (whose
  // failed WAL and a LOG file on this disk made 7.8 abort); reads go on.
  for (int i = 0; i < 20; ++i) {
    auto refused = store->append(user, version, task_batch(user, version, 1));
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == Errc::io_error);
    CHECK(refused.error().message.find("resume by themselves") != std::string::npos);
  }
  Snapshot snapshot{version, "state"};
  CHECK(store->save_snapshot(user, "tasks", snapshot).error().code == Errc::io_error);
  CHECK(store->put_meta("checkpoint", "1").error().code == Errc::io_error);
  CHECK(store->flush().error().code == Errc::io_error);
  CHECK(store->compact().error().code == Errc::io_error);
  CHECK(store->erase_user(other, std::chrono::system_clock::now()).error().code == Errc::io_error);
  check_stream(*store, user, version);
  check_stream(*store, other, 3);  // the refused erase changed nothing
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(store->resumes() == 0);  // not enough room: still fenced
  CHECK(store->write_fault());

  disk.release();
  REQUIRE(wait_until_writable(*store));
  CHECK(store->resumes() == 1);
  auto after = store->append(user, version, task_batch(user, version, 5));
  REQUIRE_MESSAGE(after, test::error_of(after));
  version = after->last_sequence;
  CHECK(after->first_position == store->stats().feed_head - 4);
  check_stream(*store, user, version);
  CHECK(store->erase_user(other, std::chrono::system_clock::now()));
  CHECK(faulty.logged("the store stopped writing"));
  CHECK(faulty.logged("the store writes again"));

  store.reset();  // everything acknowledged is there after a reopen
  store = faulty.open();
  check_stream(*store, user, version);
  auto feed = store->read_feed(1, SIZE_MAX);
  REQUIRE(feed);
  CHECK(feed->entries.size() == version);  // `other` was erased
  CHECK_FALSE(std::filesystem::exists(faulty.options.path + "/LOG"));
}

TEST_CASE("a store that cannot recover on a full disk opens read-only and resumes later") {
  test::SmallDisk disk(8 << 20);
  FaultyDiskStore faulty(disk);
  auto user = Uuid::random();
  uint64_t version = 0;
  {
    auto store = faulty.open();
    for (int i = 0; i < 20; ++i) {
      auto appended = store->append(user, version, task_batch(user, version, 20));
      REQUIRE(appended);
      version = appended->last_sequence;
    }
  }  // closed with the events in the WAL only: opening must flush them
  disk.fill();
  auto store = faulty.open();
  REQUIRE(store->write_fault());
  check_stream(*store, user, version);
  auto refused = store->append(user, version, task_batch(user, version, 1));
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::io_error);

  disk.release();
  REQUIRE(wait_until_writable(*store));
  auto appended = store->append(user, version, task_batch(user, version, 1));
  REQUIRE_MESSAGE(appended, test::error_of(appended));
  check_stream(*store, user, version + 1);
}
