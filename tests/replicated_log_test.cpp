// The event store replicated through JetStream (events/log_replica.h,
// adapters/jetstream_log.h), against a real nats-server: a second node's
// store catches up everything the first acknowledged, erasure included, and
// the fence stops the first from writing once the second has.
#include <doctest/doctest.h>
#include <nats/nats.h>

#include "adapters/jetstream_log.h"
#include "adapters/node_lease.h"
#include "events/event_store.h"
#include "tests/processes.h"
#include "tests/support.h"

using namespace coach;
using namespace coach::test;

namespace {

std::shared_ptr<actors::JetStreamLog> open_log(const NatsServer& nats, const std::string& writer) {
  auto log = actors::JetStreamLog::open(
      jetstream_log_options(nats.url(), nats.creds(actors::BusRole::coachd), writer));
  if (!log) throw std::runtime_error(log.error().message);
  return std::shared_ptr<actors::JetStreamLog>(std::move(*log));
}

std::unique_ptr<events::EventStore> open_replicated(const std::string& path,
                                                    std::shared_ptr<events::LogReplica> replica) {
  events::StoreOptions options;
  options.path = path;
  options.master_key = test_master_key();
  options.sync = false;
  options.replica = std::move(replica);
  auto store = events::EventStore::open(options);
  if (!store) throw std::runtime_error(store.error().message);
  return std::move(*store);
}

}  // namespace

TEST_CASE("a replicated store: another node catches up every write and erasure, then fences") {
  TempDir dir;
  NatsServer nats(dir.str());
  auto alice = Uuid::random(), bob = Uuid::random();
  auto first_log = open_log(nats, "node-a");
  auto first = open_replicated(dir.str() + "/a", first_log);
  REQUIRE(first->append(alice, 0, task_batch(alice, 0, 3)));
  auto keyed = task_created(alice, 4, "once", "key-1");
  auto stored = first->append(alice, 3, {keyed}, "the reply");
  REQUIRE_MESSAGE(stored, error_of(stored));
  REQUIRE(first->append(bob, 0, task_batch(bob, 0, 2)));
  REQUIRE(first->erase_user(bob, std::chrono::system_clock::now()));
  CHECK(first->stats().replica_position == 5);  // its claim at open, 4 writes
  // Bob's data key is shredded in the log's bucket, not only deleted.
  REQUIRE(first_log->get_key(alice)->has_value());
  CHECK(!first_log->get_key(bob)->has_value());

  // The second node has none of it on disk, and takes it all from the log.
  auto second = open_replicated(dir.str() + "/b", open_log(nats, "node-b"));
  auto events = second->read(alice);
  REQUIRE_MESSAGE(events, error_of(events));
  REQUIRE(events->size() == 4);
  CHECK(events->back().event_id() == keyed.event_id());
  CHECK(*second->version(alice) == 4);
  auto retried = second->find_idempotency_key(alice, "key-1");
  REQUIRE(retried);
  REQUIRE(retried->has_value());
  CHECK((*retried)->reply == "the reply");
  CHECK(!second->read(bob));  // erased there too
  CHECK(second->erased_at(bob)->has_value());
  auto feed = second->read_feed(1, 100);
  REQUIRE(feed);
  CHECK(feed->entries.size() == 4);  // alice's; bob's are gone with him
  CHECK(second->stats().caught_up_groups == 5);
  CHECK(second->stats().caught_up_events == 6);  // feed positions, bob's included

  // The second node claimed the log when it opened, and writes; the first,
  // still running, finds the log moved on, reads it back, finds another
  // writer's groups and is fenced for good.
  REQUIRE(second->append(alice, 4, task_batch(alice, 4, 1)));
  auto stale = first->append(alice, 4, task_batch(alice, 4, 1));
  REQUIRE(!stale);
  CHECK(stale.error().code == Errc::unavailable);
  auto carol = Uuid::random();
  CHECK(first->append(carol, 0, task_batch(carol, 0, 1)).error().code == Errc::conflict);
  CHECK(first->append(alice, 5, task_batch(alice, 5, 1)).error().code == Errc::conflict);

  // A restart of the first node catches up the second node's write.
  first.reset();
  first = open_replicated(dir.str() + "/a", open_log(nats, "node-a"));
  CHECK(*first->version(alice) == 5);
  CHECK(first->stats().caught_up_groups == 2);  // the claim and the write
}

TEST_CASE("a replicated node refuses a store that holds events the log never had") {
  TempDir dir;
  NatsServer nats(dir.str());
  auto user = Uuid::random();
  REQUIRE(open_test_store(dir.str() + "/a")->append(user, 0, task_batch(user, 0, 1)));
  events::StoreOptions options;
  options.path = dir.str() + "/a";
  options.master_key = test_master_key();
  options.replica = open_log(nats, "node-a");
  auto refused = events::EventStore::open(options);
  REQUIRE(!refused);
  CHECK(refused.error().code == Errc::invalid_argument);
  CHECK(refused.error().message.find("without a replicated log") != std::string::npos);
}

