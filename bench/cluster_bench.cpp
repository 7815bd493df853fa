// coach as a cluster (issue 18; docs/performance.md, "A cluster"): CRUD
// round trips on a 3-server NATS cluster (JetStream, R3) on loopback for
//   1. one coachd, log not replicated (the single-node default);
//   2. one coachd, log replicated (--replicate-log 3 --partitions 64);
//   3. three coachd sharing the 64 partitions;
// each as p50/p99 and throughput at 1 and 16 clients, with the ratios of
// (2) to (1) and of (3) to (2), all measured in this run. Then, on (3)
// with --failover-users users resident: SIGKILL of one coachd, the time
// until each of its partitions is served again and until every one of its
// users is, whether each of their tasks is still there, and the catch-up
// rate of the nodes that took its partitions over.
//
//   build/bench/cluster_bench [--seconds S] [--failover-users N] [--lease-ttl-ms MS]
//
// Everything shares this machine's cores: three coachd and three
// nats-servers on 2 cores show what forwarding and replication cost, not
// the capacity that more machines would add.
#include <signal.h>

#include <google/protobuf/util/json_util.h>
#include <httplib.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "base/partition.h"
#include "bench/load_generator.h"
#include "tests/processes.h"
#include "wire/auth.h"

using namespace coach;
using bench::Figures;
using bench::must;
using bench::Steady;
using namespace std::chrono_literals;

namespace {

constexpr uint32_t kPartitions = 64;

double seconds_since(Steady::time_point start) {
  return std::chrono::duration<double>(Steady::now() - start).count();
}

// One configuration: a fresh 3-server NATS cluster and `nodes` coachd whose
// data dirs share `dir` (and so the token key).
struct Setup {
  std::string dir;
  std::unique_ptr<test::NatsCluster> nats;
  std::vector<std::unique_ptr<test::Coachd>> nodes;
  std::string token_key() const { return dir + "/token.key"; }
  std::string data_dir(size_t i) const { return dir + "/n" + std::to_string(i); }
};

// Node `node`'s ops view (GET /api/ops, admin).
v1::OpsSnapshot ops_of(const Setup& setup, size_t node) {
  auto signer = must(actors::TokenSigner::load(setup.token_key(), false), "token key");
  httplib::Client http(setup.nodes[node]->ops_url());
  http.set_read_timeout(5);
  auto res = http.Get("/api/ops",
                      {{"Authorization", "Bearer " + signer.issue(Uuid::random(), v1::ROLE_ADMIN,
                                                                  std::chrono::hours(1))}});
  v1::OpsSnapshot ops;
  if (!res || res->status != 200 ||
      !google::protobuf::util::JsonStringToMessage(res->body, &ops).ok()) {
    throw bench::BenchFailure(fmt::format("no ops view of node {}", node));
  }
  return ops;
}

v1::ClusterFigures cluster_of(const Setup& setup, size_t node) {
  return ops_of(setup, node).cluster();
}

int served_here(const v1::ClusterFigures& f) {
  int n = 0;
  for (const auto& p : f.partition_map()) n += p.served_here();
  return n;
}

// Starts `nodes` coachd with `flags` on a fresh cluster; with a replicated
// log, returns once every partition is served, each node serves its share
// and nothing has moved for three lease rounds (creating the 64 R3 streams
// when the first node starts takes tens of seconds, once in a cluster's
// life).
Setup start(const std::string& dir, int nodes, const std::vector<std::string>& flags,
            int lease_ttl_ms) {
  Setup s{dir, std::make_unique<test::NatsCluster>(dir + "/nats"), {}};
  for (int i = 0; i < nodes; ++i)
    s.nodes.push_back(std::make_unique<test::Coachd>(s.data_dir(i), s.nats->url(), flags));
  if (flags.empty()) return s;
  auto started = Steady::now();
  // Who serves what, when every partition is served by one node and each
  // node by a fair share; empty otherwise.
  auto shared = [&] {
    std::vector<int> served_by(kPartitions, -1);
    auto most = static_cast<int>((kPartitions + s.nodes.size() - 1) / s.nodes.size());
    for (size_t i = 0; i < s.nodes.size(); ++i) {
      auto view = cluster_of(s, i);
      if (served_here(view) > most || view.members() != s.nodes.size()) return std::vector<int>{};
      for (const auto& p : view.partition_map())
        if (p.served_here()) served_by[p.partition()] = static_cast<int>(i);
    }
    if (std::count(served_by.begin(), served_by.end(), -1)) return std::vector<int>{};
    return served_by;
  };
  const auto quiet = std::chrono::milliseconds(lease_ttl_ms);  // three rounds
  std::vector<int> last;
  auto since = Steady::now();
  for (;;) {
    auto now = shared();
    if (now.empty() || now != last) {
      last = now;
      since = Steady::now();
    } else if (Steady::now() - since >= quiet) {
      break;
    }
    if (seconds_since(started) > 180)
      throw bench::BenchFailure("the partitions were not shared out in 180 s");
    std::this_thread::sleep_for(250ms);
  }
  fmt::print(
      "{} node{}: all {} partitions served and settled {:.1f} s after the last node was "
      "ready\n",
      nodes, nodes == 1 ? "" : "s", kPartitions,
      seconds_since(started) - std::chrono::duration<double>(quiet).count());
  return s;
}

// A request retried while the user's partition is moving ("unavailable")
// or its node does not answer, for 60 s at most.
v1::Reply request_until_served(test::Client& client, const std::string& operation,
                               const std::string& body, const std::string& user,
                               const std::string& key = {}) {
  auto give_up = Steady::now() + 60s;
  for (;;) {
    auto r = client.request(operation, body, user, key, actors::Encoding::json, 1000);
    bool moving = !r || (r->has_error() && r->error().code() == "unavailable");
    if (!moving) return *r;
    if (Steady::now() > give_up) {
      throw bench::BenchFailure(fmt::format("{} not served for 60 s", operation));
    }
    std::this_thread::sleep_for(50ms);
  }
}

// Runs `work` on `threads` threads and joins them; the first exception
// thrown in one is rethrown here (a throw in a thread would terminate the
// benchmark with its nats-servers and coachd still running).
void on_threads(int threads, const std::function<void()>& work) {
  std::exception_ptr failed;
  std::mutex mu;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t)
    workers.emplace_back([&] {
      try {
        work();
      } catch (...) {
        std::lock_guard lock(mu);
        if (!failed) failed = std::current_exception();
      }
    });
  for (auto& w : workers) w.join();
  if (failed) std::rethrow_exception(failed);
}

