// coach on a 3-server NATS cluster with a replicated log (issue 18, step
// two): real nats-servers, real coachd processes, SIGKILL and SIGSTOP.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include <google/protobuf/util/json_util.h>
#include <httplib.h>

#include "adapters/jetstream_log.h"
#include "base/partition.h"
#include "schema/commands.pb.h"
#include "tests/processes.h"
#include "tests/support.h"
#include "wire/auth.h"

using namespace coach;
using namespace coach::test;
using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

namespace {

const std::vector<std::string> kReplicated = {"--replicate-log", "3", "--lease-ttl-ms", "3000"};

// Users writing tasks with idempotency keys, each create retried with its
// key until it is acknowledged: what the client was told is the truth the
// cluster must keep.
struct Writers {
  Client& client;
  std::vector<std::string> users;
  std::map<std::string, std::set<std::string>> acknowledged;  // user -> task ids
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  Steady::time_point last_failure{};
  Steady::time_point give_up{};  // of a create still failing after stop

  // How long after `since` creates still failed; reported beside what
  // was acknowledged (`what` names the failure).
  Steady::duration failing_after(Steady::time_point since, const std::string& what,
                                 size_t acknowledged_tasks) const {
    auto failing = last_failure > since ? last_failure - since : Steady::duration{};
    MESSAGE(what << ": writes failed for "
                 << std::chrono::duration_cast<std::chrono::milliseconds>(failing).count()
                 << " ms (" << failures.load() << " failed tries); " << acknowledged_tasks
                 << " tasks acknowledged");
    return failing;
  }

