// Operations end to end, all real: coachd as a process on a real nats-server,
// its HTTP endpoints (health, /api/ops, /metrics) read over loopback,
// coachctl ops as a process, and a graceful SIGTERM under load.
#include <doctest/doctest.h>
#include <google/protobuf/util/json_util.h>
#include <httplib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <thread>

#include "events/envelope.h"
#include "schema/internal.pb.h"
#include "tests/coach_node.h"
#include "tests/llm_stub.h"
#include "tests/processes.h"
#include "tests/support.h"
#include "wire/api_codec.h"
#include "wire/auth.h"

using namespace coach;
using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

namespace {

struct Node : test::CoachNode {
  using CoachNode::CoachNode;
  httplib::Client http() const {
    httplib::Client c(coachd->ops_url());
    c.set_connection_timeout(5);
    c.set_read_timeout(5);
    return c;
  }
  httplib::Result get(const std::string& path, const std::string& bearer = {}) const {
    httplib::Headers headers;
    if (!bearer.empty()) headers.emplace("Authorization", "Bearer " + bearer);
    return http().Get(path.c_str(), headers);
  }
  std::string registered_user() {
    auto user = new_uuid_string();
    ok("user.register", R"({"email": "ops@example.com", "timezone": "UTC"})", user);
    return user;
  }
  void create_task(const std::string& user, const std::string& title = "write the report") {
    ok("task.create", R"({"title": ")" + title + "\"}", user);
  }
  // One sample of /metrics: the value on the line that starts with `series`.
  double metric(const std::string& series) {
    auto res = get("/metrics", admin_token());
    REQUIRE(res);
    REQUIRE(res->status == 200);
    auto at = res->body.find("\n" + series + " ");
    if (at == std::string::npos) return -1;
    return std::stod(res->body.substr(at + series.size() + 2));
  }
};

v1::OpsSnapshot parse_ops(const std::string& json) {
  v1::OpsSnapshot out;
  REQUIRE(google::protobuf::util::JsonStringToMessage(json, &out).ok());
  return out;
}

}  // namespace

TEST_CASE("ops endpoints: health answers anyone, figures only admins, with clear errors") {
  Node node;
  auto live = node.get("/livez");
  REQUIRE(live);
  CHECK(live->status == 200);
  auto ready = node.get("/readyz");
  REQUIRE(ready);
  CHECK(ready->status == 200);
  CHECK(ready->body == R"({"status":"ready"})");

  for (const char* path : {"/api/ops", "/metrics"}) {
    CAPTURE(path);
    auto none = node.get(path);
    REQUIRE(none);
    CHECK(none->status == 401);
    CHECK(none->body.find("\"code\":\"unauthenticated\"") != std::string::npos);
    CHECK(none->get_header_value("WWW-Authenticate") == "Bearer");
    auto forged = node.get(path, "v1.not-a-token.sig");
    REQUIRE(forged);
    CHECK(forged->status == 401);
    auto user = node.get(path, node.token(v1::ROLE_USER, Uuid::random()));
    REQUIRE(user);
    CHECK(user->status == 403);
    CHECK(user->body.find("\"code\":\"permission_denied\"") != std::string::npos);
    auto analyst = node.get(path, node.token(v1::ROLE_ANALYST, Uuid::random()));
    REQUIRE(analyst);
    CHECK(analyst->status == 403);
    auto admin = node.get(path, node.admin_token());
    REQUIRE(admin);
    CHECK(admin->status == 200);
  }
  auto metrics = node.get("/metrics", node.admin_token());
  CHECK(metrics->get_header_value("Content-Type") == "text/plain; version=0.0.4; charset=utf-8");
  auto ops = parse_ops(node.get("/api/ops", node.admin_token())->body);
  CHECK(ops.ready());
  CHECK_FALSE(ops.draining());
  CHECK(ops.commands_size() > 20);

  // The dashboard's files are served from coachd itself, with a strict CSP.
  auto page = node.get("/");
  REQUIRE(page);
  CHECK(page->status == 200);
  CHECK(page->get_header_value("Content-Type") == "text/html; charset=utf-8");
  CHECK(page->get_header_value("Content-Security-Policy").find("default-src 'self'") == 0);
  CHECK(page->body.find("/dashboard.js") != std::string::npos);
  CHECK(page->body.find("http") == std::string::npos);  // nothing from elsewhere
  auto script = node.get("/dashboard.js");
  REQUIRE(script);
  CHECK(script->status == 200);
  CHECK(script->body.find("/api/ops") != std::string::npos);
  auto missing = node.get("/nothing-here");
  REQUIRE(missing);
  CHECK(missing->status == 404);
  CHECK(missing->body.find("not_found") != std::string::npos);
}

