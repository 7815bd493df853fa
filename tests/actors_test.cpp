// User actors and the registry, on a real CAF actor system and a real
// RocksDB store (no NATS: the gateway has its own tests).
#include <doctest/doctest.h>

#include <caf/all.hpp>
#include <future>
#include <thread>

#include "actors/registry.h"
#include "events/envelope.h"
#include "tests/commands.h"
#include "tests/support.h"

using namespace coach;
using namespace coach::actors;
using namespace std::chrono_literals;

namespace {

caf::actor_system_config& config() {
  static caf::actor_system_config cfg = [] {
    caf::actor_system_config c;
    c.set("scheduler.max-threads", 2);
    mark_caf_threads_nonblocking(c);  // the store counts blocking calls on them
    return c;
  }();
  return cfg;
}

// A node without NATS: store, actor system, registry.
struct Node {
  explicit Node(const test::TempDir& dir, RegistryOptions options = {}, bool sync = false) {
    store = test::open_test_store(dir.str(), sync);
    system = std::make_unique<caf::actor_system>(config());
    registry = std::make_unique<Registry>(*system, *store, options);
  }
  ~Node() {
    registry.reset();
    system.reset();
    store.reset();
  }

  // Sends a command and waits for its reply.
  v1::Reply call(const Uuid& user, const v1::Command& command, const std::string& key = {}) {
    auto promise = std::make_shared<std::promise<v1::Reply>>();
    auto future = promise->get_future();
    registry->dispatch(std::make_shared<Request>(
        user, command, key, [promise](const v1::Reply& r) { promise->set_value(r); }));
    REQUIRE(future.wait_for(10s) == std::future_status::ready);
    return future.get();
  }

  std::unique_ptr<events::EventStore> store;
  std::unique_ptr<caf::actor_system> system;
  std::unique_ptr<Registry> registry;
};

using test::complete_task;
using test::create_task;
using test::get_task;
using test::register_user;

std::string describe(const v1::Reply& r) {
  return r.ShortDebugString();
}

}  // namespace

TEST_CASE("a user registers, creates, lists and completes tasks through their actor") {
  test::TempDir dir;
  Node node(dir);
  auto user = Uuid::random();
  auto registered = node.call(user, register_user("ada@example.com"));
  REQUIRE_MESSAGE(registered.has_profile(), describe(registered));
  CHECK(registered.profile().user().timezone() == "Europe/Berlin");

  auto created = node.call(user, create_task("Write report"));
  REQUIRE_MESSAGE(created.has_task(), describe(created));
  auto id = created.task().id();
  CHECK(created.task().status() == v1::TASK_STATUS_PENDING);
  CHECK(Uuid::parse(id).has_value());

  v1::Command list;
  list.mutable_list_tasks();
  auto listed = node.call(user, list);
  REQUIRE(listed.has_task_list());
  REQUIRE(listed.task_list().tasks_size() == 1);
  CHECK(listed.task_list().tasks(0).title() == "Write report");

  auto done = node.call(user, complete_task(id));
  REQUIRE_MESSAGE(done.has_task(), describe(done));
  CHECK(done.task().status() == v1::TASK_STATUS_COMPLETED);
  auto again = node.call(user, complete_task(id));
  REQUIRE(again.has_error());
  CHECK(again.error().code() == "conflict");
  CHECK(*node.store->version(user) == 3);
}

TEST_CASE("commands of an unregistered user are refused, nothing is stored") {
  test::TempDir dir;
  Node node(dir);
  auto user = Uuid::random();
  auto r = node.call(user, create_task("x"));
  REQUIRE(r.has_error());
  CHECK(r.error().code() == "not_found");
  CHECK(r.error().message().find("register") != std::string::npos);
  CHECK(*node.store->version(user) == 0);
}