  void run() {
    for (int n = 0; !stop; ++n) {
      const auto& user = users[static_cast<size_t>(n) % users.size()];
      std::string key = "create-" + std::to_string(n);
      for (;;) {
        auto r = client.request("task.create", R"({"title": "task )" + std::to_string(n) + R"("})",
                                user, key, actors::Encoding::json, 1000);
        if (r && r->has_task()) {
          acknowledged[user].insert(r->task().id());
          break;
        }
        ++failures;
        last_failure = Steady::now();
        // A create that failed may still be stored: retried with its key
        // until it is answered, even after stop, so that every stored task
        // is one the client was told of (for 30 s: then the cluster did
        // not recover, and the comparison fails).
        if (stop && give_up == Steady::time_point{}) give_up = Steady::now() + 30s;
        if (stop && Steady::now() > give_up) return;
        std::this_thread::sleep_for(50ms);
      }
    }
  }
};

// A read as a client makes it: one that finds the user's partition moving
// ("unavailable") or its node unresponsive is retried, for 45 s at most:
// the bound the recovery tests give writes (a loaded CI box has taken
// over 30 s to move a partition after a nats-server was killed).
v1::Reply read_retried(Client& client, const std::string& operation, const std::string& body,
                       const std::string& user) {
  auto give_up = Steady::now() + 45s;
  for (;;) {
    auto r = client.request(operation, body, user);
    bool moving = r ? r->has_error() && r->error().code() == "unavailable" : true;
    if (moving && Steady::now() < give_up) {
      std::this_thread::sleep_for(r ? std::chrono::milliseconds(r->error().retry_after_ms()) : 0ms);
      continue;
    }
    REQUIRE_MESSAGE(r, error_of(r));
    return *r;
  }
}

// A user's task ids.
std::set<std::string> task_ids(Client& client, const std::string& user) {
  std::set<std::string> ids;
  std::string token;
  for (;;) {
    auto r = read_retried(client, "task.list",
                          R"({"page_size": 200, "page_token": ")" + token + R"("})", user);
    REQUIRE_MESSAGE(r.has_task_list(), r.DebugString());
    for (const auto& task : r.task_list().tasks()) CHECK(ids.insert(task.id()).second);
    token = r.task_list().next_page_token();
    if (token.empty()) return ids;
  }
}

// The user's whole log, through user.export's pages: sequences 1, 2, ...
// with no gap and none twice (no fork), and one TaskCreated for each
// acknowledged task, none for any other.
void check_one_gapless_log(Client& client, const std::string& user,
                           const std::set<std::string>& acknowledged) {
  uint64_t expected = 1;
  std::set<std::string> created;
  for (uint64_t from = 1; from != 0;) {
    auto r = read_retried(client, "user.export",
                          R"({"from_sequence": )" + std::to_string(from) + "}", user);
    REQUIRE_MESSAGE(r.has_user_export(), r.DebugString());
    for (const auto& event : r.user_export().events()) {
      CHECK(event.sequence() == expected);
      expected = event.sequence() + 1;
      if (event.has_task_created()) CHECK(created.insert(event.task_id()).second);
    }
    from = r.user_export().next_sequence();
  }
  CHECK(expected > 1);
  CHECK(created == acknowledged);
}

// Who wrote each group of the replicated log (a partition's, given one),
// in order.
std::vector<std::string> log_writers(NatsCluster& cluster, std::optional<uint32_t> partition = {}) {
  auto options =
      jetstream_log_options(cluster.url(), cluster.creds(actors::BusRole::coachd), "reader", 3);
  if (partition) {
    options.stream = actors::partition_stream(*partition);
    options.subject = actors::partition_subject(*partition);
  }
  auto log = actors::JetStreamLog::open(options);
  REQUIRE_MESSAGE(log, error_of(log));
  std::vector<std::string> writers;
  for (uint64_t after = 0;;) {
    auto groups = (*log)->read(after, 1000);
    REQUIRE_MESSAGE(groups, error_of(groups));
    if (groups->empty()) return writers;
    for (const auto& group : *groups) writers.push_back(group.writer), after = group.position;
  }
}

// Registers a user, retrying while the user's partition is still moving
// to its first owner ("unavailable").
void register_until_served(Client& client, const std::string& user) {
  for (int attempt = 0;; ++attempt) {
    auto r = client.request("user.register", R"({"timezone": "UTC"})", user);
    REQUIRE_MESSAGE(r, error_of(r));
    if (!r->has_error()) return;
    REQUIRE_MESSAGE(attempt < 50, r->DebugString());
    std::this_thread::sleep_for(100ms);
  }
}

// `count` new users for `writers`, each registered (retried while its
// partition moves to its first owner).
void add_registered_users(Client& client, Writers& writers, int count) {
  for (int i = 0; i < count; ++i) {
    writers.users.push_back(Uuid::random().to_string());
    register_until_served(client, writers.users.back());
  }
}

std::string node_id_of(const std::string& data_dir) {
  std::ifstream in(data_dir + "/node.id");
  std::string id;
  std::getline(in, id);
  return id;
}

// Creates `count` tasks ("after-<n>" keys), each retried with its key
// until it is acknowledged (50 tries of 500 ms): requests a paused node
// holds in its socket time out and go again.
void create_retried(Client& client, const std::string& user, int count,
                    std::set<std::string>& acknowledged) {
  for (int n = 0; n < count; ++n) {
    for (int attempt = 0; attempt < 50; ++attempt) {
      auto r = client.request("task.create", R"({"title": "after"})", user,
                              "after-" + std::to_string(n), actors::Encoding::json, 500);
      if (r && r->has_task()) {
        acknowledged.insert(r->task().id());
        break;
      }
    }
  }
}

// An Authorization header of an admin token signed with the cluster's key.
std::pair<std::string, std::string> admin_header(const std::string& token_key) {
  auto signer = actors::TokenSigner::load(token_key, false);
  REQUIRE_MESSAGE(signer, error_of(signer));
  return {"Authorization",
          "Bearer " + signer->issue(Uuid::random(), v1::ROLE_ADMIN, std::chrono::hours(1))};
}

// What a node's ops view says of the cluster (GET /api/ops as an admin).
v1::ClusterFigures cluster_of(Coachd& node, const std::string& token_key) {
  httplib::Client http(node.ops_url());
  http.set_read_timeout(5);
  auto res = http.Get("/api/ops", {admin_header(token_key)});
  REQUIRE_MESSAGE(res, "no answer from " << node.ops_url() << ": "
                                         << httplib::to_string(res.error()) << "\n"
                                         << node.process().log());
  REQUIRE_MESSAGE(res->status == 200, res->body);
  v1::OpsSnapshot ops;
  REQUIRE(google::protobuf::util::JsonStringToMessage(res->body, &ops).ok());
  return ops.cluster();
}

// Partitions per owner in `figures`' map ("" for those moving).
std::map<std::string, int> owners_of(const v1::ClusterFigures& figures) {
  std::map<std::string, int> owners;
  for (const auto& p : figures.partition_map()) ++owners[p.owner()];
  return owners;
}

// Polls `node`'s figures until `done` holds of them (or 30 s pass).
v1::ClusterFigures wait_for_cluster(Coachd& node, const std::string& token_key,
                                    const std::function<bool(const v1::ClusterFigures&)>& done) {
  auto deadline = Steady::now() + 30s;
  for (;;) {
    auto figures = cluster_of(node, token_key);
    if (done(figures) || Steady::now() > deadline) return figures;
    std::this_thread::sleep_for(200ms);
  }
}

}  // namespace