TEST_CASE("metrics follow commands, appends and supervised restarts as they happen") {
  Node node;
  auto user = node.registered_user();
  double creates = node.metric(R"(coach_commands_total{operation="task.create"})");
  double events = node.metric("coach_events_appended_total");
  double groups = node.metric("coach_append_group_size_count");
  CHECK(creates == 0);
  CHECK(events >= 1);  // the registration
  for (int i = 0; i < 5; ++i) node.create_task(user, "task " + std::to_string(i));
  // A bad request counts as an error of its operation.
  auto bad = node.client->request("task.create", R"({"title": 5})", user);
  REQUIRE(bad);
  CHECK(bad->has_error());

  CHECK(node.metric(R"(coach_commands_total{operation="task.create"})") == creates + 6);
  CHECK(node.metric(R"(coach_command_errors_total{operation="task.create"})") == 1);
  CHECK(node.metric(R"(coach_command_duration_seconds_count{operation="task.create"})") == 6);
  CHECK(node.metric(
            R"(coach_command_duration_seconds_bucket{operation="task.create",le="+Inf"})") == 6);
  CHECK(node.metric("coach_events_appended_total") == events + 5);
  CHECK(node.metric("coach_append_group_size_count") >= groups + 1);
  CHECK(node.metric("coach_actors_resident") == 1);
  // Loading, appends and bad input: nothing blocked a CAF thread.
  CHECK(node.metric("coach_store_blocking_on_scheduler_total") == 0);

  // Stopping the actor: supervision replaces it, counted by reason.
  auto stop = node.client->raw("coach.v1.admin.actor.stop", R"({"user_id": ")" + user + "\"}",
                               {{"Authorization", "Bearer " + node.admin_token()}});
  REQUIRE(stop);
  REQUIRE_MESSAGE(!stop->has_error(), stop->error().message());
  REQUIRE(stop->actor_list().actors_size() == 1);
  CHECK(stop->actor_list().actors(0).user_id() == user);
  CHECK(node.metric("coach_actor_restarts_total{reason=\"exit_reason(kill)\"}") == 1);
  node.create_task(user, "after the restart");  // the new actor serves at once
  auto ops = parse_ops(node.get("/api/ops", node.admin_token())->body);
  CHECK(ops.node().actor_restarts() == 1);
  CHECK(ops.restarts_by_reason().at("exit_reason(kill)") == 1);
  CHECK(ops.node().resident_actors() == 1);
  CHECK(ops.users_known() == 1);
  REQUIRE(ops.busiest_size() == 1);
  CHECK(ops.busiest(0).user_id() == user);
}

TEST_CASE("a slow consumer is counted, logged and survived: requests beyond the limit drop") {
  // One subscription that holds one request: a flood overruns it.
  Node node({"--subscriptions", "1", "--pending-limit", "1"});
  auto user = node.registered_user();
  CHECK(node.metric("coach_bus_dropped_total") == 0);
  double received = node.metric("coach_bus_requests_total");
  CHECK(received >= 1);
  REQUIRE(node.client->flood("coach.v1.task.list", "{}",
                             {{"Authorization", node.client->authorization(user)}}, 3000));
  // Every request of the flood is either received or dropped, once all
  // have crossed the server (it may still be forwarding when flood returns).
  double dropped = 0, seen = 0;
  for (int i = 0; i < 200 && seen < received + 3000; ++i) {
    std::this_thread::sleep_for(50ms);
    dropped = node.metric("coach_bus_dropped_total");
    seen = dropped + node.metric("coach_bus_requests_total");
  }
  CHECK(dropped > 0);
  CHECK(dropped < 3000);
  CHECK(seen >= received + 3000);
  CHECK(node.coachd->process().wait_for_log("slow consumer", 15s));
  auto ops = parse_ops(node.get("/api/ops", node.admin_token())->body);
  CHECK(ops.bus().dropped() >= dropped);
  CHECK(ops.bus().requests() + ops.bus().dropped() >= 3000);
  // Still serving.
  node.create_task(user, "after the flood");
}

