// CRUD round trips over NATS, beside a raw NATS request-reply echo measured
// in the same run, and memory per user actor.
//
//   build/bench/crud_bench [--seconds S] [--users N]
//
// A real nats-server on a free loopback port; the coach node (store with
// synced WAL, actor system, registry, gateway) runs in this process, the
// clients on their own NATS connections and threads.
#include <google/protobuf/util/time_util.h>
#include <malloc.h>
#include <nats/nats.h>

#include <fmt/core.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "actors/nats_gateway.h"
#include "actors/registry.h"
#include "tests/processes.h"

using namespace coach;
using Clock = std::chrono::steady_clock;

namespace {

struct Figures {
  std::vector<double> micros;  // one per round trip
  double seconds = 0;
  double percentile(double p) const {
    if (micros.empty()) return 0;
    auto sorted = micros;
    std::sort(sorted.begin(), sorted.end());
    return sorted[std::min(sorted.size() - 1, static_cast<size_t>(p * sorted.size()))];
  }
  double rate() const { return static_cast<double>(micros.size()) / seconds; }
};

void report(const std::string& what, int clients, const Figures& f) {
  fmt::print(
      "{:<28} {:>2} client{}  p50 {:>7.0f} us  p95 {:>7.0f} us  p99 {:>7.0f} us  {:>8.0f} /s\n",
      what, clients, clients == 1 ? " " : "s", f.percentile(0.50), f.percentile(0.95),
      f.percentile(0.99), f.rate());
}

// Runs `clients` threads, each calling `round_trip(client, i)` until time is up.
template <class RoundTrip>
Figures run_clients(int clients, double seconds, RoundTrip round_trip) {
  std::vector<std::vector<double>> per_client(clients);
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  auto start = Clock::now();
  for (int c = 0; c < clients; ++c)
    threads.emplace_back([&, c] {
      for (int i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        auto t0 = Clock::now();
        if (!round_trip(c, i)) continue;
        per_client[c].push_back(
            std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
      }
    });
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  Figures f;
  f.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  for (auto& v : per_client) f.micros.insert(f.micros.end(), v.begin(), v.end());
  return f;
}

natsConnection* connect(const std::string& url) {
  natsOptions* options = nullptr;
  natsOptions_Create(&options);
  natsOptions_SetURL(options, url.c_str());
  natsOptions_SetSendAsap(options, true);  // as coach's own connections do
  natsConnection* nc = nullptr;
  if (natsConnection_Connect(&nc, options) != NATS_OK) std::exit(1);
  natsOptions_Destroy(options);
  return nc;
}

void echo(natsConnection* nc, natsSubscription*, natsMsg* msg, void*) {
  natsConnection_Publish(nc, natsMsg_GetReply(msg), natsMsg_GetData(msg),
                         natsMsg_GetDataLength(msg));
  natsMsg_Destroy(msg);
}

template <class T>
T must(Result<T> result, const char* what) {
  if (!result) {
    fmt::print(stderr, "crud_bench: {}: {}\n", what, result.error().message);
    std::exit(1);
  }
  return std::move(*result);
}

long rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return 0;
}

// Registers `count` users straight through the registry (no NATS), many in flight.
void register_users(actors::Registry& registry, int count) {
  std::atomic<int> pending{0};
  for (int u = 0; u < count; ++u) {
    while (pending.load() > 2000) std::this_thread::yield();
    ++pending;
    v1::Command c;
    c.mutable_register_user()->set_email("u@example.com");
    registry.dispatch(std::make_shared<actors::Request>(Uuid::random(), std::move(c), "",
                                                        [&](const v1::Reply&) { --pending; }));
  }
  while (pending.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"coach CRUD round-trip benchmark"};
  double seconds = 3;
  int users = 100000;
  std::string root = "build/bench-data/crud";
  app.add_option("--seconds", seconds, "duration of each latency run")->capture_default_str();
  app.add_option("--users", users, "users for the memory figures")->capture_default_str();
  app.add_option("--dir", root, "scratch directory")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  std::filesystem::remove_all(root);
  std::filesystem::create_directories(root);

  test::NatsServer nats(root);
  events::StoreOptions store_options;
  store_options.path = root + "/events";
  auto store = must(events::EventStore::open(store_options), "open store");
  caf::actor_system_config config;
  config.set("scheduler.max-threads", 2);
  config.set("scheduler.policy", caf::atom("sharing"));  // as coachd does by default
  auto system = std::make_unique<caf::actor_system>(config);
  actors::RegistryOptions registry_options;
  registry_options.actor.idle_timeout = std::chrono::seconds(600);
  auto registry = std::make_unique<actors::Registry>(*system, *store, registry_options);
  actors::GatewayOptions gateway_options;
  gateway_options.url = nats.url();
  auto gateway = must(actors::NatsGateway::start(*registry, gateway_options), "start gateway");
  fmt::print(
      "crud benchmark: nats-server {}, synced WAL, {} s per figure, 2 sharing scheduler threads\n",
      nats.url(), seconds);

  // Raw NATS request-reply echo: the floor under any command.
  auto responder = connect(nats.url());
  natsSubscription* sub = nullptr;
  natsConnection_Subscribe(&sub, responder, "bench.echo", echo, nullptr);
  natsConnection_Flush(responder);
  std::map<int, Figures> raw;
  for (int clients : {1, 64}) {
    std::vector<natsConnection*> conns(clients);
    for (auto& c : conns) c = connect(nats.url());
    std::string body = R"({"task_id": "00000000-0000-4000-8000-000000000000"})";
    raw[clients] = run_clients(clients, seconds, [&](int c, int) {
      natsMsg* reply = nullptr;
      if (natsConnection_Request(&reply, conns[c], "bench.echo", body.data(),
                                 static_cast<int>(body.size()), 5000) != NATS_OK)
        return false;
      natsMsg_Destroy(reply);
      return true;
    });
    report("raw nats echo", clients, raw[clients]);
    for (auto c : conns) natsConnection_Destroy(c);
  }

  // CRUD: each client owns a user and cycles create, get, edit, complete.
  for (int clients : {1, 64}) {
    std::vector<std::unique_ptr<test::Client>> conns;
    std::vector<std::string> user_ids, task_ids(clients);
    for (int c = 0; c < clients; ++c) {
      conns.push_back(std::make_unique<test::Client>(nats.url()));
      user_ids.push_back(new_uuid_string());
      must(conns.back()->request("user.register", R"({"email": "b@example.com"})", user_ids.back()),
           "register");
    }
    std::atomic<int> errors{0};
    auto crud = run_clients(clients, seconds, [&](int c, int i) {
      auto& id = task_ids[c];
      Result<v1::Reply> r = make_error(Errc::internal, "");
      switch (i % 4) {
        case 0:
          r = conns[c]->request("task.create", R"({"title": "bench"})", user_ids[c]);
          break;
        case 1:
          r = conns[c]->request("task.get", R"({"task_id": ")" + id + "\"}", user_ids[c]);
          break;
        case 2:
          r = conns[c]->request(
              "task.edit",
              R"({"task_id": ")" + id + R"(", "title": "bench )" + std::to_string(i) + "\"}",
              user_ids[c]);
          break;
        case 3:
          r = conns[c]->request("task.complete", R"({"task_id": ")" + id + "\"}", user_ids[c]);
          break;
      }
      if (!r || r->has_error()) {
        ++errors;
        return false;
      }
      if (i % 4 == 0) id = r->task().id();
      return true;
    });
    report("coach crud round trip", clients, crud);
    fmt::print(
        "{:<28} {:>2} client{}  p99 ratio to raw echo {:.1f}x  throughput ratio {:.2f}  errors "
        "{}\n",
        "", clients, clients == 1 ? " " : "s",
        crud.percentile(0.99) / raw[clients].percentile(0.99), crud.rate() / raw[clients].rate(),
        errors.load());
  }

  // Memory: resident actors, then the same users after real passivation.
  gateway->stop_accepting();
  registry.reset();
  registry_options.actor.idle_timeout = std::chrono::seconds(3);
  registry = std::make_unique<actors::Registry>(*system, *store, registry_options);
  malloc_trim(0);
  long before = rss_kib();
  register_users(*registry, users);
  long resident_rss = rss_kib();
  auto resident = std::max<size_t>(1, registry->stats().resident);
  fmt::print("memory: {:>6} resident user actors  {:>8.0f} bytes each (RSS +{} MiB)\n", resident,
             (resident_rss - before) * 1024.0 / static_cast<double>(resident),
             (resident_rss - before) / 1024);
  while (registry->stats().resident > 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  malloc_trim(0);
  long passivated = rss_kib();
  fmt::print("memory: {:>6} passivated users      {:>8.0f} bytes each (RSS +{} MiB over start)\n",
             users, std::max(0L, passivated - before) * 1024.0 / users,
             std::max(0L, passivated - before) / 1024);
  registry.reset();
  gateway.reset();
  system.reset();
  natsSubscription_Destroy(sub);
  natsConnection_Destroy(responder);
  return 0;
}
