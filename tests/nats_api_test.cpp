// coach's NATS API end to end: a real nats-server on a free loopback port,
// coachd as a child process, requests from a real NATS client.
#include <doctest/doctest.h>
#include <google/protobuf/util/time_util.h>
#include <nats/nats.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "base/ids.h"
#include "events/crypto.h"
#include "projections/metrics_report.h"
#include "schema/internal.pb.h"
#include "tests/processes.h"
#include "tests/support.h"
#include "wire/api_codec.h"
#include "wire/auth.h"
#include "wire/nats_connect.h"

using namespace coach;
using namespace std::chrono_literals;
using actors::Encoding;

namespace {

std::string describe(const Result<v1::Reply>& r) {
  return r ? r->ShortDebugString() : test::error_of(r);
}

// The reply, which must be a success.
v1::Reply ok(const Result<v1::Reply>& r) {
  REQUIRE_MESSAGE(r.has_value(), describe(r));
  REQUIRE_MESSAGE(!r->has_error(), describe(r));
  return *r;
}

// The error code of a reply, which must be an error.
std::string error_code(const Result<v1::Reply>& r) {
  REQUIRE_MESSAGE(r.has_value(), describe(r));
  REQUIRE_MESSAGE(r->has_error(), describe(r));
  CHECK_FALSE(r->error().message().empty());
  return r->error().code();
}

struct Cluster {
  test::TempDir dir;
  test::NatsServer nats{dir.str()};
  std::string data = dir.str() + "/data";
  std::string token_key() const { return dir.str() + "/token.key"; }  // coachd's default

  // A request by `caller` with `role`, signed with the node's key, on
  // `target`'s data (none: the caller's own).
  Result<v1::Reply> request_as(test::Client& client, const Uuid& caller, v1::Role role,
                               const std::string& operation, const std::string& target = "",
                               const std::string& body = "") const {
    auto token =
        actors::TokenSigner::load(token_key(), false)->issue(caller, role, std::chrono::hours(1));
    std::vector<std::pair<std::string, std::string>> headers = {
        {"Authorization", "Bearer " + token}};
    if (!target.empty()) headers.emplace_back("Coach-User", target);
    return client.raw("coach.v1." + operation, body, headers);
  }
};

// A cluster with coachd serving on it and a client connected (in that order:
// coachd makes the token key the client signs with).
struct Served : Cluster {
  test::Coachd coachd{data, nats.url()};
  test::Client client{nats.url(), token_key()};
};

using Header = std::pair<std::string, std::string>;
const Header kJson{"Content-Type", "application/json"};
const Header kProtobuf{"Content-Type", "application/protobuf"};

void register_user(test::Client& client, const std::string& user) {
  ok(client.request("user.register", R"({"email": "someone@example.com", "timezone": "UTC"})",
                    user));
}

}  // namespace

TEST_CASE("the full task life cycle over NATS, in JSON and in protobuf") {
  Served c;
  auto& client = c.client;
  auto user = new_uuid_string();
  auto profile = ok(client.request(
      "user.register", R"({"email": "ada@example.com", "timezone": "America/New_York"})", user));
  CHECK(profile.profile().user().timezone() == "America/New_York");

  auto created = ok(client.request(
      "task.create",
      R"({"title": "Write report", "due_at": "2030-01-15T17:00:00Z", "category": "writing",
          "priority": 2, "estimated_minutes": 90})",
      user));
  auto id = created.task().id();
  CHECK(created.task().status() == v1::TASK_STATUS_PENDING);
  CHECK(created.task().estimated_minutes() == 90);

  auto edited = ok(client.request(
      "task.edit", R"({"task_id": ")" + id + R"(", "title": "Write Q3 report"})", user));
  CHECK(edited.task().title() == "Write Q3 report");
  auto tomorrow = google::protobuf::util::TimeUtil::ToString(
      google::protobuf::util::TimeUtil::GetCurrentTime() +
      google::protobuf::util::TimeUtil::HoursToDuration(24));
  auto snoozed = ok(client.request(
      "task.snooze", R"({"task_id": ")" + id + R"(", "until": ")" + tomorrow + R"("})", user));
  CHECK(snoozed.task().status() == v1::TASK_STATUS_SNOOZED);

  // The same command in protobuf.
  v1::CompleteTask complete;
  complete.set_task_id(id);
  auto done = ok(
      client.request("task.complete", complete.SerializeAsString(), user, "", Encoding::protobuf));
  CHECK(done.task().status() == v1::TASK_STATUS_COMPLETED);

  auto list = ok(client.request("task.list", R"({"statuses": ["TASK_STATUS_COMPLETED"]})", user));
  REQUIRE(list.task_list().tasks_size() == 1);
  CHECK(list.task_list().tasks(0).id() == id);
  CHECK(ok(client.request("task.list", "", user)).task_list().tasks_size() == 0);

  ok(client.request("task.delete", R"({"task_id": ")" + id + R"("})", user));
  auto got = ok(client.request("task.get", R"({"task_id": ")" + id + R"("})", user));
  CHECK(got.task().status() == v1::TASK_STATUS_DELETED);
  auto prefs = ok(client.request("preferences.set", R"({"humor_intensity": 5})", user));
  CHECK(prefs.profile().preferences().humor_intensity() == 5);
}

TEST_CASE("a restarted coachd keeps every task") {
  Cluster c;
  auto user = new_uuid_string();
  std::vector<std::string> ids;
  {
    test::Coachd coachd(c.data, c.nats.url());
    test::Client client(c.nats.url(), c.token_key());
    register_user(client, user);
    for (int i = 0; i < 20; ++i)
      ids.push_back(
          ok(client.request("task.create", R"({"title": "t)" + std::to_string(i) + R"("})", user))
              .task()
              .id());
    coachd.process().signal(SIGTERM);
    int status = coachd.process().wait();
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  test::Coachd coachd(c.data, c.nats.url());
  test::Client client(c.nats.url(), c.token_key());
  auto list = ok(client.request("task.list", R"({"page_size": 100})", user));
  CHECK(list.task_list().tasks_size() == 20);
  for (const auto& id : ids)
    CHECK(ok(client.request("task.get", R"({"task_id": ")" + id + R"("})", user)).task().id() ==
          id);
}

TEST_CASE("SIGKILL of coachd under load loses no acknowledged command") {
  Cluster c;
  constexpr int kClients = 8;
  std::vector<std::string> users;
  std::mutex mu;
  std::map<std::string, std::string> acked;  // task id -> user
  {
    test::Coachd coachd(c.data, c.nats.url());
    {
      test::Client setup(c.nats.url(), c.token_key());
      for (int i = 0; i < kClients; ++i) {
        users.push_back(new_uuid_string());
        register_user(setup, users.back());
      }
    }
    std::atomic<bool> stop{false};
    std::vector<std::thread> clients;
    for (int t = 0; t < kClients; ++t)
      clients.emplace_back([&, t] {
        test::Client client(c.nats.url(), c.token_key());
        for (int i = 0; !stop; ++i) {
          auto r = client.request("task.create", R"({"title": "load"})", users[t],
                                  "k" + std::to_string(t) + "-" + std::to_string(i), Encoding::json,
                                  1000);
          if (r && r->has_task()) {
            std::lock_guard lock(mu);
            acked[r->task().id()] = users[t];
          }
        }
      });
    std::this_thread::sleep_for(1500ms);
    coachd.process().signal(SIGKILL);
    coachd.process().wait();
    stop = true;
    for (auto& t : clients) t.join();
  }
  REQUIRE(acked.size() > 50);
  MESSAGE(acked.size() << " creates acknowledged before SIGKILL");
  test::Coachd coachd(c.data, c.nats.url());
  test::Client client(c.nats.url(), c.token_key());
  size_t missing = 0;
  for (const auto& [id, user] : acked) {
    auto r = client.request("task.get", R"({"task_id": ")" + id + R"("})", user);
    missing += !(r && r->has_task());
  }
  CHECK(missing == 0);
}

TEST_CASE("1000 users at once") {
  Cluster c;
  test::Coachd coachd(c.data, c.nats.url());
  constexpr int kUsers = 1000, kThreads = 16;
  std::atomic<int> failures{0}, done{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      test::Client client(c.nats.url(), c.token_key());
      for (int u = t; u < kUsers; u += kThreads) {
        auto user = new_uuid_string();
        auto a = client.request("user.register", R"({"email": "u@example.com"})", user);
        auto b = client.request("task.create", R"({"title": "hello"})", user);
        auto l = client.request("task.list", "", user);
        bool good =
            a && !a->has_error() && b && b->has_task() && l && l->task_list().tasks_size() == 1;
        failures += !good;
        ++done;
      }
    });
  for (auto& t : threads) t.join();
  CHECK(done == kUsers);
  CHECK(failures == 0);
}