TEST_CASE("cluster: a standby takes over a killed owner, no acknowledged event lost or doubled") {
  TempDir dir;
  NatsCluster cluster(dir.str() + "/nats");
  Coachd owner(dir.str() + "/a", cluster.url(), kReplicated);
  Coachd standby(dir.str() + "/b", cluster.url(), kReplicated, "");
  REQUIRE_MESSAGE(standby.process().wait_for_log("standby", 20s), standby.process().log());
  Client client(cluster.url(), dir.str() + "/token.key");
  Writers writers{client, {}, {}};
  for (int i = 0; i < 8; ++i) {
    writers.users.push_back(Uuid::random().to_string());
    auto r = client.request("user.register", R"({"timezone": "UTC"})", writers.users.back());
    REQUIRE_MESSAGE(r, error_of(r));
    REQUIRE_MESSAGE(!r->has_error(), r->DebugString());
  }
  std::thread load([&] { writers.run(); });
  std::this_thread::sleep_for(1500ms);
  owner.process().signal(SIGKILL);
  auto killed = Steady::now();
  owner.process().wait();
  CHECK(standby.process().wait_for_log("caught up from the replicated log", 30s));
  REQUIRE_MESSAGE(standby.process().wait_for_log("\"msg\":\"ready\"", 30s),
                  standby.process().log());
  std::this_thread::sleep_for(1500ms);  // the standby serves the load a while
  writers.stop = true;
  load.join();
  auto served_again = writers.last_failure - killed;
  MESSAGE("failover: served again "
          << std::chrono::duration_cast<std::chrono::milliseconds>(served_again).count()
          << " ms after the SIGKILL (lease 3000 ms); " << writers.failures.load()
          << " failed tries");
  CHECK(served_again < 15s);

  size_t total = 0;
  for (const auto& user : writers.users) {
    auto stored = task_ids(client, user);
    CHECK(stored == writers.acknowledged[user]);  // none lost, none made twice
    check_one_gapless_log(client, user, writers.acknowledged[user]);
    total += stored.size();
  }
  MESSAGE(total << " tasks acknowledged and found after the failover");
  CHECK(total > 20);
}

