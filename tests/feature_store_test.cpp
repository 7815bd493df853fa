// The feature store of EventStore: point-in-time reads of FeatureSnapshots,
// node metadata and the user listing, against a real RocksDB.
#include <doctest/doctest.h>

#include <algorithm>

#include "events/event_store.h"
#include "tests/support.h"

using namespace coach;
using namespace coach::events;
using namespace std::chrono_literals;
using coach::test::TempDir;
using TimePoint = std::chrono::system_clock::time_point;

namespace {

std::unique_ptr<EventStore> open_store(const TempDir& dir, bool read_only = false) {
  return test::open_test_store(dir.str(), /*sync=*/false, read_only);
}

const TimePoint kDay1 = TimePoint(std::chrono::seconds(1'790'000'000));

v1::FeatureSnapshot features(const Uuid& user, TimePoint at, double score, uint64_t sequence) {
  v1::FeatureSnapshot f;
  f.set_id(new_uuid_string());
  f.set_user_id(user.to_string());
  f.set_procrastination_score(score);
  f.set_mode_cluster(-1);
  f.set_as_of_sequence(sequence);
  *f.mutable_created_at() = to_timestamp(at);
  return f;
}

}  // namespace

TEST_CASE("features as of t: the newest snapshot at or before t, never a later one") {
  TempDir dir;
  auto store = open_store(dir);
  auto alice = Uuid::random(), bob = Uuid::random();
  REQUIRE(store->put_features(
      alice, {features(alice, kDay1, 0.2, 10), features(alice, kDay1 + 24h, 0.4, 20),
              features(alice, kDay1 + 48h, 0.6, 30)}));
  REQUIRE(store->put_features(bob, {features(bob, kDay1 + 12h, 0.9, 5)}));

  auto before = store->features_as_of(alice, kDay1 - 1s);
  REQUIRE(before);
  CHECK_FALSE(before->has_value());
  auto exact = store->features_as_of(alice, kDay1 + 24h);
  REQUIRE(exact);
  REQUIRE(exact->has_value());
  CHECK((*exact)->procrastination_score() == 0.4);
  auto between = store->features_as_of(alice, kDay1 + 47h);
  REQUIRE(between);
  CHECK((*between)->as_of_sequence() == 20);
  auto latest = store->features_as_of(alice, kDay1 + 1000h);
  CHECK((**latest).procrastination_score() == 0.6);
  // Bob's snapshot sits between Alice's keys but is never hers, and hers
  // are never his.
  CHECK((**store->features_as_of(bob, kDay1 + 1000h)).procrastination_score() == 0.9);
  CHECK_FALSE(store->features_as_of(bob, kDay1 + 11h)->has_value());
  CHECK_FALSE(store->features_as_of(Uuid::random(), kDay1 + 1000h)->has_value());

  auto history = store->feature_history(alice, kDay1 + 1h, kDay1 + 48h);
  REQUIRE(history);
  REQUIRE(history->size() == 2);
  CHECK((*history)[0].as_of_sequence() == 20);
  CHECK((*history)[1].as_of_sequence() == 30);
  CHECK(store->feature_history(alice, kDay1, kDay1 + 48h, 1)->size() == 1);

  // A rewrite of the same instant replaces it (the batch job reruns).
  REQUIRE(store->put_features(alice, {features(alice, kDay1 + 24h, 0.5, 21)}));
  CHECK((**store->features_as_of(alice, kDay1 + 24h)).as_of_sequence() == 21);
}

TEST_CASE("feature snapshots survive reopening, read-only too, and are erased with the user") {
  TempDir dir;
  auto alice = Uuid::random(), bob = Uuid::random();
  {
    auto store = open_store(dir);
    REQUIRE(store->put_features(alice, {features(alice, kDay1, 0.3, 1)}));
    REQUIRE(store->put_features(bob, {features(bob, kDay1, 0.7, 1)}));
    REQUIRE(store->put_meta("cluster-model", "centers"));
    REQUIRE(store->flush());
  }
  {
    auto reader = open_store(dir, /*read_only=*/true);
    CHECK((**reader->features_as_of(alice, kDay1)).procrastination_score() == 0.3);
    CHECK(**reader->get_meta("cluster-model") == "centers");
    auto users = reader->users();
    REQUIRE(users);
    CHECK(users->size() == 2);
    CHECK(std::is_sorted(users->begin(), users->end()));
    CHECK_FALSE(reader->put_features(alice, {features(alice, kDay1, 0.1, 2)}));
  }
  auto store = open_store(dir);
  REQUIRE(store->erase_user(alice, std::chrono::system_clock::now()));
  CHECK_FALSE(store->features_as_of(alice, kDay1)->has_value());
  CHECK(store->feature_history(alice, kDay1 - 1h, kDay1 + 1h)->empty());
  CHECK((**store->features_as_of(bob, kDay1)).procrastination_score() == 0.7);
  CHECK(*store->users() == std::vector<Uuid>{bob});
  // An erased user's id gets no new data key, so no features either.
  CHECK_FALSE(store->put_features(alice, {features(alice, kDay1, 0.1, 2)}));
}

TEST_CASE("bad feature snapshots and meta names are refused, nothing stored") {
  TempDir dir;
  auto store = open_store(dir);
  auto alice = Uuid::random();
  auto no_time = features(alice, kDay1, 0.1, 1);
  no_time.clear_created_at();
  auto ok = features(alice, kDay1 + 1h, 0.1, 1);
  auto refused = store->put_features(alice, {ok, no_time});
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::invalid_argument);
  auto foreign = store->put_features(alice, {features(Uuid::random(), kDay1, 0.1, 1)});
  REQUIRE_FALSE(foreign);
  CHECK(foreign.error().code == Errc::user_mismatch);
  CHECK(store->feature_history(alice, kDay1 - 100h, kDay1 + 100h)->empty());
  CHECK_FALSE(store->put_meta("key-check", "x"));
  CHECK_FALSE(store->put_meta("", "x"));
  CHECK_FALSE(store->get_meta("nothing")->has_value());
}