TEST_CASE("bad input gets a structured error and the node keeps serving") {
  Served c;
  auto& client = c.client;
  auto user = new_uuid_string();
  register_user(client, user);
  const auto& json = kJson;
  Header as_user{"Coach-User", user};

  Header token{"Authorization", client.authorization(user)};
  CHECK(error_code(client.raw("coach.v1.task.explode", "{}", {json, as_user, token})) ==
        "invalid_argument");
  // Without a token nothing is looked at, the operation's name included.
  CHECK(error_code(client.raw("coach.v1.task.explode", "{}", {json, as_user})) ==
        "unauthenticated");
  CHECK(error_code(client.request("task.create", "{not json", user)) == "invalid_argument");
  CHECK(error_code(client.request("task.create", "\xff\xfe\x00garbage", user, "",
                                  Encoding::protobuf)) == "invalid_argument");
  CHECK(error_code(client.raw("coach.v1.task.create", R"({"title": "x"})", {json})) ==
        "unauthenticated");
  CHECK(error_code(client.request("task.create", R"({"title": "x"})", "*")) == "invalid_argument");
  CHECK(error_code(client.request("task.create", R"({"title": "x"})", ">")) == "invalid_argument");
  CHECK(error_code(client.request("task.create", "{}", user)) == "invalid_argument");  // no title
  CHECK(error_code(client.request("task.create", R"({"title": {"nested": 1}})", user)) ==
        "invalid_argument");
  CHECK(error_code(client.request("task.create", R"({"title": "x", "priority": "high"})", user)) ==
        "invalid_argument");
  CHECK(error_code(client.request("task.create", R"({"title": "x", "tilte": "typo"})", user)) ==
        "invalid_argument");
  CHECK(error_code(client.request(
            "task.create", R"({"title": ")" + std::string(70 * 1024, 'x') + R"("})", user)) ==
        "payload_too_large");
  CHECK(error_code(client.request("task.complete", R"({"task_id": ")" + new_uuid_string() + R"("})",
                                  user)) == "not_found");
  CHECK(error_code(client.raw("coach.v1.task.list", "", {{"Content-Type", "text/xml"}, as_user})) ==
        "invalid_argument");

  // Nothing of that was stored, and a good command still works.
  auto list = ok(client.request("task.list", "", user));
  CHECK(list.task_list().tasks_size() == 0);
  ok(client.request("task.create", R"({"title": "still here"})", user));
}

TEST_CASE("coachd refuses to start with a wrong master key, and says so") {
  Cluster c;
  { test::Coachd first(c.data, c.nats.url()); }  // creates the store and its key file
  setenv("COACH_MASTER_KEY", events::SecretKey::random().to_hex().c_str(), 1);
  test::Process wrong(COACH_COACHD_PATH, {"--data-dir", c.data, "--nats-url", c.nats.url()},
                      c.dir.str() + "/wrong-key.log");
  unsetenv("COACH_MASTER_KEY");
  int status = wrong.wait();
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 1);
  CHECK(wrong.log().find("master key does not match") != std::string::npos);
  // The right key still opens it.
  test::Coachd again(c.data, c.nats.url());
}

TEST_CASE("bad tokens are refused and nothing runs, a user cannot touch another user's data") {
  Served c;
  auto& client = c.client;
  auto alice = new_uuid_string(), bob = new_uuid_string();
  register_user(client, alice);
  register_user(client, bob);
  auto signer = *actors::TokenSigner::load(c.token_key(), false);
  auto alice_id = *Uuid::parse(alice);
  auto good = signer.issue(alice_id, v1::ROLE_USER, std::chrono::hours(1));
  auto create = [&](const std::string& authorization, const std::string& target) {
    std::vector<std::pair<std::string, std::string>> headers = {{"Coach-User", target}};
    if (!authorization.empty()) headers.emplace_back("Authorization", authorization);
    return client.raw("coach.v1.task.create", R"({"title": "should not exist"})", headers);
  };
  auto tampered = good;
  tampered[good.find('.') + 5] ^= 0x01;  // one bit of the claims
  auto foreign =
      actors::TokenSigner::random().issue(alice_id, v1::ROLE_ADMIN, std::chrono::hours(1));
  auto expired = signer.issue(alice_id, v1::ROLE_USER, std::chrono::seconds(60),
                              std::chrono::system_clock::now() - std::chrono::hours(2));

  CHECK(error_code(create("", alice)) == "unauthenticated");
  CHECK(error_code(create("Basic dXNlcjpwYXNz", alice)) == "unauthenticated");
  CHECK(error_code(create("Bearer not-a-token", alice)) == "unauthenticated");
  CHECK(error_code(create("Bearer " + tampered, alice)) == "unauthenticated");
  CHECK(error_code(create("Bearer " + foreign, alice)) == "unauthenticated");
  auto old = create("Bearer " + expired, alice);
  CHECK(error_code(old) == "unauthenticated");
  CHECK(old->error().message().find("expired") != std::string::npos);
  CHECK(error_code(create("Bearer v1." + std::string(4000, 'A') + ".x", alice)) ==
        "unauthenticated");
  // Alice's valid token, Bob's data: refused, for writes and reads alike.
  CHECK(error_code(create("Bearer " + good, bob)) == "permission_denied");
  auto peek = client.raw("coach.v1.task.list", "",
                         {{"Coach-User", bob}, {"Authorization", "Bearer " + good}});
  CHECK(error_code(peek) == "permission_denied");

  // Nothing of it ran.
  for (const auto& user : {alice, bob})
    CHECK(ok(client.request("task.list", "", user)).task_list().tasks_size() == 0);
  CHECK(ok(client.request("task.create", R"({"title": "mine"})", alice)).has_task());
}

TEST_CASE("export returns everything of the user, page by page, complete against the log") {
  Served c;
  auto& client = c.client;
  auto user = new_uuid_string(), other = new_uuid_string();
  register_user(client, user);
  register_user(client, other);
  ok(client.request("task.create", R"({"title": "not mine"})", other));
  std::vector<std::string> ids;
  for (int i = 0; i < 12; ++i) {
    ids.push_back(
        ok(client.request("task.create", R"({"title": "t)" + std::to_string(i) + R"("})", user))
            .task()
            .id());
    ok(client.request("task.edit", R"({"task_id": ")" + ids.back() + R"(", "priority": 3})", user));
  }
  ok(client.request("task.delete", R"({"task_id": ")" + ids[0] + R"("})", user));
  const uint64_t version = 1 + 12 * 2 + 1;

  std::vector<v1::TaskEvent> events;
  std::map<std::string, v1::Task> tasks;  // each task comes once, with the page creating it
  v1::UserExport last;
  for (uint64_t from = 1, pages = 0; from != 0 && pages < 100; ++pages) {
    auto page = ok(client.request(
        "user.export", R"({"from_sequence": )" + std::to_string(from) + R"(, "max_events": 7})",
        user));
    last = page.user_export();
    CHECK(last.events_size() <= 7);
    for (const auto& e : last.events()) events.push_back(e);
    for (const auto& t : last.tasks()) CHECK(tasks.emplace(t.id(), t).second);
    from = last.next_sequence();
  }
  CHECK(last.format() == "coach.export.v1");
  CHECK(last.profile().user().email() == "someone@example.com");
  CHECK(tasks.size() == 12);                                    // the deleted one included
  CHECK(tasks.at(ids[0]).status() == v1::TASK_STATUS_DELETED);  // as it is now
  CHECK(tasks.at(ids[1]).priority() == 3);
  REQUIRE(events.size() == version);
  for (size_t i = 0; i < events.size(); ++i) {
    CHECK(events[i].sequence() == i + 1);
    CHECK(events[i].user_id() == user);
  }
  CHECK(events[0].has_user_registered());
  CHECK(events.back().has_task_deleted());
  CHECK(error_code(client.request("user.export", R"({"max_events": 5000})", user)) ==
        "invalid_argument");
}

TEST_CASE("deleting a user erases them, stops answering for them, and spares everyone else") {
  Served c;
  auto& client = c.client;
  auto user = new_uuid_string(), other = new_uuid_string();
  register_user(client, user);
  register_user(client, other);
  auto id = ok(client.request("task.create", R"({"title": "private"})", user)).task().id();

  CHECK(error_code(client.request("user.delete", R"({"confirm": "yes"})", user)) ==
        "invalid_argument");
  CHECK(ok(client.request("task.get", R"({"task_id": ")" + id + R"("})", user)).has_task());

  auto deleted = ok(client.request("user.delete", R"({"confirm": ")" + user + R"("})", user));
  CHECK(deleted.profile().user().has_deleted_at());
  for (const auto& call : std::vector<std::pair<std::string, std::string>>{
           {"task.get", R"({"task_id": ")" + id + R"("})"},
           {"task.create", R"({"title": "again"})"},
           {"user.register", R"({"email": "back@example.com"})"},
           {"user.export", ""},
           {"user.get", ""}}) {
    // No structured binding: CHECK_MESSAGE's lambda cannot capture one (clang 14).
    auto r = client.request(call.first, call.second, user);
    CHECK_MESSAGE(error_code(r) == "not_found", call.first);
    CHECK(r->error().message().find("deleted") != std::string::npos);
  }
  CHECK(ok(client.request("task.create", R"({"title": "fine"})", other)).has_task());
}