TEST_CASE("coachctl ops: actors, stop and revive, batch, queues, refused without an admin token") {
  Node node;
  auto alice = node.registered_user();
  auto bob = node.registered_user();
  node.create_task(alice);
  auto admin = node.admin_token();

  auto actors = node.coachctl({"ops", "actors"}, admin);
  CHECK(actors.exit_code == 0);
  CHECK(actors.out.find("2 resident user actors") != std::string::npos);
  CHECK(actors.out.find(alice) != std::string::npos);
  CHECK(actors.out.find(bob) != std::string::npos);

  auto json = node.coachctl({"--json", "ops", "actors"}, admin);
  REQUIRE(json.exit_code == 0);
  auto before = actors::decode_reply(json.out, actors::Encoding::json);
  REQUIRE(before);
  coach::Clock::time_point alice_since{};
  for (const auto& a : before->actor_list().actors())
    if (a.user_id() == alice) alice_since = coach::from_timestamp(a.since());

  auto stop = node.coachctl({"--json", "ops", "stop", alice}, admin);
  CHECK_MESSAGE(stop.exit_code == 0, stop.err);
  auto revived = actors::decode_reply(stop.out, actors::Encoding::json);
  REQUIRE(revived);
  REQUIRE(revived->actor_list().actors_size() == 1);
  // A new incarnation: started after the old one.
  CHECK(coach::from_timestamp(revived->actor_list().actors(0).since()) > alice_since);
  node.create_task(alice, "served by the new actor");
  auto listed = node.ok("task.list", "{}", alice);
  CHECK(listed.task_list().tasks_size() == 2);  // nothing lost with the old actor

  auto unknown = node.coachctl({"ops", "stop", new_uuid_string()}, admin);
  CHECK(unknown.exit_code != 0);
  CHECK(unknown.err.find("not_found") != std::string::npos);
  auto malformed = node.coachctl({"ops", "stop", "alice"}, admin);
  CHECK(malformed.exit_code != 0);
  CHECK(malformed.err.find("invalid_argument") != std::string::npos);

  auto batch = node.coachctl({"ops", "batch", "--full", "--wait"}, admin);
  CHECK_MESSAGE(batch.exit_code == 0, batch.err);
  CHECK(batch.out.find("last run: full ok, 2 users") != std::string::npos);

  auto queues = node.coachctl({"ops", "queues"}, admin);
  CHECK(queues.exit_code == 0);
  for (const char* line :
       {"requests in flight 0", "llm queue", "notifications      0 pending, 0 dead letters",
        "batch              idle"})
    CHECK_MESSAGE(queues.out.find(line) != std::string::npos, queues.out);
  auto cluster = node.coachctl({"ops", "cluster"}, admin);
  CHECK_MESSAGE(cluster.exit_code == 0, cluster.err);
  CHECK(cluster.out == "mode               single node\n");

  auto refused =
      node.coachctl({"ops", "actors"}, node.token(v1::ROLE_USER, Uuid::parse(alice).value()));
  CHECK(refused.exit_code != 0);
  CHECK(refused.err.find("permission_denied") != std::string::npos);
}