// Registers `users` (each with one task), `threads` at a time.
void register_users(const Setup& s, const std::vector<std::string>& users, int threads) {
  std::atomic<size_t> next{0};
  on_threads(threads, [&] {
    test::Client client(s.nats->url(), s.token_key());
    for (size_t u = next++; u < users.size(); u = next++) {
      request_until_served(client, "user.register", R"({"timezone": "UTC"})", users[u], "reg");
      request_until_served(client, "task.create", R"({"title": "kept"})", users[u], "kept");
    }
  });
}

// CRUD cycles (bench::crud_cycle) of `clients` new users for `seconds`,
// after one second of warm-up.
Figures crud(const Setup& s, int clients, double seconds, int& errors, std::string& first_error) {
  std::vector<std::string> users(static_cast<size_t>(clients));
  for (auto& u : users) u = Uuid::random().to_string();
  register_users(s, users, std::min(clients, 8));
  auto signer = must(actors::TokenSigner::load(s.token_key(), false), "token key");
  std::vector<std::string> tokens;
  for (const auto& u : users)
    tokens.push_back("Bearer " +
                     signer.issue(*Uuid::parse(u), v1::ROLE_USER, std::chrono::hours(1)));
  bench::LoadGenerator load(s.nats->url(), clients, users, tokens, bench::crud_cycle(clients));
  load.run(1.0);
  auto figures = load.run(seconds);
  if (load.errors() > 0 && first_error.empty()) first_error = load.first_error();
  errors += load.errors();
  return figures;
}

void ratio(const std::string& what, int clients, const Figures& f, const Figures& base) {
  fmt::print("{:<28} {:>2} client{}  p50 {:.2f}x  p99 {:.2f}x  throughput {:.2f}x\n", what, clients,
             clients == 1 ? " " : "s", f.percentile(0.5) / base.percentile(0.5),
             f.percentile(0.99) / base.percentile(0.99), f.rate() / base.rate());
}