TEST_CASE("a retried command with the same idempotency key gets the same reply, stored once") {
  test::TempDir dir;
  Node node(dir);
  auto user = Uuid::random();
  REQUIRE(node.call(user, register_user("a@b.c")).has_profile());
  auto first = node.call(user, create_task("Pay rent"), "key-1");
  REQUIRE(first.has_task());
  auto retry = node.call(user, create_task("Pay rent"), "key-1");
  REQUIRE_MESSAGE(retry.has_task(), describe(retry));
  CHECK(retry.task().id() == first.task().id());
  CHECK(retry.SerializeAsString() == first.SerializeAsString());
  // Even after the task changed, the retry answers as the original did.
  REQUIRE(node.call(user, complete_task(first.task().id())).has_task());
  auto late = node.call(user, create_task("Pay rent"), "key-1");
  CHECK(late.SerializeAsString() == first.SerializeAsString());
  CHECK(*node.store->version(user) == 3);
}

TEST_CASE("a retry is answered with the reply stored with its key, as it was then") {
  test::TempDir dir;
  Node node(dir);
  auto user = Uuid::random();
  REQUIRE(node.call(user, register_user("a@b.c")).has_profile());
  auto id = node.call(user, create_task("Pay rent")).task().id();
  // Snoozed for a moment: a reply rebuilt later would say pending.
  v1::Command snooze;
  snooze.mutable_task()->mutable_snooze()->set_task_id(id);
  *snooze.mutable_task()->mutable_snooze()->mutable_until() =
      coach::to_timestamp(std::chrono::system_clock::now() + 300ms);
  auto snoozed = node.call(user, snooze, "snooze-1");
  REQUIRE_MESSAGE(snoozed.has_task(), describe(snoozed));
  CHECK(snoozed.task().status() == v1::TASK_STATUS_SNOOZED);
  std::this_thread::sleep_for(400ms);
  CHECK(node.call(user, get_task(id)).task().status() == v1::TASK_STATUS_PENDING);
  auto retry = node.call(user, snooze, "snooze-1");
  CHECK(retry.SerializeAsString() == snoozed.SerializeAsString());

  // A retry the decider would refuse now (the task is done) gets the
  // stored reply too, not the refusal.
  auto done = node.call(user, complete_task(id), "complete-1");
  REQUIRE_MESSAGE(done.has_task(), describe(done));
  auto again = node.call(user, complete_task(id), "complete-1");
  CHECK_MESSAGE(again.SerializeAsString() == done.SerializeAsString(), describe(again));
  // Without the key the same command is refused.
  CHECK(node.call(user, complete_task(id)).has_error());
  CHECK(*node.store->version(user) == 4);
}

TEST_CASE("state survives a restart of the node") {
  test::TempDir dir;
  auto user = Uuid::random();
  std::string id;
  {
    Node node(dir);
    REQUIRE(node.call(user, register_user("a@b.c")).has_profile());
    id = node.call(user, create_task("Keep me")).task().id();
  }
  Node node(dir);
  auto r = node.call(user, get_task(id));
  REQUIRE_MESSAGE(r.has_task(), describe(r));
  CHECK(r.task().title() == "Keep me");
}

TEST_CASE("a killed actor is replaced and rebuilds from the log, other users never notice") {
  test::TempDir dir;
  Node node(dir);
  auto alice = Uuid::random(), bob = Uuid::random();
  REQUIRE(node.call(alice, register_user("alice@x.y")).has_profile());
  REQUIRE(node.call(bob, register_user("bob@x.y")).has_profile());
  auto id = node.call(alice, create_task("survive")).task().id();

  REQUIRE(node.registry->kill_actor(alice));
  for (int i = 0; i < 100 && node.registry->stats().restarts == 0; ++i)
    std::this_thread::sleep_for(10ms);
  auto stats = node.registry->stats();
  CHECK(stats.restarts == 1);
  CHECK(stats.restarts_by_reason.count("exit_reason(kill)") == 1);

  auto r = node.call(alice, get_task(id));
  REQUIRE_MESSAGE(r.has_task(), describe(r));
  CHECK(r.task().title() == "survive");
  CHECK(node.call(bob, create_task("unbothered")).has_task());
}