TEST_CASE("coachd refuses plain-HTTP ops endpoints off loopback, and a port in use") {
  test::TempDir dir;
  auto plain = test::run_tool(COACH_COACHD_BIN,
                              {"--data-dir", dir.str() + "/data", "--plaintext", "--nats-url",
                               "nats://127.0.0.1:1", "--ops-host", "0.0.0.0"},
                              dir.str() + "/plain");
  CHECK(plain.exit_code == 1);
  CHECK(plain.err.find("--ops-tls-cert") != std::string::npos);
  CHECK(plain.err.find("\"level\":\"error\"") != std::string::npos);

  auto half = test::run_tool(COACH_COACHD_BIN,
                             {"--data-dir", dir.str() + "/data", "--plaintext", "--nats-url",
                              "nats://127.0.0.1:1", "--ops-tls-cert", "x.pem"},
                             dir.str() + "/half");
  CHECK(half.exit_code == 1);
  CHECK(half.err.find("go together") != std::string::npos);

  Node node;
  auto port = node.coachd->ops_url().substr(node.coachd->ops_url().rfind(':') + 1);
  test::NatsServer other(dir.str());  // its own users: the node lease is free
  auto taken =
      test::run_tool(COACH_COACHD_BIN,
                     {"--data-dir", dir.str() + "/data2", "--plaintext", "--nats-url", other.url(),
                      "--nats-creds", other.creds(actors::BusRole::coachd), "--ops-port", port},
                     dir.str() + "/taken");
  CHECK(taken.exit_code == 1);
  CHECK(taken.err.find("cannot listen") != std::string::npos);
}

// coachd started with each bad value of `flag`: refused, naming the flag,
// before it makes its data dir.
void refuses_before_touching_data(const std::string& flag, std::vector<std::string> bads) {
  test::TempDir dir;
  for (const auto& bad : bads) {
    CAPTURE(bad);
    auto run = test::run_tool(COACH_COACHD_BIN,
                              {"--data-dir", dir.str() + "/data", "--plaintext", "--nats-url",
                               "nats://127.0.0.1:1", flag, bad},
                              dir.str() + "/refused");
    CHECK(run.exit_code != 0);
    CHECK(run.exit_code != -1);  // refused, not crashed
    CHECK(run.err.find(flag) != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(dir.path() / "data"));
  }
}

TEST_CASE("coachd refuses a pending limit out of range, before touching its data dir") {
  refuses_before_touching_data("--pending-limit", {"0", "-3", "lots", "20000000"});
}

TEST_CASE("coachd refuses bad log replicas and lease times, before touching its data dir") {
  refuses_before_touching_data("--replicate-log", {"2", "-1", "7", "three"});
  refuses_before_touching_data("--lease-ttl-ms", {"0", "599", "-5", "600001", "soon"});
  // "4": a partition count without --replicate-log.
  refuses_before_touching_data("--partitions", {"-1", "1025", "many", "4"});
}

TEST_CASE("SIGTERM: coachd stops taking commands, answers what it took, snapshots, exits in time") {
  Node node({"--shutdown-timeout-ms", "5000"});
  std::vector<std::string> users;
  for (int i = 0; i < 8; ++i) users.push_back(node.registered_user());

  std::atomic<bool> stop{false};
  std::atomic<int> answered{0}, timeouts{0};
  std::vector<std::map<std::string, int>> acked(6);
  std::vector<std::thread> clients;
  for (int t = 0; t < 6; ++t)
    clients.emplace_back([&, t] {
      test::Client client(node.nats.url(), node.token_key());
      for (int i = 0; !stop; ++i) {
        const auto& user = users[static_cast<size_t>((t + i) % 8)];
        auto r = client.request("task.create", R"({"title": "load"})", user, {},
                                actors::Encoding::json, 3000);
        if (!r) {
          // After the drain NATS has no responder for coach.v1.> and says so
          // at once; a request that waited out its timeout lost its reply.
          if (r.error().message.find("imeout") != std::string::npos) ++timeouts;
          std::this_thread::sleep_for(2ms);
          continue;
        }
        if (!r->has_error()) ++acked[static_cast<size_t>(t)][user];
        ++answered;
      }
    });
  while (answered < 300) std::this_thread::sleep_for(1ms);
  auto sent = Steady::now();
  node.coachd->process().signal(SIGTERM);
  int status = node.coachd->process().wait();
  auto took = Steady::now() - sent;
  stop = true;
  for (auto& c : clients) c.join();

  INFO(node.coachd->process().log());
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(took < 5s);
  CHECK(timeouts == 0);
  auto log = node.coachd->process().log();
  CHECK(log.find(R"("msg":"stopping","signal":"SIGTERM")") != std::string::npos);
  std::smatch drained;
  REQUIRE(std::regex_search(
      log, drained,
      std::regex(
          R"("msg":"drained","actors":(\d+),"actors_snapshotted":(\d+),"requests_unanswered":(\d+))")));
  CHECK(drained[1] == "8");
  CHECK(drained[2] == "8");
  CHECK(drained[3] == "0");
  CHECK(log.find(R"("msg":"stopped")") != std::string::npos);

  // Every acknowledged create is in the log, nothing more, and every user's
  // snapshot is as new as their stream.
  events::StoreOptions options;
  options.path = node.data + "/events";
  options.read_only = true;
  options.master_key = *events::SecretKey::load_master(node.dir.str() + "/master.key", false);
  auto store = events::EventStore::open(options);
  REQUIRE_MESSAGE(store, test::error_of(store));
  for (const auto& user : users) {
    int total = 0;
    for (const auto& per_client : acked) total += per_client.count(user) ? per_client.at(user) : 0;
    auto id = *Uuid::parse(user);
    auto version = (*store)->version(id);
    REQUIRE(version);
    CHECK(*version == static_cast<uint64_t>(total) + 1);  // + the registration
    auto snapshot = (*store)->load_snapshot(id, "user");
    REQUIRE(snapshot);
    REQUIRE(*snapshot);
    CHECK((*snapshot)->version == *version);
  }
}