TEST_CASE("cluster: an owner paused past its lease writes nothing when it resumes") {
  TempDir dir;
  NatsCluster cluster(dir.str() + "/nats");
  Coachd owner(dir.str() + "/a", cluster.url(), kReplicated);
  Client client(cluster.url(), dir.str() + "/token.key");
  auto user = Uuid::random().to_string();
  REQUIRE(client.request("user.register", R"({"timezone": "UTC"})", user));
  Coachd standby(dir.str() + "/b", cluster.url(), kReplicated, "");
  REQUIRE(standby.process().wait_for_log("standby", 20s));

  owner.process().stop();
  REQUIRE_MESSAGE(standby.process().wait_for_log("\"msg\":\"ready\"", 30s),
                  standby.process().log());
  // Requests now go to both subscribers: the paused owner's wait in its
  // socket. Each is retried until the standby answers it.
  std::set<std::string> acknowledged;
  create_retried(client, user, 20, acknowledged);
  REQUIRE(acknowledged.size() == 20);
  owner.process().signal(SIGCONT);
  // It finds its lease gone, answers what it held without writing, stops.
  int status = owner.process().wait();
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 3);
  CHECK(task_ids(client, user) == acknowledged);
  // The log: the owner's groups, then the standby's only.
  auto writers = log_writers(cluster);
  auto first_of_standby = std::find(writers.begin(), writers.end(), node_id_of(dir.str() + "/b"));
  REQUIRE(first_of_standby != writers.end());
  CHECK(std::count(first_of_standby, writers.end(), node_id_of(dir.str() + "/a")) == 0);
  CHECK(std::count(writers.begin(), first_of_standby, node_id_of(dir.str() + "/a")) >= 1);
  auto more = client.request("task.create", R"({"title": "later"})", user);
  REQUIRE_MESSAGE(more, error_of(more));
  CHECK(more->has_task());
}

TEST_CASE("cluster: SIGKILL of one nats-server, service goes on, nothing acknowledged is lost") {
  TempDir dir;
  NatsCluster cluster(dir.str() + "/nats");
  Coachd owner(dir.str() + "/a", cluster.url(), kReplicated);
  Client client(cluster.url(), dir.str() + "/token.key");
  Writers writers{client, {}, {}};
  for (int i = 0; i < 4; ++i) {
    writers.users.push_back(Uuid::random().to_string());
    auto r = client.request("user.register", R"({"timezone": "UTC"})", writers.users.back());
    REQUIRE_MESSAGE(r, error_of(r));
    REQUIRE(!r->has_error());
  }
  std::thread load([&] { writers.run(); });
  std::this_thread::sleep_for(1000ms);
  // The server coachd and the client are most likely connected to: the first.
  cluster.server(0).process().signal(SIGKILL);
  auto killed = Steady::now();
  cluster.server(0).process().wait();
  std::this_thread::sleep_for(8000ms);
  writers.stop = true;
  load.join();
  auto probe = client.request("task.list", "", writers.users[0]);
  REQUIRE_MESSAGE(probe, error_of(probe) << "\n" << owner.process().log());
  size_t total = 0;
  for (const auto& user : writers.users) {
    auto stored = task_ids(client, user);
    CHECK_MESSAGE(stored == writers.acknowledged[user],
                  stored.size() << " stored, " << writers.acknowledged[user].size()
                                << " acknowledged\n"
                                << owner.process().log());
    total += stored.size();
  }
  auto recovered = writers.failing_after(killed, "one nats-server killed", total);
  // 0-6 s on a quiet machine, 20 s seen with the whole suite beside it: the
  // bound says writes resume; the figure is the MESSAGE.
  CHECK(recovered < 45s);
  // And coachd still serves new writes.
  auto more = client.request("task.create", R"({"title": "after"})", writers.users[0]);
  REQUIRE_MESSAGE(more, error_of(more));
  CHECK(more->has_task());
}