TEST_CASE("idle actors passivate and come back on the next command") {
  test::TempDir dir;
  RegistryOptions options;
  options.actor.idle_timeout = 50ms;
  Node node(dir, options);
  std::vector<Uuid> users(20);
  std::vector<std::string> ids;
  for (auto& u : users) {
    u = Uuid::random();
    REQUIRE(node.call(u, register_user("u@x.y")).has_profile());
    ids.push_back(node.call(u, create_task("t")).task().id());
  }
  // Ids that never register are loaded too (and get a data key not stored).
  for (int i = 0; i < 5; ++i) CHECK(node.call(Uuid::random(), get_task(ids[0])).has_error());
  CHECK(node.store->cached_data_keys() > 0);  // 25 unless one passivated already
  for (int i = 0; i < 200 && node.registry->stats().resident > 0; ++i)
    std::this_thread::sleep_for(10ms);
  // Every actor that was started stopped for being idle. On a slow build
  // (TSan) one may already passivate between its user's two setup commands
  // and be spawned again, so compare with spawned rather than with 20.
  auto idle = node.registry->stats();
  CHECK(idle.resident == 0);
  CHECK(idle.spawned >= 25);
  CHECK(idle.passivated == idle.spawned);
  CHECK(idle.restarts == 0);
  // Their data keys left memory with them (in the users' lanes, after the
  // snapshot saves).
  for (int i = 0; i < 200 && node.store->cached_data_keys() > 0; ++i)
    std::this_thread::sleep_for(10ms);
  CHECK(node.store->cached_data_keys() == 0);
  // The snapshot was saved on the way out.
  auto snapshot = node.store->load_snapshot(users[0], kUserSnapshot);
  REQUIRE(snapshot);
  CHECK(snapshot->has_value());
  for (size_t i = 0; i < users.size(); ++i) {
    auto r = node.call(users[i], get_task(ids[i]));
    CHECK_MESSAGE(r.has_task(), describe(r));
  }
  // Each came back: spawned again (on a slow build, TSan, one may already
  // have gone idle again, so resident is not a fixed 20).
  CHECK(node.registry->stats().spawned >= idle.spawned + 20);
}

// An actor that asks the store for a version: a blocking call on a CAF
// thread, as a user actor must never make.
caf::behavior store_probe(caf::event_based_actor*, events::EventStore* store) {
  return {[store](int) { return store->version(Uuid::random()).has_value(); }};
}

TEST_CASE("no store call blocks a CAF thread: load, snapshot, export, features, retry, erase") {
  test::TempDir dir;
  RegistryOptions options;
  options.actor.idle_timeout = 50ms;
  options.actor.snapshot_every = 2;
  Node node(dir, options);
  auto user = Uuid::random();
  auto registration = register_user("a@b.c");
  registration.mutable_register_user()->mutable_preferences()->set_behavioral_tracking_enabled(
      true);
  REQUIRE(node.call(user, registration).has_profile());
  auto id = node.call(user, create_task("t"), "create-1").task().id();
  REQUIRE(node.call(user, complete_task(id), "complete-1").has_task());
  CHECK(node.call(user, complete_task(id), "complete-1").has_task());  // a retry, looked up
  v1::Command export_user;
  export_user.mutable_export_user();
  auto exported = node.call(user, export_user);
  REQUIRE_MESSAGE(exported.has_user_export(), describe(exported));
  CHECK(exported.user_export().events_size() == 3);
  v1::Command live;
  live.mutable_get_features();
  CHECK_MESSAGE(node.call(user, live).has_feature_snapshot(), describe(node.call(user, live)));
  v1::Command stored = live;
  *stored.mutable_get_features()->mutable_as_of() =
      coach::to_timestamp(std::chrono::system_clock::now());
  CHECK(node.call(user, stored).error().code() == "not_found");
  // Passivation saves the snapshot; the next command loads it again.
  for (int i = 0; i < 200 && node.registry->stats().resident > 0; ++i)
    std::this_thread::sleep_for(10ms);
  REQUIRE(node.registry->stats().resident == 0);
  CHECK(node.call(user, get_task(id)).has_task());
  v1::Command erase;
  erase.mutable_delete_user()->set_confirm(user.to_string());
  auto erased = node.call(user, erase);
  REQUIRE_MESSAGE(erased.has_profile(), describe(erased));
  CHECK(node.call(user, get_task(id)).error().code() == "not_found");
  CHECK(node.store->stats().blocking_on_scheduler == 0);

  // A test that cannot fail is a defect: a store call on a CAF thread counts.
  caf::scoped_actor self{*node.system};
  auto probe = node.system->spawn(store_probe, node.store.get());
  self->request(probe, caf::infinite, 1).receive([](bool) {}, [](caf::error&) {});
  CHECK(node.store->stats().blocking_on_scheduler == 1);
}