TEST_CASE(
    "NATS over TLS with client certificates: coachd serves, plaintext and strangers are refused") {
  test::TempDir dir;
  test::NatsServer nats(dir.str(), /*tls=*/true);
  test::Coachd coachd(dir.str() + "/data", nats.url());  // TLS by default, certs in <dir>/tls
  test::Client client(nats.url(), dir.str() + "/token.key", nats.tls_dir());
  auto user = new_uuid_string();
  register_user(client, user);
  CHECK(ok(client.request("task.create", R"({"title": "over TLS"})", user)).has_task());

  auto port = nats.url().substr(nats.url().rfind(':') + 1);
  actors::NatsConfig plain;
  plain.url = "nats://127.0.0.1:" + port;
  plain.plaintext = true;
  plain.creds_file = nats.creds(actors::BusRole::client);  // refused for TLS alone
  auto refused = actors::connect_nats(plain);
  CHECK_FALSE(refused.has_value());

  test::make_certs(dir.str() + "/stranger");  // another CA, another client certificate
  actors::NatsConfig stranger;
  stranger.url = nats.url();
  stranger.use_tls_dir(dir.str() + "/stranger");
  stranger.creds_file = nats.creds(actors::BusRole::client);
  auto foreign = actors::connect_nats(stranger);
  CHECK_FALSE(foreign.has_value());
  // A client with the node's CA but a certificate signed by the stranger CA.
  actors::NatsConfig mixed = stranger;
  mixed.ca_file = nats.tls_dir() + "/ca.pem";
  auto half = actors::connect_nats(mixed);
  if (half) natsConnection_Destroy(*half);
  CHECK_FALSE(half.has_value());
}

TEST_CASE("insights say in plain words what coach knows, analytics of others need an analyst") {
  Served c;
  auto& client = c.client;
  auto user = new_uuid_string(), stranger = new_uuid_string();
  register_user(client, user);
  register_user(client, stranger);
  auto create = [&](const std::string& body) {
    return ok(client.request("task.create", body, user)).task().id();
  };
  // While tracking is off: a late completion and a snooze, never learned.
  auto before = create(R"({"title": "late, untracked", "due_at": "2020-01-01T00:00:00Z"})");
  ok(client.request("task.complete", R"({"task_id": ")" + before + R"("})", user));
  auto snoozed = create(R"({"title": "snoozed, untracked"})");
  auto next_week = google::protobuf::util::TimeUtil::ToString(
      coach::to_timestamp(std::chrono::system_clock::now() + std::chrono::hours(24 * 7)));
  ok(client.request("task.snooze",
                    R"({"task_id": ")" + snoozed + R"(", "until": ")" + next_week + R"("})", user));

  auto off = ok(client.request("user.insights", "", user)).insights();
  CHECK_FALSE(off.behavioral_tracking_enabled());
  CHECK(off.items_size() == 0);
  CHECK(off.summary().find("tracking is off") != std::string::npos);
  CHECK(off.weeks_size() == 0);  // with tracking off, nothing computed

  ok(client.request("preferences.set", R"({"behavioral_tracking_enabled": true})", user));
  auto id = create(R"({"title": "late one", "due_at": "2020-01-01T00:00:00Z"})");
  ok(client.request("task.complete", R"({"task_id": ")" + id + R"("})", user));
  // Completed without a due time: neither late nor on time.
  auto undated = create(R"({"title": "no due"})");
  ok(client.request("task.complete", R"({"task_id": ")" + undated + R"("})", user));
  auto asked_at = std::chrono::system_clock::now();
  auto on = ok(client.request("user.insights", "", user)).insights();
  auto answered_at = std::chrono::system_clock::now();
  CHECK(on.behavioral_tracking_enabled());
  // The user's own weeks, over the whole log (docs/metrics.md): this week
  // so far (the last; the run may cross a Monday), four tasks created, one
  // snooze, active.
  REQUIRE(on.weeks_size() >= 1);
  const auto& week = on.weeks(on.weeks_size() - 1);
  auto week_at = [](auto t) {
    return projections::iso_week_name(projections::iso_week_of(t, "UTC"));
  };
  CHECK((week.week() == week_at(asked_at) || week.week() == week_at(answered_at)));
  CHECK(week.users() == 1);
  if (on.weeks_size() == 1) {
    CHECK(week.active_users() == 1);
    CHECK(week.created() == 4);
    CHECK(week.snoozes() == 1);
    CHECK(week.snooze_rate() == doctest::Approx(0.25));
  }
  // And by local day: today so far last, the same counts.
  REQUIRE(on.days_size() >= 1);
  CHECK(on.days_size() <= 7);
  const auto& today = on.days(on.days_size() - 1);
  auto day_at = [](auto t) {
    return projections::local_day_name(projections::local_day_of(t, "UTC"));
  };
  CHECK((today.day() == day_at(asked_at) || today.day() == day_at(answered_at)));
  CHECK(today.week().empty());
  if (on.days_size() == 1) {
    CHECK(today.created() == 4);
    CHECK(today.snoozes() == 1);
  }
  bool found = false;
  for (const auto& item : on.items())
    if (item.name() == "completed_late_share") {
      found = true;
      CHECK(item.value() == doctest::Approx(1.0));
      CHECK(item.explanation() ==
            "Of the 1 task with a due time you completed since you turned tracking on, 1 "
            "finished after it.");
    }
  CHECK(found);
  for (const auto& item : on.items()) {
    CAPTURE(item.name());
    if (item.name() == "tasks") CHECK(item.value() == doctest::Approx(2));  // since tracking on
    if (item.name() == "snoozes_per_task") CHECK(item.value() == doctest::Approx(0));
  }

  auto as = [&](v1::Role role, const std::string& operation) {
    return c.request_as(client, *Uuid::parse(stranger), role, operation, user);
  };
  CHECK(error_code(as(v1::ROLE_USER, "user.insights")) == "permission_denied");
  CHECK(error_code(as(v1::ROLE_USER, "user.features")) == "permission_denied");
  CHECK(ok(as(v1::ROLE_ANALYST, "user.features")).feature_snapshot().user_id() == user);
  auto seen = ok(as(v1::ROLE_ANALYST, "user.insights")).insights();
  CHECK(seen.behavioral_tracking_enabled());
  CHECK(seen.weeks_size() == 0);  // the user's own weeks are theirs alone
  CHECK(seen.days_size() == 0);
  CHECK(ok(as(v1::ROLE_ADMIN, "user.insights")).insights().weeks_size() == 0);
  CHECK(ok(as(v1::ROLE_ADMIN, "user.insights")).insights().days_size() == 0);
  CHECK(error_code(as(v1::ROLE_ANALYST, "task.list")) == "permission_denied");  // not analytics
  CHECK(error_code(as(v1::ROLE_ANALYST, "admin.node")) == "permission_denied");
  auto node = ok(as(v1::ROLE_ADMIN, "admin.node")).node_stats();
  // 2 registrations, 4 creates, 3 completes, a snooze, the preferences.
  CHECK(node.events_stored() == 11);
  CHECK(node.resident_actors() >= 2);
}

TEST_CASE("coachd's data dir holds no plaintext email, title or description") {
  Cluster c;
  const std::string email = "zq-distinct-7731@example.com", title = "Quxbar-title-5521",
                    description = "Plover-notes-9034";
  {
    test::Coachd coachd(c.data, c.nats.url());
    test::Client client(c.nats.url(), c.token_key());
    auto user = new_uuid_string();
    ok(client.request("user.register", R"({"email": ")" + email + R"("})", user));
    ok(client.request("task.create",
                      R"({"title": ")" + title + R"(", "description": ")" + description + R"("})",
                      user));
    coachd.process().signal(SIGTERM);
    coachd.process().wait();
  }
  size_t files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(c.data)) {
    if (!entry.is_regular_file()) continue;
    ++files;
    std::ifstream in(entry.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (const auto& secret : {email, title, description})
      CHECK_MESSAGE(bytes.find(secret) == std::string::npos,
                    secret << " in " << entry.path().filename().string());
  }
  CHECK(files > 3);  // WAL, MANIFEST, OPTIONS, LOG at least
}

TEST_CASE("replayed commands run once, reordered ones get clear errors") {
  Served c;
  auto& client = c.client;
  auto user = new_uuid_string();
  register_user(client, user);
  auto id = new_uuid_string();
  auto create = R"({"task_id": ")" + id + R"(", "title": "once"})";
  auto complete = R"({"task_id": ")" + id + R"("})";

  // Out of order: completing before creating.
  CHECK(error_code(client.request("task.complete", complete, user, "c-1")) == "not_found");
  // A replay, three times: one task, one event, the same answer each time.
  std::vector<std::string> answers;
  for (int i = 0; i < 3; ++i)
    answers.push_back(
        ok(client.request("task.create", create, user, "create-1")).SerializeAsString());
  CHECK(answers[0] == answers[1]);
  CHECK(answers[1] == answers[2]);
  // The completion's key was not used up by its failed first try.
  CHECK(ok(client.request("task.complete", complete, user, "c-1")).task().status() ==
        v1::TASK_STATUS_COMPLETED);
  CHECK(ok(client.request("task.complete", complete, user, "c-1")).task().status() ==
        v1::TASK_STATUS_COMPLETED);  // replayed: the same success, not a conflict
  auto exported = ok(client.request("user.export", "", user)).user_export();
  CHECK(exported.events_size() == 3);  // registered, created, completed
}