// SIGKILL of the last node of `s` with `users` resident, and how the
// others take its partitions over.
void failover(Setup& s, int users_count) {
  std::vector<std::string> users(static_cast<size_t>(users_count));
  for (auto& u : users) u = Uuid::random().to_string();
  auto registering = Steady::now();
  register_users(s, users, 8);
  fmt::print("failover: {} users registered with a task each in {:.1f} s\n", users_count,
             seconds_since(registering));
  size_t victim = s.nodes.size() - 1;
  auto before = cluster_of(s, victim);
  std::set<uint32_t> lost;
  for (const auto& p : before.partition_map())
    if (p.served_here()) lost.insert(p.partition());
  std::map<uint32_t, std::string> probe;  // a user of each lost partition
  std::vector<std::string> orphans;       // every user of the killed node
  for (const auto& u : users) {
    auto p = partition_of(*Uuid::parse(u), kPartitions);
    if (!lost.count(p)) continue;
    orphans.push_back(u);
    probe.emplace(p, u);
  }
  uint64_t resident = 0;
  for (size_t i = 0; i < s.nodes.size(); ++i) resident += ops_of(s, i).node().resident_actors();
  fmt::print("failover: {} user actors resident on the 3 nodes\n", resident);

  auto killed = Steady::now();
  s.nodes[victim]->process().signal(SIGKILL);
  s.nodes[victim]->process().wait();
  // Each lost partition: the first answered read of its probe user.
  std::vector<double> served_again;
  {
    test::Client client(s.nats->url(), s.token_key());
    auto pending = probe;
    while (!pending.empty()) {
      for (auto it = pending.begin(); it != pending.end();) {
        auto r = client.request("task.list", "{}", it->second, {}, actors::Encoding::json, 300);
        if (r && r->has_task_list()) {
          served_again.push_back(seconds_since(killed));
          it = pending.erase(it);
        } else {
          ++it;
        }
      }
      if (seconds_since(killed) > 120) {
        throw bench::BenchFailure(
            fmt::format("{} partitions not served 120 s after the kill", pending.size()));
      }
      std::this_thread::sleep_for(20ms);
    }
  }
  std::sort(served_again.begin(), served_again.end());
  if (served_again.empty())
    throw bench::BenchFailure("the killed node held no partition with a user: more users");
  // Every user of the killed node, each with its task.
  std::atomic<size_t> next{0}, missing{0};
  on_threads(8, [&] {
    test::Client client(s.nats->url(), s.token_key());
    for (size_t u = next++; u < orphans.size(); u = next++) {
      auto r = request_until_served(client, "task.list", "{}", orphans[u]);
      if (!r.has_task_list() || r.task_list().tasks_size() != 1) ++missing;
    }
  });
  double all_served = seconds_since(killed);
  fmt::print(
      "failover: SIGKILL of 1 of 3 coachd holding {} partitions and {} users: partitions served "
      "again after {:.2f} s (first) {:.2f} s (median) {:.2f} s (last); all {} users read again "
      "after {:.2f} s, {} of their tasks missing\n",
      lost.size(), orphans.size(), served_again.front(), served_again[served_again.size() / 2],
      served_again.back(), orphans.size(), all_served, missing.load());
  // Catch-up: what the survivors applied from the lost partitions' streams.
  uint64_t events = 0;
  double busy = 0, longest = 0;
  for (size_t i = 0; i < victim; ++i) {
    auto view = cluster_of(s, i);
    for (const auto& p : view.partition_map())
      if (p.served_here() && lost.count(p.partition())) {
        events += p.caught_up_events();
        busy += p.catch_up_seconds();
        longest = std::max(longest, p.catch_up_seconds());
      }
  }
  fmt::print(
      "failover: catch-up of the {} partitions: {} events in {:.2f} s of catch-up (longest "
      "{:.2f} s): {:.0f} events/s\n",
      lost.size(), events, busy, longest, busy > 0 ? static_cast<double>(events) / busy : 0.0);
}

}  // namespace

int run(int argc, char** argv) {
  CLI::App app{"coach on a 3-server NATS cluster: 1 vs 3 nodes, replication, failover"};
  double seconds = 3;
  int failover_users = 10000;
  int lease_ttl_ms = 6000;
  std::string root = "build/bench-data/cluster";
  app.add_option("--seconds", seconds, "duration of each latency run")->capture_default_str();
  app.add_option("--failover-users", failover_users,
                 "users resident when one of three coachd is killed; 0: skip the failover")
      ->capture_default_str();
  app.add_option("--lease-ttl-ms", lease_ttl_ms, "coachd --lease-ttl-ms")->capture_default_str();
  app.add_option("--dir", root, "scratch directory")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  std::filesystem::remove_all(root);
  std::filesystem::create_directories(root);
  const std::vector<std::string> replicated = {"--replicate-log", "3",
                                               "--partitions",    std::to_string(kPartitions),
                                               "--lease-ttl-ms",  std::to_string(lease_ttl_ms)};
  fmt::print(
      "cluster benchmark: 3 nats-servers (JetStream R3) on loopback, {} s per figure, CRUD "
      "cycles (create, get, edit, complete), lease {} ms\n",
      seconds, lease_ttl_ms);
  const int client_counts[] = {1, 16};
  std::map<std::string, std::map<int, Figures>> figures;
  int errors = 0;
  std::string first_error;
  auto measure = [&](const std::string& label, int nodes, const std::vector<std::string>& flags) {
    auto s = start(root + "/" + std::to_string(figures.size()), nodes, flags, lease_ttl_ms);
    for (int clients : client_counts) {
      int before = errors;
      figures[label][clients] = crud(s, clients, seconds, errors, first_error);
      if (errors > before) fmt::print("{:<28} {} errors\n", label, errors - before);
      bench::report(label, clients, figures[label][clients]);
    }
    return s;
  };
  const std::string single = "1 node, log unreplicated", one = "1 node, log R3",
                    three = "3 nodes, log R3";
  measure(single, 1, {});
  measure(one, 1, replicated);
  auto cluster = measure(three, 3, replicated);
  for (int clients : client_counts) {
    ratio("R3 / unreplicated, 1 node", clients, figures[one][clients], figures[single][clients]);
    ratio("3 nodes / 1 node, R3", clients, figures[three][clients], figures[one][clients]);
  }
  fmt::print("errors in CRUD replies: {}{}\n", errors, errors ? ", the first: " + first_error : "");
  if (failover_users > 0) failover(cluster, failover_users);
  return errors == 0 ? 0 : 1;
}

int main(int argc, char** argv) {
  return bench::guarded_main("cluster_bench", run, argc, argv);
}