TEST_CASE("cluster: partitioned, SIGKILL of one nats-server: service goes on, nothing lost") {
  TempDir dir;
  NatsCluster cluster(dir.str() + "/nats");
  auto key = dir.str() + "/token.key";
  // The default lease (6 s): longer than a JetStream leader election, so
  // that most leases outlive the lost server (with 3 s many lapse, and
  // their partitions move as well).
  const std::vector<std::string> flags = {"--replicate-log", "3", "--partitions", "8"};
  std::unique_ptr<Coachd> nodes[3];
  for (int i = 0; i < 3; ++i)
    nodes[i] = std::make_unique<Coachd>(dir.str() + "/n" + std::to_string(i), cluster.url(), flags);
  auto all_owned_by_three = [](const v1::ClusterFigures& f) {
    auto owners = owners_of(f);
    return owners.size() == 3 && !owners.count("");
  };
  auto shared = wait_for_cluster(*nodes[0], key, all_owned_by_three);
  REQUIRE_MESSAGE(all_owned_by_three(shared), shared.DebugString());
  Client client(cluster.url(), key);
  Writers writers{client, {}, {}};
  add_registered_users(client, writers, 8);
  std::thread load([&] { writers.run(); });
  std::this_thread::sleep_for(1000ms);
  cluster.server(0).process().signal(SIGKILL);
  auto killed = Steady::now();
  cluster.server(0).process().wait();
  std::this_thread::sleep_for(10000ms);
  writers.stop = true;
  load.join();
  // Every partition has an owner again, and every user's log holds exactly
  // what was acknowledged.
  auto after = wait_for_cluster(
      *nodes[1], key, [](const v1::ClusterFigures& f) { return !owners_of(f).count(""); });
  CHECK_MESSAGE(!owners_of(after).count(""), after.DebugString());
  size_t total = 0;
  for (const auto& user : writers.users) {
    auto stored = task_ids(client, user);
    CHECK(stored == writers.acknowledged[user]);
    check_one_gapless_log(client, user, writers.acknowledged[user]);
    total += stored.size();
  }
  auto recovered = writers.failing_after(killed, "partitioned, one nats-server killed", total);
  // 10-11 s on a quiet machine; 26 s seen under ASan on a loaded one. The
  // bound says the cluster recovers; the figure is the MESSAGE.
  CHECK(recovered < 45s);
  CHECK(total > 20);
  for (const auto& user : writers.users) {
    // A partition may still be moving (unavailable, retry): up to 20 s, as a
    // client that honours retry_after_ms would wait on a loaded machine.
    auto more = client.request("task.create", R"({"title": "after"})", user, "after");
    for (int attempt = 0; attempt < 200 && (!more || !more->has_task()); ++attempt) {
      std::this_thread::sleep_for(100ms);
      more = client.request("task.create", R"({"title": "after"})", user, "after");
    }
    REQUIRE_MESSAGE(more, error_of(more));
    CHECK_MESSAGE(more->has_task(), more->DebugString());
  }
}

TEST_CASE("cluster: partitions are shared out, any node serves any user, a killed node's move") {
  TempDir dir;
  NatsCluster cluster(dir.str() + "/nats");
  auto flags = kReplicated;
  flags.insert(flags.end(), {"--partitions", "8"});
  Coachd a(dir.str() + "/a", cluster.url(), flags);
  Coachd b(dir.str() + "/b", cluster.url(), flags);
  Coachd c(dir.str() + "/c", cluster.url(), flags);
  // Every partition served; the first node takes all, then hands the
  // later nodes their preferred share as they join.
  auto served = [](Coachd& node) {
    auto log = node.process().log();
    size_t n = 0;
    for (size_t at = 0; (at = log.find("partition served", at)) != std::string::npos; ++at) ++n;
    return n;
  };
  auto deadline = Steady::now() + 30s;
  while ((served(b) < 1 || served(c) < 1) && Steady::now() < deadline)
    std::this_thread::sleep_for(100ms);
  CHECK(served(a) + served(b) + served(c) >= 8);
  CHECK(a.process().log().find("partition released") != std::string::npos);  // handed off
  CHECK(served(a) >= 1);
  CHECK(served(b) >= 1);
  CHECK(served(c) >= 1);

  Client client(cluster.url(), dir.str() + "/token.key");
  Writers writers{client, {}, {}};
  add_registered_users(client, writers, 16);
  std::thread load([&] { writers.run(); });
  std::this_thread::sleep_for(1500ms);
  c.process().signal(SIGKILL);
  c.process().wait();
  std::this_thread::sleep_for(6000ms);  // lease 3000 ms, then catch-up
  writers.stop = true;
  load.join();
  size_t total = 0;
  for (const auto& user : writers.users) {
    auto stored = task_ids(client, user);
    CHECK(stored == writers.acknowledged[user]);  // none lost, none made twice
    check_one_gapless_log(client, user, writers.acknowledged[user]);
    total += stored.size();
  }
  MESSAGE(total << " tasks acknowledged over 16 users on 8 partitions, " << writers.failures.load()
                << " failed tries across the SIGKILL");
  CHECK(total > 20);
  // Requests reaching a node that does not own the user's partition are
  // forwarded, not refused: only the failover's window fails.
  CHECK(writers.failures.load() < static_cast<int>(total / 4));
  CHECK(served(a) + served(b) >= 8);  // the killed node's partitions moved
}