TEST_CASE("an idempotency key reused for another command is refused with conflict") {
  Served c;
  auto& client = c.client;
  auto user = new_uuid_string();
  register_user(client, user);
  auto created = ok(client.request("task.create", R"({"title": "keyed"})", user, "key-1"));
  auto id = created.task().id();
  auto complete = R"({"task_id": ")" + id + R"("})";

  // Another operation with the create's key: refused, the task stays pending.
  auto reused = client.request("task.complete", complete, user, "key-1");
  CHECK(error_code(reused) == "conflict");
  CHECK(reused->error().message().find("another command") != std::string::npos);
  CHECK(ok(client.request("task.get", complete, user)).task().status() == v1::TASK_STATUS_PENDING);
  // The same operation with another body: refused too.
  CHECK(error_code(client.request("task.create", R"({"title": "other"})", user, "key-1")) ==
        "conflict");
  // A write that stores nothing (an edit that changes nothing), with the
  // key of another command. (Reads do not look at keys: they change nothing.)
  CHECK(error_code(client.request("task.edit", R"({"task_id": ")" + id + R"(", "title": "keyed"})",
                                  user, "key-1")) == "conflict");
  // The true retry still gets the first reply, and nothing ran twice.
  auto retried = ok(client.request("task.create", R"({"title": "keyed"})", user, "key-1"));
  CHECK(retried.task().id() == id);
  auto list = ok(client.request("task.list", "", user)).task_list();
  CHECK(list.tasks_size() == 1);
  // A new key completes it.
  CHECK(ok(client.request("task.complete", complete, user, "key-2")).task().status() ==
        v1::TASK_STATUS_COMPLETED);
  auto exported = ok(client.request("user.export", "", user)).user_export();
  CHECK(exported.events_size() == 3);  // registered, created, completed
}

TEST_CASE("with tracking on, insights carry the score and why, it survives passivation") {
  Cluster c;
  test::Coachd coachd(c.data, c.nats.url(), {"--idle-seconds", "1"});
  test::Client client(c.nats.url(), c.token_key());
  auto user = new_uuid_string();
  register_user(client, user);
  ok(client.request("preferences.set", R"({"behavioral_tracking_enabled": true})", user));
  for (int i = 0; i < 3; ++i) {
    auto id = ok(client.request("task.create",
                                R"({"title": "late", "due_at": "2020-01-0)" +
                                    std::to_string(i + 1) + R"(T00:00:00Z"})",
                                user))
                  .task()
                  .id();
    ok(client.request("task.complete", R"({"task_id": ")" + id + R"("})", user));
  }
  auto score_of = [](const v1::Insights& insights) {
    for (const auto& item : insights.items())
      if (item.name() == "procrastination_score") return item.value();
    return -1.0;
  };
  auto before = ok(client.request("user.insights", "", user)).insights();
  CHECK(before.model_version() == "v1");
  double score = score_of(before);
  CHECK(score > 0.5);  // three of three finished (very) late
  bool explained = false;
  for (const auto& item : before.items())
    explained |= item.name().rfind("because_", 0) == 0 &&
                 item.explanation().find("raises") != std::string::npos;
  CHECK(explained);

  auto features = ok(client.request("user.features", "", user)).feature_snapshot();
  CHECK(features.procrastination_score() == doctest::Approx(score));
  CHECK(features.completion_latency_avg() > 24);  // hours late, on average
  CHECK(features.snooze_rate() == 0);
  CHECK(features.mode_cluster() == -1);
  CHECK(features.model_version() == "v1");
  CHECK(features.as_of_sequence() == 8);  // register, tracking on, 3 x (create, complete)
  CHECK(features.user_id() == user);

  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // the actor passivates
  auto after = ok(client.request("user.insights", "", user)).insights();
  CHECK(score_of(after) == doctest::Approx(score));

  ok(client.request("preferences.set", R"({"behavioral_tracking_enabled": false})", user));
  auto off = ok(client.request("user.insights", "", user)).insights();
  CHECK(score_of(off) == -1.0);
  CHECK(off.model_version().empty());
  CHECK(error_code(client.request("user.features", "", user)) == "not_found");
}