TEST_CASE("too many requests in flight for one user get a busy reply, not a queue") {
  test::TempDir dir;
  RegistryOptions options;
  options.max_in_flight_per_user = 2;
  Node node(dir, options, /*sync=*/true);
  auto user = Uuid::random();
  REQUIRE(node.call(user, register_user("a@b.c")).has_profile());
  constexpr int kRequests = 50;
  std::vector<std::future<v1::Reply>> replies;
  for (int i = 0; i < kRequests; ++i) {
    auto promise = std::make_shared<std::promise<v1::Reply>>();
    replies.push_back(promise->get_future());
    node.registry->dispatch(
        std::make_shared<Request>(user, create_task("t" + std::to_string(i)), "",
                                  [promise](const v1::Reply& r) { promise->set_value(r); }));
  }
  int busy = 0, ok = 0;
  for (auto& f : replies) {
    REQUIRE(f.wait_for(10s) == std::future_status::ready);
    auto r = f.get();
    if (r.has_error()) {
      CHECK(r.error().code() == "busy");
      CHECK(r.error().retry_after_ms() > 0);
      ++busy;
    } else {
      ++ok;
    }
  }
  CHECK(busy > 0);
  CHECK(ok >= 2);
  CHECK(*node.store->version(user) == 1 + static_cast<uint64_t>(ok));
  CHECK(node.registry->stats().in_flight == 0);
}

TEST_CASE(
    "a user's task risk uses the node's population rates from its next load, is never stored") {
  test::TempDir dir;
  RegistryOptions options;
  options.actor.idle_timeout = 50ms;
  Node node(dir, options);
  auto user = Uuid::random();
  auto registration = register_user("a@b.c");
  registration.mutable_register_user()->mutable_preferences()->set_behavioral_tracking_enabled(
      true);
  REQUIRE(node.call(user, registration).has_profile());
  auto create = create_task("essay");
  create.mutable_task()->mutable_create()->set_category("essay");
  *create.mutable_task()->mutable_create()->mutable_due_at() =
      coach::to_timestamp(std::chrono::system_clock::now() + 72h);
  auto created = node.call(user, create, "create-essay");
  auto id = created.task().id();
  CHECK(created.task().has_lateness_risk());
  // A retry gets the stored reply, which keeps no risk: it is never stored.
  auto retried = node.call(user, create, "create-essay");
  CHECK(retried.task().id() == id);
  CHECK_FALSE(retried.task().has_lateness_risk());
  CHECK(retried.task().lateness_reasons().empty());
  auto risk_after_reload = [&](std::optional<double> essay_rate) {
    if (essay_rate) {
      v1::PopulationRatesState rates;
      rates.set_users(50);
      rates.set_overall(0.35);
      auto* essay = rates.add_categories();
      essay->set_category("essay");
      essay->set_rate(*essay_rate);
      essay->set_users(50);
      REQUIRE(node.store->put_meta(actors::kPopulationRatesMeta, rates.SerializeAsString()));
    }
    for (int i = 0; i < 200 && node.registry->stats().resident > 0; ++i)
      std::this_thread::sleep_for(10ms);
    REQUIRE(node.registry->stats().resident == 0);
    auto task = node.call(user, get_task(id)).task();
    REQUIRE(task.has_lateness_risk());
    return task.lateness_risk();
  };
  double neutral = risk_after_reload(std::nullopt);
  double often_late = risk_after_reload(0.9);
  double seldom_late = risk_after_reload(0.05);
  CHECK(often_late > neutral + 0.05);
  CHECK(seldom_late < neutral - 0.05);
}