TEST_CASE(
    "SIGTERM waits for a nudge in flight (LLM hanging), says draining meanwhile, exits in time") {
  // Two nudges wait for the LLM: nudge.now (a client waits, deadline 3 s)
  // and one its trigger started (deadline 20 s, longer than the bound: the
  // LLM request must be abandoned).
  test::LlmStub llm(test::LlmMode::slow);
  Node node({"--llm-url", llm.url(), "--llm-timeout-ms", "30000", "--shutdown-timeout-ms", "8000",
             "--nudge-check-delay-ms", "100"});
  auto user = node.registered_user();
  node.ok("task.create",
          R"({"title": "the slide deck", "due_at": ")" +
              coach::format_time(std::chrono::system_clock::now() + 1h) + "\"}",
          user);
  std::this_thread::sleep_for(500ms);  // the deadline trigger's nudge is with the LLM
  std::optional<Result<v1::Reply>> nudge;
  std::thread asking([&] {
    nudge = node.client->request("nudge.now", "", user, {}, actors::Encoding::json, 8000);
  });
  std::this_thread::sleep_for(300ms);  // nudge.now now waits for the LLM
  auto sent = Steady::now();
  node.coachd->process().signal(SIGTERM);
  // Until the nudge is answered, the node drains and says so.
  std::string ready_body;
  int ready_status = 0;
  for (auto until = Steady::now() + 2s; Steady::now() < until && ready_status != 503;) {
    if (auto r = node.get("/readyz")) {
      ready_status = r->status;
      ready_body = r->body;
    }
    std::this_thread::sleep_for(20ms);
  }
  CHECK(ready_status == 503);
  CHECK(ready_body == R"({"status":"draining"})");
  int status = node.coachd->process().wait();
  auto took = Steady::now() - sent;
  asking.join();
  INFO(node.coachd->process().log());
  REQUIRE(nudge);
  REQUIRE_MESSAGE(*nudge, test::error_of(*nudge));
  REQUIRE_MESSAGE(!(*nudge)->has_error(), (*nudge)->error().message());
  CHECK((*nudge)->nudge().source() == v1::NUDGE_SOURCE_TEMPLATE);  // the LLM never answered
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(took < 8s);
  CHECK(node.coachd->process().log().find(R"("requests_unanswered":0)") != std::string::npos);

  // The nudge it answered with is in the user's log.
  node.coachd.emplace(node.data, node.nats.url());
  auto listed = node.ok("nudge.list", "{}", user);
  bool found = false;
  for (const auto& r : listed.nudge_list().nudges())
    found = found || r.nudge().id() == (*nudge)->nudge().id();
  CHECK(found);
}