TEST_CASE("an admin runs the batch job, features then carry its clusters and read as of a time") {
  Served c;
  auto& client = c.client;
  std::vector<std::string> users;
  for (int u = 0; u < 6; ++u) {
    auto user = new_uuid_string();
    users.push_back(user);
    register_user(client, user);
    ok(client.request("preferences.set", R"({"behavioral_tracking_enabled": true})", user));
    for (int i = 0; i < 3; ++i) {
      // Half the users finish years late, half before their due time.
      std::string due =
          u % 2 ? "2020-01-0" + std::to_string(i + 1) : "2099-01-0" + std::to_string(i + 1);
      auto id = ok(client.request("task.create",
                                  R"({"title": "t", "due_at": ")" + due + R"(T00:00:00Z"})", user))
                    .task()
                    .id();
      ok(client.request("task.complete", R"({"task_id": ")" + id + R"("})", user));
    }
  }
  // A new user with tracking on and one task done: too little history to
  // be placed in a mode or named.
  auto fresh = new_uuid_string();
  register_user(client, fresh);
  ok(client.request("preferences.set", R"({"behavioral_tracking_enabled": true})", fresh));
  auto only = ok(client.request("task.create", R"({"title": "t"})", fresh)).task().id();
  ok(client.request("task.complete", R"({"task_id": ")" + only + R"("})", fresh));
  auto as = [&](v1::Role role, const std::string& operation, const std::string& body = "") {
    return c.request_as(client, Uuid::random(), role, operation, "", body);
  };
  CHECK(error_code(as(v1::ROLE_ANALYST, "admin.batch.run")) == "permission_denied");
  CHECK(error_code(client.request("admin.batch.run", "", users[0])) == "permission_denied");
  // analytics.metrics: only after a full run, only for analysts and admins.
  CHECK(error_code(as(v1::ROLE_ANALYST, "analytics.metrics")) == "unavailable");

  auto started = ok(as(v1::ROLE_ADMIN, "admin.batch.run", R"({"full": true})")).batch_status();
  CHECK(started.running());
  v1::BatchStatus status;
  for (int i = 0; i < 100; ++i) {
    status = ok(as(v1::ROLE_ADMIN, "admin.batch.status")).batch_status();
    if (!status.running()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  REQUIRE_FALSE(status.running());
  CHECK(status.last().error().empty());
  CHECK(status.last().full());
  CHECK(status.last().users() == 7);
  CHECK(status.last().users_tracked() == 7);
  CHECK(status.last().clusters() >= 2);
  // The success metrics over the 7 users, as of the run: this week's row,
  // no row or cohort under 5 users, and nobody's own figures.
  auto metrics = ok(as(v1::ROLE_ANALYST, "analytics.metrics")).metrics_report();
  CHECK(metrics.users() == 7);
  CHECK(metrics.min_users() == 5);
  REQUIRE(metrics.weeks_size() >= 1);
  const auto& week = metrics.weeks(metrics.weeks_size() - 1);
  CHECK(week.active_users() == 7);
  CHECK(week.created() == 19);
  for (const auto& w : metrics.weeks()) CHECK(w.active_users() >= 5);
  CHECK(ok(as(v1::ROLE_ADMIN, "analytics.metrics", R"({"min_users": 8})"))
            .metrics_report()
            .weeks_size() == 0);  // a request may raise the threshold
  CHECK(ok(as(v1::ROLE_ANALYST, "analytics.metrics", R"({"min_users": 1})"))
            .metrics_report()
            .min_users() == 5);  // and never lower it
  CHECK(error_code(client.request("analytics.metrics", "", users[0])) == "permission_denied");
  CHECK(error_code(as(v1::ROLE_ANALYST, "analytics.metrics",
                      R"({"from": "2200-01-01T00:00:00Z"})")) == "invalid_argument");
  for (const auto& as_of : {std::string(), std::string(R"({"as_of": "2100-01-01T00:00:00Z"})")}) {
    auto unplaced = ok(client.request("user.features", as_of, fresh)).feature_snapshot();
    CHECK(unplaced.completions() == 1);
    CHECK(unplaced.mode_cluster() == -1);
    CHECK(unplaced.mode_name().empty());
  }

  // Online: computed now, clustered with the model the run stored.
  auto late = ok(client.request("user.features", "", users[1])).feature_snapshot();
  auto early = ok(client.request("user.features", "", users[0])).feature_snapshot();
  CHECK(late.mode_cluster() >= 0);
  CHECK(early.mode_cluster() >= 0);
  CHECK(late.mode_cluster() != early.mode_cluster());
  CHECK(late.mode_features_size() == 6);
  CHECK_FALSE(late.mode_name().empty());

  // Point in time: what the run stored, and nothing before it.
  auto stored =
      ok(client.request("user.features", R"({"as_of": "2100-01-01T00:00:00Z"})", users[1]))
          .feature_snapshot();
  CHECK(stored.mode_cluster() == late.mode_cluster());
  CHECK(stored.procrastination_score() == doctest::Approx(late.procrastination_score()));
  CHECK(error_code(client.request("user.features", R"({"as_of": "2001-01-01T00:00:00Z"})",
                                  users[1])) == "not_found");

  // The export holds every feature snapshot the feature store keeps.
  auto exported = ok(client.request("user.export", "", users[1])).user_export();
  REQUIRE(exported.feature_snapshots_size() >= 1);
  bool run_snapshot = false;
  for (const auto& f : exported.feature_snapshots()) {
    CHECK(f.user_id() == users[1]);
    run_snapshot |= f.mode_cluster() == stored.mode_cluster() &&
                    f.procrastination_score() == doctest::Approx(stored.procrastination_score());
  }
  CHECK(run_snapshot);

  // Tracking off drops what was learned at once, stored snapshots too: an
  // analyst asking as of now gets not_found, and turning tracking on again
  // brings none of it back.
  const std::string as_of_now = R"({"as_of": "2100-01-01T00:00:00Z"})";
  ok(client.request("preferences.set", R"({"behavioral_tracking_enabled": false})", users[1]));
  auto analyst = [&](const std::string& body) {
    return c.request_as(client, Uuid::random(), v1::ROLE_ANALYST, "user.features", users[1], body);
  };
  CHECK(error_code(analyst(as_of_now)) == "not_found");
  CHECK(error_code(analyst("")) == "not_found");
  ok(client.request("preferences.set", R"({"behavioral_tracking_enabled": true})", users[1]));
  CHECK(error_code(analyst(as_of_now)) == "not_found");
  CHECK(ok(client.request("user.export", "", users[1])).user_export().feature_snapshots_size() ==
        0);
  // Another user's snapshots stay.
  CHECK(ok(client.request("user.features", as_of_now, users[0])).has_feature_snapshot());
}

TEST_CASE("schedule: blocks within work hours, accept keeps one, reject is counted, bad input") {
  Served c;
  auto& client = c.client;
  auto user = new_uuid_string();
  ok(client.request("user.register", R"({"email": "s@example.com", "timezone": "Europe/Berlin"})",
                    user));
  auto due = google::protobuf::util::TimeUtil::ToString(
      coach::to_timestamp(std::chrono::system_clock::now() + std::chrono::hours(24 * 7)));
  std::vector<std::string> tasks;
  for (int i = 0; i < 3; ++i)
    tasks.push_back(
        ok(client.request("task.create",
                          R"({"title": "t)" + std::to_string(i) +
                              R"(", "estimated_minutes": 60, "due_at": ")" + due + "\"}",
                          user))
            .task()
            .id());
  auto schedule = ok(client.request("schedule.get", "", user)).schedule();
  REQUIRE(schedule.recommendations_size() >= 3);
  CHECK(schedule.at_risk_size() == 0);
  CHECK(schedule.planned_minutes() == 180);
  auto first = schedule.recommendations(0);
  CHECK_FALSE(first.id().empty());
  CHECK(first.confidence_score() > 0);

  auto block = [](const v1::ScheduleRecommendation& r) {
    return R"({"recommendation_id": ")" + r.id() + R"(", "task_id": ")" + r.task_id() +
           R"(", "start": ")" + google::protobuf::util::TimeUtil::ToString(r.recommended_start()) +
           R"(", "end": ")" + google::protobuf::util::TimeUtil::ToString(r.recommended_due()) +
           R"(", "confidence_score": 0.5)";
  };
  auto accepted = ok(client.request("schedule.accept", block(first) + "}", user)).schedule();
  REQUIRE(accepted.accepted_size() == 1);
  CHECK(accepted.accepted(0).id() == first.id());
  for (const auto& r : accepted.recommendations()) {
    bool apart = r.recommended_due().seconds() <= first.recommended_start().seconds() ||
                 r.recommended_start().seconds() >= first.recommended_due().seconds();
    CHECK(apart);
  }
  // The accepted block counts for its task. Its length depends on the hour
  // the test runs: near the end of a work window the first block is shorter
  // than its task's hour (the rest is planned elsewhere).
  auto first_minutes =
      (first.recommended_due().seconds() - first.recommended_start().seconds()) / 60;
  CHECK(accepted.planned_minutes() == 180 - first_minutes);
  CHECK(error_code(client.request("schedule.accept", block(first) + "}", user)) == "conflict");

  auto second = accepted.recommendations(0);
  ok(client.request("schedule.reject", block(second) + R"(, "reason": "busy"})", user));
  CHECK(error_code(client.request(
            "schedule.accept",
            R"({"task_id": ")" + tasks[1] +
                R"(", "start": "2030-01-01T10:00:00Z", "end": "2030-01-01T09:00:00Z"})",
            user)) == "invalid_argument");
  auto soon = [](int hours) {
    return google::protobuf::util::TimeUtil::ToString(
        coach::to_timestamp(std::chrono::system_clock::now() + std::chrono::hours(hours)));
  };
  CHECK(error_code(client.request("schedule.accept",
                                  R"({"task_id": ")" + new_uuid_string() + R"(", "start": ")" +
                                      soon(48) + R"(", "end": ")" + soon(49) + "\"}",
                                  user)) == "not_found");
  CHECK(error_code(client.request("schedule.get", R"({"horizon_days": 90})", user)) ==
        "invalid_argument");
  // The refused accepts stored nothing: still one accepted block.
  CHECK(ok(client.request("schedule.get", "", user)).schedule().accepted_size() == 1);

  // Completing the task releases its accepted block.
  ok(client.request("task.complete", R"({"task_id": ")" + first.task_id() + "\"}", user));
  auto after = ok(client.request("schedule.get", "", user)).schedule();
  CHECK(after.accepted_size() == 0);
  CHECK(after.planned_minutes() == 120);
  // Another user cannot read or change this schedule.
  auto stranger = new_uuid_string();
  register_user(client, stranger);
  CHECK(error_code(c.request_as(client, *Uuid::parse(stranger), v1::ROLE_USER, "schedule.get",
                                user)) == "permission_denied");
  CHECK(error_code(c.request_as(client, *Uuid::parse(stranger), v1::ROLE_USER, "schedule.accept",
                                user, block(after.recommendations(0)) + "}")) ==
        "permission_denied");
  // None of the refused commands stored anything: only the accepted block
  // was ever kept (and released with its task), and no other block is.
  CHECK(ok(client.request("schedule.get", "", user)).schedule().accepted_size() == 0);

  // The export holds both decisions (the accepted block although its task
  // is done since), and a nudge written now, on its first page.
  auto nudge = ok(client.request("nudge.now", "", user)).nudge();
  auto exported = ok(client.request("user.export", "", user)).user_export();
  REQUIRE(exported.recommendations_size() == 2);
  CHECK(exported.recommendations(0).id() == first.id());
  CHECK(exported.recommendations(0).accepted());
  CHECK(exported.recommendations(0).task_id() == first.task_id());
  CHECK(exported.recommendations(1).id() == second.id());
  CHECK(exported.recommendations(1).rejected());
  REQUIRE(exported.nudges_size() >= 1);
  CHECK(exported.nudges(exported.nudges_size() - 1).id() == nudge.id());
  CHECK(exported.nudges(exported.nudges_size() - 1).generated_text() == nudge.generated_text());
  // Page by page, each record comes with the event it comes from, once.
  std::vector<std::string> recommendations, nudges;
  for (uint64_t from = 1, pages = 0; from != 0 && pages < 200; ++pages) {
    auto page = ok(client.request(
                       "user.export",
                       R"({"max_events": 1, "from_sequence": )" + std::to_string(from) + "}", user))
                    .user_export();
    REQUIRE(page.events_size() == 1);
    const auto& e = page.events(0);
    CHECK(page.recommendations_size() ==
          (e.has_recommendation_accepted() || e.has_recommendation_rejected() ? 1 : 0));
    CHECK(page.nudges_size() == (e.has_nudge_created() ? 1 : 0));
    CHECK(page.tasks_size() == (e.has_task_created() ? 1 : 0));
    for (const auto& r : page.recommendations()) recommendations.push_back(r.id());
    for (const auto& n : page.nudges()) nudges.push_back(n.id());
    from = page.next_sequence();
  }
  CHECK(recommendations == std::vector<std::string>{first.id(), second.id()});
  CHECK(nudges.size() == static_cast<size_t>(exported.nudges_size()));
  CHECK(nudges.back() == nudge.id());
}