TEST_CASE("a replicated store answers unavailable without NATS and stores nothing") {
  TempDir dir;
  auto user = Uuid::random();
  std::shared_ptr<actors::JetStreamLog> log;
  std::unique_ptr<events::EventStore> store;
  {
    NatsServer nats(dir.str());
    auto options = jetstream_log_options(nats.url(), nats.creds(actors::BusRole::coachd), "node-a");
    options.timeout = std::chrono::milliseconds(500);
    log = std::shared_ptr<actors::JetStreamLog>(std::move(*actors::JetStreamLog::open(options)));
    store = open_replicated(dir.str() + "/a", log);
    REQUIRE(store->append(user, 0, task_batch(user, 0, 1)));
  }
  // nats-server is gone: nothing is acknowledged, nothing stored here.
  auto failed = store->append(user, 1, task_batch(user, 1, 1));
  REQUIRE(!failed);
  CHECK(failed.error().code == Errc::unavailable);
  CHECK(*store->version(user) == 1);
}

TEST_CASE("the log's data keys are created once: another writer's key is a conflict") {
  TempDir dir;
  NatsServer nats(dir.str());
  auto a = open_log(nats, "node-a"), b = open_log(nats, "node-b");
  auto user = Uuid::random();
  REQUIRE(a->put_key(user, "wrapped key one"));
  CHECK(a->put_key(user, "wrapped key one"));  // a retry of the same
  auto other = b->put_key(user, "wrapped key two");
  REQUIRE(!other);
  CHECK(other.error().code == Errc::conflict);
  CHECK(**a->get_key(user) == "wrapped key one");
}

TEST_CASE("with a replicated log an append bigger than a log message is refused, not retried") {
  TempDir dir;
  NatsServer nats(dir.str(), false, "max_payload: 65536\n");
  auto store = open_replicated(dir.str() + "/a", open_log(nats, "node-a"));
  auto user = Uuid::random();
  auto events = task_batch(user, 0, 100, std::string(2000, 'x'));
  auto refused = store->append(user, 0, events);
  REQUIRE(!refused);
  CHECK(refused.error().code == Errc::payload_too_large);
  CHECK(refused.error().message.find("replicated log") != std::string::npos);
  REQUIRE(store->append(user, 0, task_batch(user, 0, 3)));  // a normal one still goes
}

TEST_CASE("a node told other replicas or another lease ttl than the system's is refused") {
  TempDir dir;
  NatsServer nats(dir.str());
  auto log = open_log(nats, "node-a");  // made with 1 replica
  auto options =
      jetstream_log_options(nats.url(), nats.creds(actors::BusRole::coachd), "node-b", 3);
  auto refused = actors::JetStreamLog::open(options);
  REQUIRE(!refused);
  CHECK(refused.error().code == Errc::invalid_argument);
  CHECK(refused.error().message.find("--replicate-log") != std::string::npos);

  actors::NodeLeaseOptions lease;
  lease.nats = options.nats;
  lease.node_id = Uuid::random().to_string();
  lease.ttl = std::chrono::milliseconds(3000);
  lease.renew_every = std::chrono::milliseconds(1000);
  auto held = actors::NodeLease::acquire(lease);
  REQUIRE_MESSAGE(held, error_of(held));
  lease.node_id = Uuid::random().to_string();
  lease.ttl = std::chrono::milliseconds(6000);
  auto other = actors::NodeLease::acquire(lease);
  REQUIRE(!other);
  CHECK(other.error().code == Errc::invalid_argument);
  CHECK(other.error().message.find("--lease-ttl-ms") != std::string::npos);
}

TEST_CASE("reading the log: the groups after a position in order, none from a purged stream") {
  TempDir dir;
  NatsServer nats(dir.str());
  auto log = open_log(nats, "node-a");
  uint64_t last = 0;
  for (int i = 0; i < 5; ++i) {
    events::ReplicatedGroup group;
    group.writer = "node-a";
    group.batches = {"batch " + std::to_string(i)};
    auto appended = log->append(last, group);
    REQUIRE_MESSAGE(appended, appended.error().message);
    last = *appended;
  }
  auto tail = log->read(2, 100);
  REQUIRE_MESSAGE(tail, tail.error().message);
  REQUIRE(tail->size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    CHECK((*tail)[i].position == 3 + i);
    CHECK((*tail)[i].writer == "node-a");
    REQUIRE((*tail)[i].batches.size() == 1);
    CHECK((*tail)[i].batches[0] == "batch " + std::to_string(2 + i));
  }
  auto two = log->read(0, 2);
  REQUIRE(two);
  CHECK(two->size() == 2);
  CHECK(log->read(5, 100)->empty());
  // A purged stream keeps its last sequence but holds nothing: read answers
  // at once with nothing, not after a timeout.
  auto options = jetstream_log_options(nats.url(), nats.creds(actors::BusRole::coachd), "purger");
  auto nc = actors::connect_nats(options.nats);
  REQUIRE(nc);
  jsCtx* js = nullptr;
  REQUIRE(natsConnection_JetStream(&js, *nc, nullptr) == NATS_OK);
  REQUIRE(js_PurgeStream(js, options.stream.c_str(), nullptr, nullptr) == NATS_OK);
  auto started = std::chrono::steady_clock::now();
  auto purged = log->read(0, 100);
  REQUIRE_MESSAGE(purged, purged.error().message);
  CHECK(purged->empty());
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(2));
  jsCtx_Destroy(js);
  natsConnection_Destroy(*nc);
}