TEST_CASE("cluster: SIGTERM hands a node's partitions off, nothing acknowledged lost") {
  TempDir dir;
  NatsCluster cluster(dir.str() + "/nats");
  auto flags = kReplicated;
  flags.insert(flags.end(), {"--partitions", "4"});
  Coachd a(dir.str() + "/a", cluster.url(), flags);
  Coachd b(dir.str() + "/b", cluster.url(), flags);
  REQUIRE_MESSAGE(b.process().wait_for_log("partition served", 30s), b.process().log());
  Client client(cluster.url(), dir.str() + "/token.key");
  Writers writers{client, {}, {}};
  add_registered_users(client, writers, 8);
  std::thread load([&] { writers.run(); });
  std::this_thread::sleep_for(1500ms);
  b.process().signal(SIGTERM);
  int status = b.process().wait();
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(b.process().log().find("partition released") != std::string::npos);
  std::this_thread::sleep_for(3000ms);
  writers.stop = true;
  load.join();
  size_t total = 0;
  for (const auto& user : writers.users) {
    auto stored = task_ids(client, user);
    CHECK(stored == writers.acknowledged[user]);
    check_one_gapless_log(client, user, writers.acknowledged[user]);
    total += stored.size();
  }
  MESSAGE(total << " tasks acknowledged across a SIGTERM handoff, " << writers.failures.load()
                << " failed tries");
  CHECK(total > 20);
}