TEST_CASE("a client's invalid UTF-8: replies stay valid JSON, no body parsed before the token") {
  Served c;
  auto& client = c.client;
  auto user = new_uuid_string();
  register_user(client, user);
  const auto &proto = kProtobuf, &json = kJson;
  Header token{"Authorization", client.authorization(user)};
  const std::string bad_task_id = std::string("\x0a\x03", 2) + "a\xff\xfe";  // GetTask.task_id
  auto log_size = c.coachd.process().log().size();

  // No token: refused before the body is parsed, so protobuf has nothing to say.
  auto refused = client.raw("coach.v1.task.get", bad_task_id, {proto});
  REQUIRE_MESSAGE(refused, test::error_of(refused));
  CHECK(refused->error().code() == "unauthenticated");
  std::this_thread::sleep_for(200ms);
  CHECK(c.coachd.process().log().find("protobuf", log_size) == std::string::npos);

  // With a token: a clear error; protobuf's complaint is a JSON log line.
  auto parsed = client.raw("coach.v1.task.get", bad_task_id, {proto, token});
  REQUIRE_MESSAGE(parsed, test::error_of(parsed));
  CHECK(parsed->error().code() == "invalid_argument");
  // A header that quotes the client's bytes back: escaped, and the JSON reply parses.
  auto quoted = client.raw("coach.v1.task.list", "", {json, token, {"Coach-User", "\xff\xfe-me"}});
  REQUIRE_MESSAGE(quoted, test::error_of(quoted));  // decode_reply parsed the JSON
  CHECK(quoted->error().code() == "invalid_argument");
  CHECK(quoted->error().message().find("\\xFF\\xFE-me") != std::string::npos);
  CHECK(actors::valid_utf8(quoted->error().message()) == quoted->error().message());
  std::this_thread::sleep_for(200ms);
  auto log = c.coachd.process().log().substr(log_size);
  CHECK(log.find("[libprotobuf") == std::string::npos);
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);)
    CHECK_MESSAGE(line.rfind("{", 0) == 0, "not a JSON log line: " << line);
}

TEST_CASE("coachd refuses to start on a WAL damaged mid-file and recovers only when told to") {
  Cluster c;
  auto user = new_uuid_string();
  {
    test::Coachd first(c.data, c.nats.url());
    test::Client client(c.nats.url(), c.token_key());
    register_user(client, user);
    for (int i = 0; i < 60; ++i)
      ok(client.request("task.create", R"({"title": "task )" + std::to_string(i) + "\"}", user));
    first.process().signal(SIGKILL);  // nothing flushed: all of it is in the WAL
    first.process().wait();
  }
  std::string wal;
  for (const auto& entry : std::filesystem::directory_iterator(c.data + "/events"))
    if (entry.path().extension() == ".log" &&
        (wal.empty() || entry.file_size() > std::filesystem::file_size(wal)))
      wal = entry.path().string();
  REQUIRE_FALSE(wal.empty());
  std::string bytes;
  {
    std::ifstream in(wal, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  REQUIRE(bytes.size() > 8000);
  bytes[bytes.size() / 2] ^= 0x5a;
  std::ofstream(wal, std::ios::binary | std::ios::trunc) << bytes;

  auto creds = c.nats.creds(actors::BusRole::coachd);
  test::Process refused(COACH_COACHD_PATH,
                        {"--data-dir", c.data, "--nats-url", c.nats.url(), "--plaintext",
                         "--nats-creds", creds, "--ops-port", "0"},
                        c.dir.str() + "/refused.log");
  int status = refused.wait();
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 1);
  auto log = refused.log();
  CHECK(log.find(std::filesystem::path(wal).filename().string()) != std::string::npos);
  CHECK(log.find("would drop") != std::string::npos);
  CHECK(log.find("--recover-wal") != std::string::npos);
  {
    std::ifstream in(wal, std::ios::binary);
    CHECK(std::string(std::istreambuf_iterator<char>(in), {}) == bytes);  // left in place
  }

  test::Coachd recovered(c.data, c.nats.url(), {"--recover-wal"});
  CHECK(recovered.process().log().find("damaged WAL recovered") != std::string::npos);
  test::Client client(c.nats.url(), c.token_key());
  auto listed = client.request("task.list", R"({"page_size": 100})", user);
  REQUIRE(listed);
  if (!listed->has_error()) {  // the registration itself may be among the dropped
    CHECK(listed->task_list().tasks_size() > 0);
    CHECK(listed->task_list().tasks_size() < 60);
  }
}

TEST_CASE("task.list and user.export pages end by bytes, so every page is answered") {
  Cluster c;
  test::Coachd coachd(c.data, c.nats.url());
  test::Client client(c.nats.url(), c.token_key());
  auto user = new_uuid_string();
  register_user(client, user);
  const std::string description(8000, 'd');
  for (int i = 0; i < 140; ++i)  // 140 x 8 kB: more than the server's 1 MiB
    ok(client.request("task.create", R"({"title": "t", "description": ")" + description + "\"}",
                      user));
  // page_size 500 asks for all 140: the page ends before 256 KiB instead,
  // and the pages together hold every task once.
  std::set<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    auto page =
        client.request("task.list", R"({"page_size": 500, "page_token": ")" + token + "\"}", user);
    REQUIRE_MESSAGE(page, describe(page));  // an answer, not a timeout
    auto list = ok(page).task_list();
    CHECK(list.tasks_size() >= 1);
    CHECK(list.tasks_size() < 140);
    for (const auto& t : list.tasks()) CHECK(seen.insert(t.id()).second);
    token = list.next_page_token();
    ++pages;
  } while (!token.empty() && pages < 20);
  CHECK(seen.size() == 140);
  CHECK(pages >= 5);
  auto page = ok(client.request("task.list", R"({"page_size": 20})", user));
  CHECK(page.task_list().tasks_size() == 20);
  // The export pages by bytes too: every page is answered, under 256 KiB
  // plus one task, and the pages hold every task once.
  std::set<std::string> exported;
  pages = 0;
  for (uint64_t from = 1; from != 0 && pages < 40; ++pages) {
    auto reply = ok(client.request(
        "user.export", R"({"from_sequence": )" + std::to_string(from) + R"(, "max_events": 2000})",
        user));
    CHECK(reply.ByteSizeLong() < 256 * 1024 + 20000);
    for (const auto& t : reply.user_export().tasks()) CHECK(exported.insert(t.id()).second);
    from = reply.user_export().next_sequence();
  }
  CHECK(exported == seen);
  CHECK(pages >= 5);
}

TEST_CASE("a reply larger than the server's max payload is answered payload_too_large") {
  // A server allowing 64 KiB: a task.list page may reach 256 KiB.
  test::TempDir dir;
  test::NatsServer nats(dir.str(), false, "max_payload: 65536\n");
  test::Coachd coachd(dir.str() + "/data", nats.url());
  test::Client client(nats.url(), dir.str() + "/token.key");
  auto user = new_uuid_string();
  register_user(client, user);
  const std::string description(8000, 'd');
  for (int i = 0; i < 12; ++i)  // 12 x 8 kB: more than 64 KiB
    ok(client.request("task.create", R"({"title": "t", "description": ")" + description + "\"}",
                      user));
  auto listed = client.request("task.list", "", user);
  REQUIRE_MESSAGE(listed, describe(listed));
  CHECK(error_code(listed) == "payload_too_large");
  // A page that fits is served.
  CHECK(ok(client.request("task.list", R"({"page_size": 2})", user)).task_list().tasks_size() == 2);
}

TEST_CASE(
    "ids in either case name one task, answered in lower case, and bad instants are refused") {
  Served c;
  auto& client = c.client;
  auto user = new_uuid_string();
  register_user(client, user);
  auto lower = new_uuid_string();
  std::string upper = lower;
  std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
  REQUIRE(upper != lower);

  // Created with an upper-case id (Swift's uuidString): stored and answered
  // in lower case, found by either.
  auto created = ok(client.request(
      "task.create", R"({"task_id": ")" + upper + R"(", "title": "Upper case"})", user));
  CHECK(created.task().id() == lower);
  CHECK(ok(client.request("task.get", R"({"task_id": ")" + lower + R"("})", user)).task().id() ==
        lower);
  CHECK(ok(client.request("task.get", R"({"task_id": ")" + upper + R"("})", user)).task().id() ==
        lower);
  CHECK(error_code(client.request("task.create",
                                  R"({"task_id": ")" + lower + R"(", "title": "again"})", user)) ==
        "conflict");
  // The user's own id in the header, in upper case, is the same user.
  std::string upper_user = user;
  std::transform(upper_user.begin(), upper_user.end(), upper_user.begin(), ::toupper);
  CHECK(ok(c.request_as(client, *Uuid::parse(user), v1::ROLE_USER, "task.get", upper_user,
                        R"({"task_id": ")" + upper + R"("})"))
            .task()
            .id() == lower);

  // A snooze into the past is a bad value; so are instants outside 1970-2200.
  CHECK(error_code(client.request(
            "task.snooze", R"({"task_id": ")" + lower + R"(", "until": "2020-01-01T00:00:00Z"})",
            user)) == "invalid_argument");
  for (const char* due : {"2300-01-01T00:00:00Z", "9999-12-31T00:00:00Z", "1969-12-31T23:59:59Z"}) {
    CAPTURE(due);
    auto refused = client.request(
        "task.edit", R"({"task_id": ")" + lower + R"(", "due_at": ")" + due + R"("})", user);
    CHECK(error_code(refused) == "invalid_argument");
    CHECK(refused->error().message().find("2200-01-01") != std::string::npos);
  }
  CHECK(error_code(client.request("task.list", R"({"due_to": "2300-01-01T00:00:00Z"})", user)) ==
        "invalid_argument");
  auto task = ok(client.request("task.get", R"({"task_id": ")" + lower + R"("})", user)).task();
  CHECK_FALSE(task.has_due_at());  // nothing of the refused edits was stored
  CHECK(task.status() == v1::TASK_STATUS_PENDING);
}

