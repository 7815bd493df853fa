// The behavior batch job at scale (issue #5): N simulated users of the six
// archetypes with 200 events each are written to a fresh store, then one full
// batch run replays them all, writes their daily feature series, fits the
// behavior modes and writes every user's clustered snapshot. Prints the
// load, replay and fit figures and the per-core fold rate beside them.
//
//   build/bench/batch_bench [--users 100000] [--events-per-user 200]
#include <fmt/core.h>
#include <CLI/CLI.hpp>
#include <atomic>
#include <filesystem>
#include <thread>

#include "actors/batch_job.h"
#include "events/event_store.h"
#include "projections/feature_series.h"
#include "simulator.h"

using namespace coach;
using Steady = std::chrono::steady_clock;

namespace {

double seconds_since(Steady::time_point start) {
  return std::chrono::duration<double>(Steady::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"coach batch job benchmark"};
  int users = 100000;
  size_t per_user = 200;
  std::string root = "build/bench-data/batch";
  app.add_option("--users", users)->capture_default_str();
  app.add_option("--events-per-user", per_user)->capture_default_str();
  app.add_option("--dir", root, "scratch directory (removed first)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  std::filesystem::remove_all(root);
  std::filesystem::create_directories(root);

  events::StoreOptions options;
  options.path = root + "/events";
  options.master_key = events::SecretKey::random();
  options.sync = false;  // a benchmark load; the node syncs
  auto store = events::EventStore::open(options);
  if (!store) {
    fmt::print(stderr, "cannot open store: {}\n", store.error().message);
    return 1;
  }
  sim::SimOptions sim_options;
  sim_options.registered = true;
  sim_options.days = 120;  // long enough that every archetype reaches the cut
  sim_options.max_events = per_user;

  // Load: simulate and append (simulation time included; it is not the batch).
  auto start = Steady::now();
  std::atomic<int64_t> pending{0};
  uint64_t events = 0;
  std::vector<std::vector<v1::TaskEvent>> sample;  // a few streams for the in-memory fold rate
  for (int u = 0; u < users; ++u) {
    auto user = sim::simulate(u % 6, static_cast<uint64_t>(u) * 2654435761u, sim_options);
    events += user.events.size();
    if (u < 2000) sample.push_back(user.events);
    while (pending > 4096) std::this_thread::yield();
    ++pending;
    (*store)->append_async(*Uuid::parse(user.events.front().user_id()), 0, user.events,
                           [&](Result<events::AppendResult> r) {
                             if (!r) fmt::print(stderr, "append: {}\n", r.error().message);
                             --pending;
                           });
  }
  while (pending > 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  (void)(*store)->flush();
  double load = seconds_since(start);
  fmt::print(
      "batch benchmark: {} users, {} events ({:.0f} per user), encrypted store, 1 batch thread\n",
      users, events, double(events) / users);
  fmt::print("load (simulate + append):   {:>8.1f} s  {:>10.0f} events/s\n", load, events / load);

  // The fold alone, in memory, one core: what the batch does per event
  // besides reading and decrypting.
  start = Steady::now();
  uint64_t folded = 0, snapshots = 0;
  const auto& model = projections::ProcrastinationModel::builtin();
  for (int repeat = 0; repeat < 3; ++repeat)
    for (const auto& stream : sample) {
      projections::FeatureSeries series(stream.front().user_id(), model);
      std::vector<v1::FeatureSnapshot> daily;
      for (const auto& e : stream) series.fold(e, daily);
      folded += stream.size();
      snapshots += daily.size();
    }
  double fold = seconds_since(start);
  fmt::print(
      "fold + daily snapshots:     {:>8.2f} s  {:>10.0f} events/s per core (in memory, {} "
      "snapshots)\n",
      fold, folded / fold, snapshots);

  actors::BatchOptions batch_options;
  batch_options.max_events_per_second = 0;  // measure the job itself, unthrottled
  actors::BatchJob job(**store, batch_options);
  start = Steady::now();
  auto report = job.run(true, std::chrono::system_clock::now());
  double batch = seconds_since(start);
  if (!report) {
    fmt::print(stderr, "batch failed: {}\n", report.error().message);
    return 1;
  }
  fmt::print("full batch run:             {:>8.1f} s  {:>10.0f} events/s ({:.0f} users/s)\n", batch,
             report->events() / batch, report->users() / batch);
  fmt::print("  users {}, tracked {}, events {}, snapshots written {}\n", report->users(),
             report->users_tracked(), report->events(), report->snapshots());
  fmt::print("  schedules planned {}: {:.1f} us per user\n", report->plans(),
             report->plans() ? report->plan_seconds() / report->plans() * 1e6 : 0.0);
  fmt::print("  behavior modes: k = {}, silhouette {:.3f} (sample of 2,000; fit on 20,000)\n",
             report->clusters(), report->silhouette());
  fmt::print("  ratio to the in-memory fold: {:.2f} (the rest is reading, decrypting, writing)\n",
             (report->events() / batch) / (folded / fold));
  start = Steady::now();
  auto incremental = job.run(false, std::chrono::system_clock::now());
  fmt::print("incremental run, no news:   {:>8.1f} s  ({} users refolded, {} clustered)\n",
             seconds_since(start), incremental ? incremental->users() : 0,
             incremental ? incremental->users_tracked() : 0);
  return 0;
}
