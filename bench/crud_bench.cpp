// CRUD round trips over NATS, beside a raw NATS request-reply echo measured
// in the same run with the same load generator, and memory per user actor.
//
//   build/bench/crud_bench [--seconds S] [--users N] [--no-ops]
//
// A real nats-server on a free loopback port; the coach node (store with
// synced WAL, actor system, registry, gateway) runs in this process, the
// load generator on its own NATS connection and delivery thread.
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
#include <functional>
#include <future>
#include <sstream>
#include <thread>
#include <tuple>

#include "actors/batch_job.h"
#include "actors/registry.h"
#include "bench/load_generator.h"
#include "gateway/nats_gateway.h"
#include "ops/command_metrics.h"
#include "ops/ops_view.h"
#include "ops/prometheus.h"
#include "schema/internal.pb.h"
#include "simulator.h"
#include "tests/processes.h"
#include "wire/nats_connect.h"

using namespace coach;
using Steady = std::chrono::steady_clock;
using bench::connect;
using bench::Figures;
using bench::LoadGenerator;
using bench::must;
using bench::report;

namespace {

void echo(natsConnection* nc, natsSubscription*, natsMsg* msg, void*) {
  natsConnection_Publish(nc, natsMsg_GetReply(msg), natsMsg_GetData(msg),
                         natsMsg_GetDataLength(msg));
  natsMsg_Destroy(msg);
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

int run(int argc, char** argv) {
  CLI::App app{"coach CRUD round-trip benchmark"};
  double seconds = 3;
  int memory_users = 100000;
  std::string root = "build/bench-data/crud";
  app.add_option("--seconds", seconds, "duration of each latency run")->capture_default_str();
  app.add_option("--users", memory_users, "users for the memory figures")->capture_default_str();
  app.add_option("--dir", root, "scratch directory")->capture_default_str();
  int batch_users = 2000;
  app.add_option("--batch-users", batch_users,
                 "simulated users (200 events each) the batch job replays beside the CRUD load; "
                 "0: skip that figure")
      ->capture_default_str();
  double batch_rate = actors::BatchOptions{}.max_events_per_second;
  app.add_option("--batch-rate", batch_rate, "the batch job's rate limit, events/s")
      ->capture_default_str();
  bool no_ops = false;
  app.add_flag("--no-ops", no_ops,
               "without coachd's ops figures (command metrics per reply, and /metrics scraped "
               "every 100 ms during each run), to measure what they cost");
  bool no_sync = false;
  app.add_flag("--no-sync", no_sync,
               "acknowledge writes before the WAL is synced (not what coachd does): shows "
               "what the fsync of each group commit costs the round trip");
  CLI11_PARSE(app, argc, argv);
  std::filesystem::remove_all(root);
  std::filesystem::create_directories(root);

  test::NatsServer nats(root);
  events::StoreOptions store_options;
  store_options.path = root + "/events";
  store_options.master_key = events::SecretKey::random();
  store_options.sync = !no_sync;
  auto store = must(events::EventStore::open(store_options), "open store");
  caf::actor_system_config config;
  config.set("scheduler.max-threads", 2);
  config.set("scheduler.policy", caf::atom("sharing"));  // as coachd does by default
  actors::mark_caf_threads_nonblocking(config);
  auto system = std::make_unique<caf::actor_system>(config);
  actors::RegistryOptions registry_options;
  registry_options.actor.idle_timeout = std::chrono::seconds(600);
  auto registry = std::make_unique<actors::Registry>(*system, *store, registry_options);
  actors::GatewayOptions gateway_options;
  gateway_options.nats.url = nats.url();
  gateway_options.nats.plaintext = true;  // loopback benchmark, like the raw echo beside it
  gateway_options.nats.creds_file = nats.creds(actors::BusRole::coachd);
  auto signer = must(actors::TokenSigner::load(root + "/token.key", true), "token key");
  gateway_options.verifier = signer.verifier();
  actors::CommandMetrics metrics;
  actors::OpsView ops(*registry, metrics, nullptr);
  if (!no_ops) gateway_options.metrics = &metrics;
  // As a Prometheus server would, but ten times as often: render /metrics.
  std::atomic<bool> scraping{!no_ops};
  std::atomic<uint64_t> scrapes{0}, scrape_micros{0};
  std::thread scraper([&] {
    while (scraping) {
      auto start = Steady::now();
      auto text = actors::prometheus_text(ops.snapshot());
      scrape_micros += static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(Steady::now() - start).count());
      ++scrapes;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  fmt::print(
      "crud benchmark: nats-server {}, {} WAL, {} s per figure, 2 sharing scheduler threads, "
      "ops figures {}\n",
      nats.url(), no_sync ? "UNSYNCED (--no-sync)" : "synced", seconds,
      no_ops ? "off (--no-ops)" : "on, /metrics rendered every 100 ms");

  // Raw NATS request-reply echo: the floor under any command.
  // The responder holds a coachd identity (the only one that may subscribe
  // to coach.v1.>), so it runs before the gateway starts.
  auto responder = connect(nats.url(), actors::BusRole::coachd).first;
  natsSubscription* sub = nullptr;
  natsConnection_Subscribe(&sub, responder, "coach.v1.bench.echo", echo, nullptr);
  natsSubscription_SetPendingLimits(sub, -1, -1);
  natsConnection_Flush(responder);
  const std::string echo_body = R"({"task_id": "00000000-0000-4000-8000-000000000000"})";
  std::map<int, Figures> raw;
  for (int clients : {1, 64}) {
    LoadGenerator load(nats.url(), clients, std::vector<std::string>(clients, "-"),
                       std::vector<std::string>(clients, "-"), [&](int, int, std::string_view) {
                         return std::pair{std::string("coach.v1.bench.echo"), echo_body};
                       });
    raw[clients] = load.run(seconds);
    report("raw nats echo", clients, raw[clients]);
  }
  natsSubscription_Unsubscribe(sub);
  auto gateway = must(actors::NatsGateway::start(*registry, gateway_options), "start gateway");

  // CRUD: each client owns a user and runs bench::crud_cycle.
  auto crud_run = [&](int clients, const std::string& label, bool reads_only = false) {
    std::vector<std::string> users;
    {
      test::Client setup(nats.url(), root + "/token.key");
      for (int c = 0; c < clients; ++c) {
        users.push_back(new_uuid_string());
        must(setup.request("user.register", R"({"email": "b@example.com"})", users.back()),
             "register");
      }
    }
    std::vector<std::string> tokens;
    for (const auto& u : users)
      tokens.push_back("Bearer " +
                       signer.issue(*Uuid::parse(u), v1::ROLE_USER, std::chrono::hours(1)));
    LoadGenerator load(nats.url(), clients, users, tokens, bench::crud_cycle(clients, reads_only));
    auto crud = load.run(seconds);
    report(label, clients, crud);
    fmt::print(
        "{:<28} {:>2} client{}  p99 ratio to raw echo {:.1f}x  throughput ratio {:.2f}  errors "
        "{}\n",
        "", clients, clients == 1 ? " " : "s",
        crud.percentile(0.99) / raw[clients].percentile(0.99), crud.rate() / raw[clients].rate(),
        load.errors());
    return crud;
  };
  for (int clients : {1, 64}) crud_run(clients, "coach crud round trip");
  for (int clients : {1, 64}) crud_run(clients, "coach task.get only", /*reads_only=*/true);
  scraping = false;
  scraper.join();
  if (scrapes > 0)
    fmt::print("ops: /metrics rendered {} times during the runs, {:.0f} us each ({} bytes)\n",
               scrapes.load(), static_cast<double>(scrape_micros) / static_cast<double>(scrapes),
               actors::prometheus_text(ops.snapshot()).size());

  // Memory: resident actors, then the same users after real passivation.
  gateway->stop_accepting();
  registry.reset();
  // Long enough that no actor passivates while the users register.
  registry_options.actor.idle_timeout = std::chrono::seconds(15);
  registry = std::make_unique<actors::Registry>(*system, *store, registry_options);
  malloc_trim(0);
  long before = rss_kib();
  auto registering = std::chrono::steady_clock::now();
  register_users(*registry, memory_users);
  fmt::print("memory: registered {} users in {:.1f} s\n", memory_users,
             std::chrono::duration<double>(std::chrono::steady_clock::now() - registering).count());
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
             memory_users, std::max(0L, passivated - before) * 1024.0 / memory_users,
             std::max(0L, passivated - before) / 1024);
  // The same load beside the behavior batch job (issue #5): history of
  // simulated users first, then 64 clients without and with the batch job
  // replaying it over and over at its default rate limit.
  if (batch_users > 0) {
    // A fresh node on the same store (the memory figures stopped the last).
    gateway.reset();
    registry.reset();
    registry_options.actor.idle_timeout = std::chrono::seconds(600);
    registry = std::make_unique<actors::Registry>(*system, *store, registry_options);
    gateway = must(actors::NatsGateway::start(*registry, gateway_options), "restart gateway");
    sim::SimOptions sim_options;
    sim_options.registered = true;
    sim_options.max_events = 200;
    std::atomic<int> pending{0};
    uint64_t history = 0;
    for (int u = 0; u < batch_users; ++u) {
      auto user = sim::simulate(u % 6, static_cast<uint64_t>(u), sim_options);
      history += user.events.size();
      ++pending;
      store->append_async(*Uuid::parse(user.events.front().user_id()), 0, user.events,
                          [&](Result<events::AppendResult>) { --pending; });
    }
    while (pending > 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    fmt::print("batch isolation: {} simulated users, {} events of history\n", batch_users, history);
    // Rounds of a run without and a run beside the batch job, alternating:
    // this machine's p99 moves by tens of percent from one run to the
    // next, so one pair says little; the medians of three say more.
    actors::BatchOptions batch_options;  // coachd's defaults: nice 19, --batch-rate
    batch_options.max_events_per_second = batch_rate;
    std::vector<double> quiet, busy;
    uint64_t batch_events = 0;
    for (int round = 0; round < 3; ++round) {
      quiet.push_back(crud_run(64, "coach crud, no batch").percentile(0.99));
      actors::BatchJob batch(*store, batch_options);
      (void)batch.start(true);  // a full run lasts longer than the load
      std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the run is under way
      busy.push_back(crud_run(64, "coach crud, batch running").percentile(0.99));
      batch_events += batch.status().events();
      if (!batch.status().running()) fmt::print("batch isolation: the run ended before the load\n");
    }  // each job stops its run between two users as it goes
    auto median = [](std::vector<double> v) {
      std::sort(v.begin(), v.end());
      return v[v.size() / 2];
    };
    fmt::print(
        "batch isolation: p99 {:.0f} us without, {:.0f} us with the batch job ({:.2f}x, medians "
        "of 3 alternating rounds: {:.2f}x {:.2f}x {:.2f}x); {} events folded meanwhile\n",
        median(quiet), median(busy), median(busy) / median(quiet), busy[0] / quiet[0],
        busy[1] / quiet[1], busy[2] / quiet[2], batch_events);
  }

  // Graceful shutdown (SIGTERM): every resident actor saves its snapshot
  // and stops; how long that takes bounds --shutdown-timeout-ms.
  gateway.reset();
  registry = std::make_unique<actors::Registry>(*system, *store, registry_options);
  register_users(*registry, memory_users);
  auto shutdown = registry->shutdown(std::chrono::minutes(5));
  fmt::print(
      "shutdown: {} of {} resident actors snapshotted and stopped in {} ms ({:.1f} us each)\n",
      shutdown.actors_stopped, shutdown.actors, shutdown.took.count(),
      1000.0 * static_cast<double>(shutdown.took.count()) /
          static_cast<double>(std::max<size_t>(1, shutdown.actors)));
  registry.reset();
  system.reset();
  natsSubscription_Destroy(sub);
  natsConnection_Destroy(responder);
  return 0;
}

int main(int argc, char** argv) {
  return bench::guarded_main("crud_bench", run, argc, argv);
}