TEST_CASE(
    "an id nobody registered has no data: reads and delete answer not_found, it may register") {
  Served c;
  auto& client = c.client;
  auto stranger = new_uuid_string();
  for (const char* op : {"task.list", "nudge.list", "user.get", "schedule.get", "user.export"}) {
    CAPTURE(op);
    CHECK(error_code(client.request(op, "", stranger)) == "not_found");
  }
  CHECK(error_code(client.request("task.get", R"({"task_id": ")" + new_uuid_string() + "\"}",
                                  stranger)) == "not_found");
  // A delete of nobody writes no tombstone: the id can still register.
  CHECK(error_code(client.request("user.delete", R"({"confirm": ")" + stranger + "\"}",
                                  stranger)) == "not_found");
  register_user(client, stranger);
  CHECK(ok(client.request("task.list", "", stranger)).task_list().tasks_size() == 0);
  // E-mail addresses are not identities (entities.proto): another user may
  // give the same one.
  auto twin = new_uuid_string();
  register_user(client, twin);
  CHECK(ok(client.request("user.get", "", twin)).profile().user().email() ==
        ok(client.request("user.get", "", stranger)).profile().user().email());
}

namespace {

std::vector<std::string> tags_of(const v1::Task& task) {
  return {task.tags().begin(), task.tags().end()};
}

// The titles task.list answers for `body`, in its order.
std::vector<std::string> listed(test::Client& client, const std::string& user,
                                const std::string& body) {
  std::vector<std::string> titles;
  auto reply = ok(client.request("task.list", body, user));
  for (const auto& t : reply.task_list().tasks()) titles.push_back(t.title());
  return titles;
}

}  // namespace

TEST_CASE("tags over NATS: create with tags, replace the set, bad tags refused, list any or all") {
  Served c;
  auto& client = c.client;
  auto user = new_uuid_string();
  register_user(client, user);
  using V = std::vector<std::string>;
  auto create = [&](const std::string& body) {
    return ok(client.request("task.create", body, user)).task();
  };
  auto tulips = create(R"({"title": "Plant tulips", "tags": ["Garden", "home", "GARDEN"]})");
  CHECK(tags_of(tulips) == V{"garden", "home"});
  auto roof = create(R"({"title": "Fix the roof", "tags": ["home", "urgent"]})");
  auto report = create(R"({"title": "Write report", "tags": ["work"], "category": "writing"})");
  create(R"({"title": "Call mum"})");

  // An edit gives the whole new set, in JSON or protobuf.
  auto edited = ok(client.request(
      "task.edit",
      R"({"task_id": ")" + report.id() + R"(", "tags": ["Work", "urgent"], "replace_tags": true})",
      user));
  CHECK(tags_of(edited.task()) == V{"urgent", "work"});
  CHECK(edited.task().edit_count() == 1);
  v1::EditTask clear;
  clear.set_task_id(tulips.id());
  for (const char* tag : {"spring", "home", "Garden"}) clear.add_tags(tag);
  clear.set_replace_tags(true);
  auto more =
      ok(client.request("task.edit", clear.SerializeAsString(), user, "", Encoding::protobuf));
  CHECK(tags_of(more.task()) == V{"garden", "home", "spring"});
  auto same =
      ok(client.request("task.edit",
                        R"({"task_id": ")" + tulips.id() +
                            R"(", "tags": ["HOME", "garden", "Spring"], "replace_tags": true})",
                        user));
  CHECK(same.task().edit_count() == 1);  // nothing changed, nothing stored
  CHECK(tags_of(same.task()) == V{"garden", "home", "spring"});

  // Bad tags: invalid_argument naming the tag, and nothing stored.
  auto version = ok(client.request("user.get", "", user)).profile().version();
  auto refused = [&](const std::string& op, const std::string& body, const std::string& words) {
    auto r = client.request(op, body, user);
    CHECK(error_code(r) == "invalid_argument");
    CHECK_MESSAGE(r->error().message().find(words) != std::string::npos, r->error().message());
  };
  refused("task.create", R"({"title": "x", "tags": ["to do"]})",
          R"(tag "to do" in tags holds whitespace)");
  refused("task.create", R"({"title": "x", "tags": ["a,b"]})", "holds a comma");
  refused("task.create", R"({"title": "x", "tags": [""]})", "is empty");
  refused("task.create", R"({"title": "x", "tags": [")" + std::string(65, 't') + R"("]})",
          "65 bytes; the limit is 64");
  std::string many = R"({"title": "x", "tags": [)";
  for (int i = 0; i < 33; ++i) many += (i ? ", \"t" : "\"t") + std::to_string(i) + "\"";
  refused("task.create", many + "]}", "33 distinct tags; the limit is 32");
  refused("task.edit", R"({"task_id": ")" + roof.id() + R"(", "tags": ["x"]})",
          "without replace_tags");
  refused("task.edit",
          R"({"task_id": ")" + roof.id() + R"(", "tags": ["new line\n"], "replace_tags": true})",
          "holds whitespace");
  CHECK(ok(client.request("user.get", "", user)).profile().version() == version);

  // Filters: any of, every one of, case-insensitive, with the others.
  CHECK(listed(client, user, R"({"tags_any": ["HOME"]})") == V{"Fix the roof", "Plant tulips"});
  CHECK(listed(client, user, R"({"tags_any": ["garden", "work"]})") ==
        V{"Write report", "Plant tulips"});
  CHECK(listed(client, user, R"({"tags_all": ["urgent", "Home"]})") == V{"Fix the roof"});
  CHECK(listed(client, user, R"({"tags_any": ["urgent"], "category": "writing"})") ==
        V{"Write report"});
  CHECK(listed(client, user, R"({"tags_any": ["urgent"], "tags_all": ["work"]})") ==
        V{"Write report"});
  CHECK(listed(client, user, R"({"tags_all": ["urgent", "garden"]})").empty());
  ok(client.request("task.complete", R"({"task_id": ")" + roof.id() + R"("})", user));
  CHECK(listed(client, user, R"({"tags_any": ["home"]})") == V{"Plant tulips"});
  CHECK(listed(client, user, R"({"tags_any": ["home"], "statuses": ["TASK_STATUS_COMPLETED"]})") ==
        V{"Fix the roof"});
  refused("task.list", R"({"tags_any": ["to do"]})", "in tags_any holds whitespace");
  refused("task.list", R"({"tags_all": [""]})", "in tags_all is empty");
}