TEST_CASE("cluster: nodes joining under load take their share, a rolling restart loses nothing") {
  TempDir dir;
  NatsCluster cluster(dir.str() + "/nats");
  auto key = dir.str() + "/token.key";
  auto flags = kReplicated;
  flags.insert(flags.end(), {"--partitions", "8"});
  std::unique_ptr<Coachd> nodes[3];
  nodes[0] = std::make_unique<Coachd>(dir.str() + "/n0", cluster.url(), flags);
  auto alone = wait_for_cluster(*nodes[0], key, [](auto& f) { return f.partitions_held() == 8; });
  REQUIRE_MESSAGE(alone.partitions_held() == 8, alone.DebugString());

  Client client(cluster.url(), key);
  Writers writers{client, {}, {}};
  add_registered_users(client, writers, 12);
  std::thread load([&] { writers.run(); });
  std::this_thread::sleep_for(1000ms);
  nodes[1] = std::make_unique<Coachd>(dir.str() + "/n1", cluster.url(), flags);
  nodes[2] = std::make_unique<Coachd>(dir.str() + "/n2", cluster.url(), flags);
  // A fair share each: ceil(8 / 3) at most, every partition owned.
  auto shared = [](const v1::ClusterFigures& f) {
    auto owners = owners_of(f);
    if (owners.size() != 3 || owners.count("")) return false;
    for (const auto& [owner, n] : owners)
      if (n > 3) return false;
    return f.members() == 3;
  };
  auto joined = wait_for_cluster(*nodes[0], key, shared);
  CHECK_MESSAGE(shared(joined), joined.DebugString());
  CHECK(joined.member_ids_size() == 3);
  // Each node's own view: it serves what it holds once it has caught up.
  auto served_here = [](const v1::ClusterFigures& f) {
    int n = 0;
    for (const auto& p : f.partition_map()) n += p.served_here();
    return n;
  };
  for (int i = 0; i < 3; ++i) {
    auto figures = wait_for_cluster(*nodes[i], key, [&](auto& f) { return served_here(f) >= 2; });
    CHECK(figures.node_id() == node_id_of(dir.str() + "/n" + std::to_string(i)));
    int served = 0;
    for (const auto& p : figures.partition_map()) {
      if (!p.served_here()) continue;
      ++served;
      CHECK(p.owner() == figures.node_id());
      CHECK(p.lease_age_seconds() < 3.0);  // renewed every second (lease 3 s)
    }
    CHECK(served >= 2);
  }
  // coachctl ops cluster: the same map, from whichever node answers.
  {
    auto bearer = admin_header(key).second.substr(std::string("Bearer ").size());
    auto shown = test::run_tool(COACH_COACHCTL,
                                {"--plaintext", "--nats-url", cluster.url(), "--nats-creds",
                                 cluster.creds(actors::BusRole::client), "--token-file",
                                 test::write_secret(dir, "admin.token", bearer), "ops", "cluster"},
                                dir.str() + "/coachctl", 60s,
                                {"XDG_CONFIG_HOME=" + dir.str() + "/no-config"});
    CHECK_MESSAGE(shown.exit_code == 0, shown.err);
    CHECK_MESSAGE(shown.out.find("partitioned: 8 partitions, log R3") != std::string::npos,
                  shown.out);
    CHECK_MESSAGE(shown.out.find("members            3:") != std::string::npos, shown.out);
    for (int i = 0; i < 3; ++i)
      CHECK_MESSAGE(
          shown.out.find(node_id_of(dir.str() + "/n" + std::to_string(i))) != std::string::npos,
          shown.out);
  }
  // Each node folds its own partitions' stores: one batch job each.
  {
    std::vector<std::pair<std::string, std::string>> admin = {admin_header(key)};
    auto run = client.raw("coach.v1.admin.batch.run", R"({"full": true})", admin);
    REQUIRE_MESSAGE(run, error_of(run));
    REQUIRE_MESSAGE(!run->has_error(), run->DebugString());
    v1::BatchStatus status;
    for (int attempt = 0; attempt < 100; ++attempt) {
      auto r = client.raw("coach.v1.admin.batch.status", "{}", admin);
      REQUIRE_MESSAGE(r, error_of(r));
      status = r->batch_status();
      if (status.runs() >= 2 && !status.running()) break;
      std::this_thread::sleep_for(100ms);
    }
    CHECK_MESSAGE(status.runs() >= 2, status.DebugString());  // partitions, not one store
    CHECK(status.last().error().empty());
    // The success metrics say which partitions they cover: the answering
    // node's. Only the node that ran the batch has them (any node may
    // answer; the others say unavailable).
    std::optional<v1::MetricsReport> report;
    for (int attempt = 0; attempt < 40 && !report; ++attempt) {
      auto metrics = client.raw("coach.v1.analytics.metrics", "{}", admin);
      REQUIRE_MESSAGE(metrics, error_of(metrics));
      if (!metrics->has_error())
        report = metrics->metrics_report();
      else
        CHECK(metrics->error().code() == "unavailable");
    }
    REQUIRE(report);
    CHECK(static_cast<int>(report->partitions_size()) >= 2);
    CHECK(report->partitions_size() < 8);
    for (auto p : report->partitions()) CHECK(p < 8);
  }
  // /metrics shows each partition this node serves.
  {
    httplib::Client http(nodes[0]->ops_url());
    auto metrics = http.Get("/metrics", {admin_header(key)});
    REQUIRE(metrics);
    CHECK(metrics->body.find("coach_partition_lease_age_seconds{partition=\"") !=
          std::string::npos);
    CHECK(metrics->body.find("coach_cluster_members 3") != std::string::npos);
  }

  // A rolling restart: each node in turn leaves (SIGTERM, its partitions
  // handed off) and comes back (takes its share again), under load.
  for (int i = 0; i < 3; ++i) {
    auto data = dir.str() + "/n" + std::to_string(i);
    nodes[i]->process().signal(SIGTERM);
    int status = nodes[i]->process().wait();
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    nodes[i] = std::make_unique<Coachd>(data, cluster.url(), flags);
    REQUIRE_MESSAGE(nodes[i]->process().wait_for_log("partition served", 30s),
                    nodes[i]->process().log());
  }
  auto after = wait_for_cluster(*nodes[1], key, shared);
  CHECK_MESSAGE(shared(after), after.DebugString());
  std::this_thread::sleep_for(1000ms);
  writers.stop = true;
  load.join();
  size_t total = 0;
  for (const auto& user : writers.users) {
    auto stored = task_ids(client, user);
    CHECK(stored == writers.acknowledged[user]);  // none lost, none made twice
    check_one_gapless_log(client, user, writers.acknowledged[user]);
    total += stored.size();
  }
  MESSAGE(total << " tasks acknowledged across two joins and a rolling restart of three nodes, "
                << writers.failures.load() << " failed tries");
  CHECK(total > 50);
}