TEST_CASE("admin ops answer bad input with a code and change nothing") {
  Node node;
  auto user = node.registered_user();
  node.create_task(user);
  double head = node.metric("coach_event_feed_head");
  auto admin = node.admin_token();
  auto user_token = node.token(v1::ROLE_USER, *Uuid::parse(user));
  auto code_of = [&](const std::string& op, const std::string& body, const std::string& token) {
    auto r = node.client->raw("coach.v1." + op, body, {{"Authorization", "Bearer " + token}});
    REQUIRE_MESSAGE(r, test::error_of(r));
    CHECK_FALSE((*r).error().message().empty());
    return (*r).error().code();
  };
  CHECK(code_of("admin.actors", R"({"limit": 1001})", admin) == "invalid_argument");
  CHECK(code_of("admin.actors", R"({"limit": "many"})", admin) == "invalid_argument");
  CHECK(code_of("admin.actors", R"({"bogus": 1})", admin) == "invalid_argument");
  CHECK(code_of("admin.actor.stop", "{}", admin) == "invalid_argument");
  CHECK(code_of("admin.actor.stop", R"({"user_id": "nope"})", admin) == "invalid_argument");
  CHECK(code_of("admin.actor.stop", R"({"user_id": ")" + new_uuid_string() + "\"}", admin) ==
        "not_found");
  CHECK(code_of("admin.ops", "not json", admin) == "invalid_argument");
  CHECK(code_of("admin.ops", "{}", user_token) == "permission_denied");
  CHECK(code_of("admin.actors", "{}", user_token) == "permission_denied");
  CHECK(code_of("admin.actor.stop", R"({"user_id": ")" + user + "\"}", user_token) ==
        "permission_denied");
  CHECK(code_of("admin.ops", "{}", "v1.forged.token") == "unauthenticated");

  // Nothing was stored, nothing restarted, the user's actor and data are as before.
  CHECK(node.metric("coach_event_feed_head") == head);
  CHECK(node.metric("coach_actors_resident") == 1);
  CHECK(node.metric("coach_actors_spawned_total") == 1);
  CHECK(node.ok("task.list", "{}", user).task_list().tasks_size() == 1);
}