TEST_CASE("notes over NATS: appended with their times, refused on deleted tasks, exported, kept") {
  Cluster c;
  auto user = new_uuid_string();
  std::string id;
  v1::Task noted;
  using google::protobuf::util::TimeUtil;
  {
    test::Coachd coachd(c.data, c.nats.url());
    test::Client client(c.nats.url(), c.token_key());
    register_user(client, user);
    id = ok(client.request("task.create", R"({"title": "Write report", "tags": ["work"]})", user))
             .task()
             .id();
    // protobuf 3.21's GetCurrentTime is time(), a coarse clock that may
    // still read the last second when coachd's clock has passed it: read
    // the same precise clock coachd reads.
    auto precise_now = [] {
      return TimeUtil::NanosecondsToTimestamp(
          std::chrono::duration_cast<std::chrono::nanoseconds>(
              std::chrono::system_clock::now().time_since_epoch())
              .count());
    };
    auto before = precise_now();
    auto first = ok(client.request(
        "task.note", R"({"task_id": ")" + id + R"(", "text": "asked Bob for the figures"})", user));
    auto after = precise_now();
    REQUIRE(first.task().notes_size() == 1);
    const auto& n = first.task().notes(0);
    CHECK(n.text() == "asked Bob for the figures");
    CHECK(n.added_at() >= before);
    CHECK(n.added_at() <= after);
    CHECK(first.task().updated_at() == n.added_at());
    CHECK(first.task().status() == v1::TASK_STATUS_PENDING);

    // Text as written (a line break, an emoji), in protobuf too; the order kept.
    v1::AddTaskNote second;
    second.set_task_id(id);
    second.set_text("Bob: Thursday\nthen send \xf0\x9f\x93\xa8");
    ok(client.request("task.note", second.SerializeAsString(), user, "", Encoding::protobuf));
    ok(client.request("task.complete", R"({"task_id": ")" + id + R"("})", user));
    auto third = ok(client.request(
        "task.note", R"({"task_id": ")" + id + R"(", "text": "sent on time"})", user));
    REQUIRE(third.task().notes_size() == 3);
    CHECK(third.task().notes(1).text() == second.text());
    CHECK(third.task().notes(2).text() == "sent on time");
    CHECK(third.task().notes(1).added_at() >= third.task().notes(0).added_at());
    CHECK(third.task().notes(2).added_at() >= third.task().notes(1).added_at());
    CHECK(third.task().status() == v1::TASK_STATUS_COMPLETED);
    CHECK(third.task().edit_count() == 0);

    // Refusals store nothing.
    auto version = ok(client.request("user.get", "", user)).profile().version();
    CHECK(error_code(client.request("task.note", R"({"task_id": ")" + id + R"(", "text": ""})",
                                    user)) == "invalid_argument");
    CHECK(error_code(client.request(
              "task.note",
              R"({"task_id": ")" + id + R"(", "text": ")" + std::string(4097, 'x') + R"("})",
              user)) == "invalid_argument");
    CHECK(error_code(client.request(
              "task.note", R"({"task_id": ")" + new_uuid_string() + R"(", "text": "who?"})",
              user)) == "not_found");
    CHECK(error_code(client.request("task.note", R"({"task_id": ")" + id + R"(", "txt": "typo"})",
                                    user)) == "invalid_argument");
    ok(client.request("task.delete", R"({"task_id": ")" + id + R"("})", user));
    auto deleted =
        client.request("task.note", R"({"task_id": ")" + id + R"(", "text": "too late"})", user);
    CHECK(error_code(deleted) == "conflict");
    CHECK(deleted->error().message().find("restore it") != std::string::npos);
    CHECK(ok(client.request("user.get", "", user)).profile().version() == version + 1);
    noted = ok(client.request("task.get", R"({"task_id": ")" + id + R"("})", user)).task();
    CHECK(noted.notes_size() == 3);

    // The export carries the tasks whole (tags, notes) and the note events,
    // each timed as its note.
    auto page = ok(client.request("user.export", "", user)).user_export();
    REQUIRE(page.tasks_size() == 1);
    CHECK(page.tasks(0).SerializeAsString() == noted.SerializeAsString());
    CHECK(tags_of(page.tasks(0)) == std::vector<std::string>{"work"});
    std::vector<v1::TaskEvent> notes;
    for (const auto& e : page.events())
      if (e.has_task_note_added()) notes.push_back(e);
    REQUIRE(notes.size() == 3);
    for (size_t i = 0; i < notes.size(); ++i) {
      CHECK(notes[i].event_type() == v1::EVENT_TYPE_TASK_NOTE_ADDED);
      CHECK(notes[i].task_note_added().text() == noted.notes(static_cast<int>(i)).text());
      CHECK(notes[i].created_at() == noted.notes(static_cast<int>(i)).added_at());
    }
    CHECK(page.events(1).task_created().fields().tags_size() == 1);
    // In JSON as a client reads it: the field names of the contract.
    auto json = actors::to_json(ok(client.request("user.export", "", user)));
    CHECK(json.find(R"("tags":["work"])") != std::string::npos);
    CHECK(json.find(R"("added_at":")") != std::string::npos);
    coachd.process().signal(SIGTERM);
    CHECK(coachd.process().wait() == 0);
  }
  // A restarted coachd (snapshot, then the log) has the same task; restored,
  // it takes notes again.
  test::Coachd coachd(c.data, c.nats.url());
  test::Client client(c.nats.url(), c.token_key());
  auto again = ok(client.request("task.get", R"({"task_id": ")" + id + R"("})", user)).task();
  CHECK(again.SerializeAsString() == noted.SerializeAsString());
  ok(client.request("task.restore", R"({"task_id": ")" + id + R"("})", user));
  auto fourth =
      ok(client.request("task.note", R"({"task_id": ")" + id + R"(", "text": "reopened"})", user));
  CHECK(fourth.task().notes_size() == 4);
}

TEST_CASE("a command whose Coach-Deadline passed before it started is not carried out") {
  Served c;
  auto& client = c.client;
  auto user = new_uuid_string();
  register_user(client, user);
  Header as_user{"Coach-User", user};
  Header token{"Authorization", client.authorization(user)};
  auto epoch_ms = [](std::chrono::system_clock::time_point t) {
    return std::to_string(
        std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count());
  };
  auto now = std::chrono::system_clock::now();
  Header past{"Coach-Deadline", epoch_ms(now - 1s)};
  Header future{"Coach-Deadline", epoch_ms(now + 10s)};
  auto late =
      client.raw("coach.v1.task.create", R"({"title": "too late"})", {kJson, as_user, token, past});
  CHECK(error_code(late) == "unavailable");
  CHECK(late->error().message().find("nothing was done") != std::string::npos);
  CHECK(error_code(client.raw("coach.v1.task.create", R"({"title": "x"})",
                              {kJson, as_user, token, {"Coach-Deadline", "soon"}})) ==
        "invalid_argument");
  ok(client.raw("coach.v1.task.create", R"({"title": "in time"})",
                {kJson, as_user, token, future}));
  // Queued past its deadline while coachd is stopped: dropped when it
  // resumes, though it arrived in time.
  c.coachd.process().stop();
  Header soon{"Coach-Deadline", epoch_ms(std::chrono::system_clock::now() + 300ms)};
  auto waited = client.raw("coach.v1.task.create", R"({"title": "queued"})",
                           {kJson, as_user, token, soon}, 500);
  CHECK_FALSE(waited.has_value());  // nobody answered in time
  std::this_thread::sleep_for(300ms);
  c.coachd.process().signal(SIGCONT);
  std::this_thread::sleep_for(200ms);  // it reads what waited in its socket first
  auto listed = ok(client.request("task.list", "{}", user));
  REQUIRE(listed.task_list().tasks_size() == 1);
  CHECK(listed.task_list().tasks(0).title() == "in time");
}

TEST_CASE("a calendar occurrence left open is missed when its next date comes, by coach's clock") {
  Cluster c;
  // Passivated after a second idle: coach's clock must wake the user.
  test::Coachd coachd(c.data, c.nats.url(), {"--idle-seconds", "1"});
  test::Client client(c.nats.url(), c.token_key());
  auto user = new_uuid_string();
  register_user(client, user);
  using google::protobuf::util::TimeUtil;
  using std::chrono::seconds;
  // Hourly, first due an hour ago minus 8 s: the next date comes in 8 s,
  // after the check coach makes 5 s after a change.
  auto now =
      std::chrono::duration_cast<seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  int64_t next_date = now + 8;
  auto first_id =
      ok(client.request("task.create",
                        R"({"title": "Stand-up notes", "due_at": ")" +
                            TimeUtil::ToString(TimeUtil::SecondsToTimestamp(next_date - 3600)) +
                            R"(", "recurrence": {"rrule": "FREQ=HOURLY", "zone": "UTC"}})",
                        user))
          .task()
          .id();
  auto list = [&] {
    return ok(client.request(
                  "task.list",
                  R"({"statuses": ["TASK_STATUS_PENDING", "TASK_STATUS_MISSED"], "page_size": 10})",
                  user))
        .task_list();
  };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(40);
  v1::TaskList tasks = list();
  while (tasks.tasks_size() < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    auto asked_at = std::chrono::system_clock::now();
    tasks = list();
    // Never before the next date.
    if (tasks.tasks_size() < 2) continue;
    CHECK(asked_at.time_since_epoch() >= seconds(next_date) - seconds(1));
  }
  REQUIRE(tasks.tasks_size() == 2);
  const v1::Task* first = nullptr;
  const v1::Task* second = nullptr;
  for (const auto& t : tasks.tasks()) (t.id() == first_id ? first : second) = &t;
  REQUIRE(first);
  REQUIRE(second);
  CHECK(first->status() == v1::TASK_STATUS_MISSED);
  CHECK(first->missed_at().seconds() >= next_date);
  CHECK(second->status() == v1::TASK_STATUS_PENDING);
  CHECK(second->due_at().seconds() == next_date);
  CHECK(second->recurrence().occurrence() == 2);
  CHECK(second->recurrence().made_on_miss());
  CHECK(second->recurrence().series_id() == first_id);

  // In the log as coach's own events; the missed one may still be done.
  auto exported = ok(client.request("user.export", "", user)).user_export();
  int missed = 0;
  for (const auto& e : exported.events()) missed += e.has_task_missed();
  CHECK(missed == 1);
  auto done = ok(client.request("task.complete", R"({"task_id": ")" + first_id + R"("})", user));
  CHECK(done.task().status() == v1::TASK_STATUS_COMPLETED);
  CHECK(list().tasks_size() == 1);
}