TEST_CASE("cluster: a partition's owner paused past its lease writes nothing when it resumes") {
  TempDir dir;
  NatsCluster cluster(dir.str() + "/nats");
  auto key = dir.str() + "/token.key";
  auto flags = kReplicated;
  flags.insert(flags.end(), {"--partitions", "4"});
  Coachd a(dir.str() + "/a", cluster.url(), flags);
  Coachd b(dir.str() + "/b", cluster.url(), flags);
  auto a_id = node_id_of(dir.str() + "/a"), b_id = node_id_of(dir.str() + "/b");
  auto both = wait_for_cluster(a, key, [&](auto& f) {
    auto owners = owners_of(f);
    return owners.size() == 2 && owners.count(a_id) && owners.count(b_id);
  });
  REQUIRE_MESSAGE(owners_of(both).count(b_id), both.DebugString());
  // A user of a partition that a serves.
  std::string user;
  uint32_t partition = 0;
  for (;;) {
    auto id = Uuid::random();
    partition = partition_of(id, 4);
    if (both.partition_map(static_cast<int>(partition)).owner() == a_id) {
      user = id.to_string();
      break;
    }
  }
  Client client(cluster.url(), key);
  register_until_served(client, user);
  auto before = client.request("task.create", R"({"title": "before"})", user, "before");
  REQUIRE_MESSAGE(before, error_of(before));
  REQUIRE_MESSAGE(before->has_task(), before->DebugString());

  a.process().stop();
  auto moved = wait_for_cluster(b, key, [&](auto& f) {
    const auto& p = f.partition_map(static_cast<int>(partition));
    return p.owner() == b_id && p.served_here();
  });
  REQUIRE_MESSAGE(moved.partition_map(static_cast<int>(partition)).served_here(),
                  moved.DebugString());
  // Requests reaching the paused node wait in its socket: each is retried
  // with its key until b answers it.
  std::set<std::string> acknowledged = {before->task().id()};
  create_retried(client, user, 20, acknowledged);
  REQUIRE(acknowledged.size() == 21);
  a.process().signal(SIGCONT);
  // It answers what it held without writing, gives the partition up and
  // goes on serving its share.
  auto rejoined = wait_for_cluster(a, key, [&](auto& f) {
    auto owners = owners_of(f);
    return owners.size() == 2 && !owners.count("") && f.members() == 2;
  });
  CHECK_MESSAGE(owners_of(rejoined).size() == 2, rejoined.DebugString());
  std::this_thread::sleep_for(500ms);
  CHECK(task_ids(client, user) == acknowledged);
  // The partition's log: a's groups, then b's, and none of a's after b's
  // first, until a takes the partition back (if it is a's to prefer).
  auto writers = log_writers(cluster, partition);
  auto first_of_b = std::find(writers.begin(), writers.end(), b_id);
  REQUIRE(first_of_b != writers.end());
  CHECK(std::count(writers.begin(), first_of_b, a_id) >= 2);
  auto back_to_a = std::find(first_of_b, writers.end(), a_id);
  CHECK(std::count(first_of_b, back_to_a, b_id) >= 20);
  auto more = client.request("task.create", R"({"title": "later"})", user, "later");
  for (int attempt = 0; attempt < 50 && (!more || !more->has_task()); ++attempt) {
    std::this_thread::sleep_for(100ms);
    more = client.request("task.create", R"({"title": "later"})", user, "later");
  }
  REQUIRE_MESSAGE(more, error_of(more));
  CHECK(more->has_task());
  CHECK(a.process().log().find("partition lease lost") != std::string::npos);
}