TEST_CASE("coachctl's bus and secret-file commands refuse bad input clearly and change nothing") {
  test::TempDir dir;
  auto bus = dir.str() + "/bus";
  auto coachctl = [&](std::vector<std::string> args) {
    return test::run_tool(COACH_COACHCTL, args, dir.str() + "/coachctl");
  };
  auto init = coachctl({"admin", "bus-init", "--dir", bus, "--store-dir", dir.str() + "/js"});
  REQUIRE(init.exit_code == 0);
  auto slurp = [](const std::string& path) {
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), {});
  };
  auto account = slurp(bus + "/account.nk");
  REQUIRE(account.rfind("SA", 0) == 0);
  REQUIRE(
      coachctl({"admin", "bus-init", "--dir", bus, "--store-dir", dir.str() + "/js"}).exit_code ==
      0);
  CHECK(slurp(bus + "/account.nk") == account);  // run again: the same authority

  struct Bad {
    std::vector<std::string> args;
    std::string says;
  };
  std::vector<Bad> bad = {
      {{"admin", "bus-creds", "--dir", bus, "--role", "root"},
       "coachd, client, gateway or deliver"},
      {{"admin", "bus-creds", "--dir", bus, "--role", "deliver", "--channel", "fax"},
       "push, email or sms"},
      {{"admin", "bus-creds", "--dir", dir.str() + "/nowhere"}, "no bus authority directory"},
      {{"admin", "bus-creds", "--dir", bus, "--ttl", "soon"}, "duration"},
      {{"admin", "bus-inbox", "--nats-creds", bus + "/server.conf"}, "not a NATS credentials"},
  };
  for (const auto& b : bad) {
    CAPTURE(b.args[1]);
    CAPTURE(b.says);
    auto run = coachctl(b.args);
    CHECK(run.exit_code == 2);
    CHECK(run.err.find(b.says) != std::string::npos);
    CHECK(run.out.empty());
  }
  CHECK(slurp(bus + "/account.nk") == account);

  // Issued identities are owner-only; secrets others may read are refused.
  auto creds = bus + "/client.creds";
  REQUIRE(coachctl({"admin", "bus-creds", "--dir", bus, "--out", creds}).exit_code == 0);
  struct stat st {};
  REQUIRE(::stat(creds.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto inbox = coachctl({"admin", "bus-inbox", "--nats-creds", creds});
  CHECK(inbox.exit_code == 0);
  CHECK(inbox.out.rfind("_INBOX_U", 0) == 0);
  ::chmod(creds.c_str(), 0644);
  auto open_creds = coachctl({"--plaintext", "--nats-url", "nats://127.0.0.1:1", "--nats-creds",
                              creds, "--token-file", test::write_secret(dir, "t", "x"), "list"});
  CHECK(open_creds.exit_code == 3);
  CHECK(open_creds.err.find("chmod 600") != std::string::npos);
  auto token = test::write_secret(dir, "token", "x");
  ::chmod(token.c_str(), 0644);
  auto open_token = coachctl({"--token-file", token, "list"});
  CHECK(open_token.exit_code == 2);
  CHECK(open_token.err.find("readable by others") != std::string::npos);
}

TEST_CASE("a full disk: coachd answers io_error, is not ready, never aborts, and resumes") {
  test::TempDir dir;
  test::NatsServer nats(dir.str());
  test::SmallDisk disk(16 << 20);
  std::string token_key = dir.str() + "/token.key";
  // The data dir is the small disk itself; keys and coachd's log stay off it.
  test::Coachd coachd(
      disk.str(), nats.url(),
      {"--master-key-file", dir.str() + "/master.key", "--token-key-file", token_key});
  test::Client client(nats.url(), token_key);
  httplib::Client http(coachd.ops_url());
  http.set_read_timeout(5);
  auto user = new_uuid_string();
  auto send = [&](const std::string& op, const std::string& body) {
    auto r = client.request(op, body, user);
    REQUIRE_MESSAGE(r, test::error_of(r));
    return *r;
  };
  REQUIRE_FALSE(send("user.register", R"({"email": "full@example.com"})").has_error());

  disk.fill(256 << 10);
  const std::string description(2000, 'd');
  int created = 0;
  std::optional<v1::ErrorReply> refused;
  for (int i = 0; i < 5000 && !refused; ++i) {
    auto r = send("task.create", R"({"title": "t", "description": ")" + description + "\"}");
    if (r.has_error())
      refused = r.error();
    else
      ++created;
  }
  REQUIRE(refused);
  CHECK(refused->code() == "io_error");
  CHECK_MESSAGE(refused->message().find("No space left on device") != std::string::npos,
                refused->message());
  CHECK(refused->message().find(disk.str()) == std::string::npos);  // no server path
  auto ready = http.Get("/readyz");
  REQUIRE(ready);
  CHECK(ready->status == 503);
  CHECK_MESSAGE(ready->body.find("event store not writable") != std::string::npos, ready->body);

  // Fenced for a while (RocksDB 7.8 used to abort 10-15 s in): writes keep
  // failing clearly, reads are served, the process lives.
  for (auto until = Steady::now() + 3s; Steady::now() < until;) {
    auto r = send("task.create", R"({"title": "one more"})");
    REQUIRE(r.has_error());
    CHECK(r.error().code() == "io_error");
    std::this_thread::sleep_for(100ms);
  }
  auto listed = send("task.list", R"({"page_size": 500})");
  REQUIRE_MESSAGE(!listed.has_error(), listed.error().code() << ": " << listed.error().message());
  CHECK(listed.task_list().tasks_size() == created);
  CHECK(::kill(coachd.process().pid(), 0) == 0);

  disk.release();
  int status = 0;
  for (auto until = Steady::now() + 15s; Steady::now() < until && status != 200;) {
    if (auto r = http.Get("/readyz")) status = r->status;
    std::this_thread::sleep_for(50ms);
  }
  REQUIRE(status == 200);
  REQUIRE_FALSE(send("task.create", R"({"title": "after the disk was freed"})").has_error());
  listed = send("task.list", R"({"page_size": 500})");
  CHECK(listed.task_list().tasks_size() == created + 1);
  auto log = coachd.process().log();
  CHECK(log.find("the store stopped writing") != std::string::npos);
  CHECK(log.find("the store writes again") != std::string::npos);

  // Killed on a full disk, coachd starts again on it: it serves what is
  // stored, is not ready, and writes once there is room.
  disk.fill();
  coachd.process().signal(SIGKILL);
  coachd.process().wait();
  test::Coachd again(
      disk.str(), nats.url(),
      {"--master-key-file", dir.str() + "/master.key", "--token-key-file", token_key});
  httplib::Client http_again(again.ops_url());
  http_again.set_read_timeout(5);
  ready = http_again.Get("/readyz");
  REQUIRE(ready);
  CHECK(ready->status == 503);
  listed = send("task.list", R"({"page_size": 500})");
  REQUIRE_MESSAGE(!listed.has_error(), listed.error().code() << ": " << listed.error().message());
  CHECK(listed.task_list().tasks_size() == created + 1);
  CHECK(send("task.create", R"({"title": "still full"})").error().code() == "io_error");
  disk.release();
  status = 0;
  for (auto until = Steady::now() + 15s; Steady::now() < until && status != 200;) {
    if (auto r = http_again.Get("/readyz")) status = r->status;
    std::this_thread::sleep_for(50ms);
  }
  REQUIRE(status == 200);
  REQUIRE_FALSE(send("task.create", R"({"title": "after the restart"})").has_error());
}

TEST_CASE("coachctl export merges every page into one document, each record once") {
  Node node;
  auto user = node.registered_user();
  node.ok("preferences.set",
          R"({"work_hours": {"windows": [{"weekday": "MONDAY", "start_minute": 540,)"
          R"( "end_minute": 720}, {"weekday": "TUESDAY", "start_minute": 540,)"
          R"( "end_minute": 720}]}})",
          user);
  const std::string description(8000, 'd');
  for (int i = 0; i < 70; ++i)  // 70 x 8 kB: several export pages
    node.ok("task.create",
            R"({"title": "t)" + std::to_string(i) + R"(", "description": ")" + description + "\"}",
            user);
  auto out = node.coachctl({"export"}, node.token(v1::ROLE_USER, *Uuid::parse(user)));
  REQUIRE_MESSAGE(out.exit_code == 0, out.err);
  v1::UserExport exported;
  REQUIRE(google::protobuf::util::JsonStringToMessage(out.out, &exported).ok());
  CHECK(exported.next_sequence() == 0);
  CHECK(exported.events_size() == 72);
  for (int i = 0; i < exported.events_size(); ++i)
    CHECK(exported.events(i).sequence() == static_cast<uint64_t>(i + 1));
  std::set<std::string> tasks;
  for (const auto& t : exported.tasks()) CHECK(tasks.insert(t.id()).second);
  CHECK(tasks.size() == 70);
  CHECK(exported.profile().user().id() == user);
  // One profile, not a merge of the pages' profiles.
  CHECK(exported.profile().user().work_hours().windows_size() == 2);
}

TEST_CASE("a second coachd on the same NATS serves no one: the node lease has one owner") {
  Node node;
  auto user = node.registered_user();
  node.create_task(user, "first");
  // Another data dir on the same NATS: refused before it takes a request.
  auto second = test::run_tool(
      COACH_COACHD_BIN,
      {"--data-dir", node.dir.str() + "/other", "--plaintext", "--nats-url", node.nats.url(),
       "--nats-creds", node.nats.creds(actors::BusRole::coachd), "--ops-port", "0"},
      node.dir.str() + "/second");
  CHECK(second.exit_code == 1);
  CHECK(second.err.find("serves the users of this NATS system") != std::string::npos);
  for (int i = 0; i < 20; ++i) node.create_task(user, "all in one log");
  CHECK(node.ok("task.list", R"({"page_size": 100})", user).task_list().tasks_size() == 21);

  // The owner killed: it is still its users' home, so another node is
  // refused even now, and the owner itself comes back at once.
  node.coachd->process().signal(SIGKILL);
  node.coachd->process().wait();
  auto after = test::run_tool(
      COACH_COACHD_BIN,
      {"--data-dir", node.dir.str() + "/other", "--plaintext", "--nats-url", node.nats.url(),
       "--nats-creds", node.nats.creds(actors::BusRole::coachd), "--ops-port", "0"},
      node.dir.str() + "/after");
  CHECK(after.exit_code == 1);
  CHECK(after.err.find("serves the users of this NATS system") != std::string::npos);
  auto started = Steady::now();
  node.coachd.emplace(node.data, node.nats.url());
  CHECK(Steady::now() - started < 5s);
  CHECK(node.ok("task.list", R"({"page_size": 100})", user).task_list().tasks_size() == 21);
}
