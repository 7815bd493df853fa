// Event store benchmark: raw RocksDB synced writes beside coach's append
// (group commit) and replay, in one run on one disk.
//
//   build/bench/event_store_bench [--dir DIR] [--seconds S]
//   build/bench/event_store_bench --erase 100000   (erase_user p50/p99 only)
//   build/bench/event_store_bench --replication    (the replicated log only)
//
// Prints one line per figure; the ratios compare coach's append with the raw
// synced WriteBatch of 100 events, the best a single writer can do.
//
// Two ways to append: "blocking" is one OS thread per appender, each waiting
// in EventStore::append; "async" is N appenders with one append in flight
// each, driven by 2 client threads through append_async, the way CAF's
// scheduler drives user actors in coachd.
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <fmt/core.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "events/codec.h"
#include "events/envelope.h"
#include "events/event_store.h"
#include "events/keys.h"
#include "projections/user_state.h"
#ifdef COACH_BENCH_REPLICATION
#include "adapters/jetstream_log.h"
#include "tests/processes.h"
#endif

using namespace coach;
using Steady = std::chrono::steady_clock;

namespace {

v1::TaskEvent sample_event(const Uuid& user, uint64_t sequence) {
  v1::TaskEvent event;
  event.set_task_id(new_uuid_string());
  auto* created = event.mutable_task_created()->mutable_fields();
  created->set_title("Write the quarterly report draft");
  created->set_category("writing");
  created->set_priority(2);
  created->set_estimated_minutes(90);
  *created->mutable_due_at() = coach::to_timestamp(coach::Clock::now());
  events::stamp_envelope(event, user, sequence, coach::Clock::now());
  return event;
}

const events::SecretKey& bench_key() {
  static const auto key = events::SecretKey::random();
  return key;
}

std::filesystem::path fresh_dir(const std::filesystem::path& root, const std::string& name) {
  auto dir = root / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

double seconds_since(Steady::time_point start) {
  return std::chrono::duration<double>(Steady::now() - start).count();
}

// Synced raw RocksDB writes of `per_batch` events each; returns events/s.
double raw_rate(const std::filesystem::path& dir, size_t per_batch, double seconds,
                const std::string& value) {
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* db = nullptr;
  if (!rocksdb::DB::Open(options, dir.string(), &db).ok()) return 0;
  rocksdb::WriteOptions sync;
  sync.sync = true;
  auto user = Uuid::random();
  uint64_t sequence = 0;
  auto start = Steady::now();
  while (seconds_since(start) < seconds) {
    rocksdb::WriteBatch batch;
    for (size_t i = 0; i < per_batch; ++i)
      batch.Put(events::keys::event_key(user, ++sequence), value);
    db->Write(sync, &batch);
  }
  double rate = static_cast<double>(sequence) / seconds_since(start);
  delete db;
  return rate;
}

struct AppendFigures {
  double events_per_second = 0;
  double appends_per_group = 0;
  double write_micros_per_group = 0;  // inside RocksDB's synced Write
};

AppendFigures figures(uint64_t events, double elapsed, const events::StoreStats& stats) {
  double groups = static_cast<double>(std::max<uint64_t>(1, stats.groups));
  return {static_cast<double>(events) / elapsed, static_cast<double>(stats.appends) / groups,
          static_cast<double>(stats.write_micros) / groups};
}

// `threads` appenders, each on its own user, `per_append` events a call.
AppendFigures coach_append_rate(const std::filesystem::path& dir, int threads, size_t per_append,
                                double seconds) {
  events::StoreOptions options;
  options.path = dir.string();
  options.master_key = bench_key();
  auto store = events::EventStore::open(options);
  if (!store) {
    fmt::print(stderr, "open failed: {}\n", store.error().message);
    std::exit(1);
  }
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> appended{0};
  std::vector<std::thread> workers;
  auto start = Steady::now();
  for (int t = 0; t < threads; ++t)
    workers.emplace_back([&] {
      auto user = Uuid::random();
      uint64_t version = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        std::vector<v1::TaskEvent> batch;
        for (size_t i = 0; i < per_append; ++i)
          batch.push_back(sample_event(user, version + 1 + i));
        auto r = (*store)->append(user, version, batch);
        if (!r) {
          fmt::print(stderr, "append failed: {}\n", r.error().message);
          std::exit(1);
        }
        version = r->last_sequence;
        appended.fetch_add(per_append, std::memory_order_relaxed);
      }
    });
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& w : workers) w.join();
  double elapsed = seconds_since(start);
  return figures(appended.load(), elapsed, (*store)->stats());
}

// A tiny work queue: the stand-in for CAF's scheduler in the async runs.
class ClientPool {
 public:
  void push(int appender) {
    {
      std::lock_guard lock(mu_);
      ready_.push_back(appender);
    }
    cv_.notify_one();
  }
  // -1 once stopped.
  int pop() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return stop_ || !ready_.empty(); });
    if (stop_) return -1;
    int a = ready_.front();
    ready_.pop_front();
    return a;
  }
  void stop() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<int> ready_;
  bool stop_ = false;
};

// `appenders` logical appenders, one append in flight each, on 2 threads.
AppendFigures coach_async_rate(const std::filesystem::path& dir, int appenders, size_t per_append,
                               double seconds,
                               std::shared_ptr<events::LogReplica> replica = nullptr) {
  events::StoreOptions options;
  options.path = dir.string();
  options.master_key = bench_key();
  options.replica = std::move(replica);
  auto opened = events::EventStore::open(options);
  if (!opened) std::exit(1);
  auto& store = **opened;
  std::vector<Uuid> users(appenders);
  std::vector<uint64_t> versions(appenders, 0);
  for (auto& u : users) u = Uuid::random();
  std::atomic<uint64_t> appended{0};
  std::atomic<int> in_flight{0};
  ClientPool pool;
  for (int a = 0; a < appenders; ++a) pool.push(a);
  auto start = Steady::now();
  std::vector<std::thread> clients;
  for (int t = 0; t < 2; ++t)
    clients.emplace_back([&] {
      for (int a; (a = pool.pop()) >= 0;) {
        std::vector<v1::TaskEvent> batch;
        for (size_t i = 0; i < per_append; ++i)
          batch.push_back(sample_event(users[a], versions[a] + 1 + i));
        ++in_flight;
        store.append_async(users[a], versions[a], batch, [&, a](Result<events::AppendResult> r) {
          if (!r) {
            fmt::print(stderr, "append failed: {}\n", r.error().message);
            std::exit(1);
          }
          versions[a] = r->last_sequence;
          appended.fetch_add(per_append, std::memory_order_relaxed);
          --in_flight;
          pool.push(a);
        });
      }
    });
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  pool.stop();
  for (auto& c : clients) c.join();
  double elapsed = seconds_since(start);
  while (in_flight > 0) std::this_thread::yield();
  return figures(appended.load(), elapsed, store.stats());
}

// A raw RocksDB scan of a closed store's events family: values touched,
// nothing decrypted or decoded. Events per second.
double raw_scan_rate(const std::filesystem::path& dir) {
  rocksdb::Options options;
  std::vector<std::string> names;
  if (!rocksdb::DB::ListColumnFamilies(options, dir.string(), &names).ok()) return 0;
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const auto& name : names) families.emplace_back(name, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  if (!rocksdb::DB::OpenForReadOnly(options, dir.string(), families, &handles, &db).ok()) return 0;
  size_t events_index =
      std::find(names.begin(), names.end(), std::string(events::keys::kEventsFamily)) -
      names.begin();
  auto start = Steady::now();
  uint64_t count = 0, bytes = 0;
  {
    std::unique_ptr<rocksdb::Iterator> it(
        db->NewIterator(rocksdb::ReadOptions(), handles[events_index]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      bytes += it->value().size() + static_cast<uint8_t>(it->value()[0]);
      ++count;
    }
  }
  double rate = static_cast<double>(count) / seconds_since(start);
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  delete db;
  return bytes > 0 ? rate : 0;
}

// Writes `users` streams of `per_user` events (unsynced), then reads them back.
void replay_rates(const std::filesystem::path& dir, int users, int per_user) {
  events::StoreOptions options;
  options.path = dir.string();
  options.master_key = bench_key();
  options.sync = false;
  auto store = events::EventStore::open(options);
  std::vector<Uuid> ids;
  for (int u = 0; u < users; ++u) {
    ids.push_back(Uuid::random());
    for (int v = 0; v < per_user; v += 100) {
      std::vector<v1::TaskEvent> batch;
      for (int i = 0; i < 100; ++i) batch.push_back(sample_event(ids.back(), v + 1 + i));
      if (!(*store)->append(ids.back(), v, batch)) std::exit(1);
    }
  }
  (void)(*store)->flush();
  auto start = Steady::now();
  uint64_t read = 0;
  for (const auto& id : ids) read += (*store)->read(id)->size();
  double per_user_rate = static_cast<double>(read) / seconds_since(start);
  // What an actor's load does: read, decrypt, decode, and fold.
  start = Steady::now();
  uint64_t folded = 0;
  for (const auto& id : ids) {
    projections::UserState state;
    auto events = (*store)->read(id);
    if (!events) std::exit(1);
    for (const auto& event : *events) state.fold(event);
    folded += state.version;
  }
  double fold_rate = static_cast<double>(folded) / seconds_since(start);
  start = Steady::now();
  uint64_t fed = 0;
  for (uint64_t position = 1;;) {
    auto page = (*store)->read_feed(position, 10000);
    if (page->entries.empty()) break;
    fed += page->entries.size();
    position = page->next_position;
  }
  double feed_rate = static_cast<double>(fed) / seconds_since(start);
  (*store).reset();  // closed: the raw scan opens the same files
  double raw = raw_scan_rate(dir);
  fmt::print("raw rocksdb: scan of the events  {:>12.0f} events/s  (the same keys, one iterator)\n",
             raw);
  fmt::print(
      "replay: per-user read          {:>12.0f} events/s  ({} users x {} events, decoded)"
      "  ratio to raw scan {:.2f}\n",
      per_user_rate, users, per_user, per_user_rate / raw);
  fmt::print(
      "replay: read and fold          {:>12.0f} events/s  (into UserState, as a load)"
      "  ratio to raw scan {:.2f}\n",
      fold_rate, fold_rate / raw);
  fmt::print(
      "replay: all-users feed         {:>12.0f} events/s  ({} events)  ratio to raw scan "
      "{:.2f}\n",
      feed_rate, fed, feed_rate / raw);
}

// Erasure in a store of `users` users (2 events each): the p50/p99 of
// erase_user, which flushes every memtable, compacts the user's key range
// and deletes the obsolete files before it returns, beside a plain synced
// append in the same store.
void erase_cost(const std::filesystem::path& dir, int users, int erasures) {
  events::StoreOptions options;
  options.path = dir.string();
  options.master_key = bench_key();
  options.sync = false;  // filling is not what is measured
  auto store = std::move(*events::EventStore::open(options));
  std::vector<Uuid> ids;
  for (int u = 0; u < users; ++u) {
    ids.push_back(Uuid::random());
    if (!store->append(ids.back(), 0, {sample_event(ids.back(), 1), sample_event(ids.back(), 2)}))
      std::exit(1);
  }
  (void)store->flush();
  (void)store->compact();
  store.reset();
  options.sync = true;
  store = std::move(*events::EventStore::open(options));
  auto percentile = [](std::vector<double> v, double p) {
    std::sort(v.begin(), v.end());
    return v[static_cast<size_t>(p * static_cast<double>(v.size() - 1))];
  };
  std::vector<double> erase_ms, append_ms;
  for (int i = 0; i < erasures; ++i) {
    auto start = Steady::now();
    if (!store->erase_user(ids[static_cast<size_t>(i) * 7], std::chrono::system_clock::now()))
      std::exit(1);
    erase_ms.push_back(seconds_since(start) * 1000);
    const auto& other = ids[static_cast<size_t>(i) * 7 + 1];
    start = Steady::now();
    if (!store->append(other, 2, {sample_event(other, 3)})) std::exit(1);
    append_ms.push_back(seconds_since(start) * 1000);
  }
  fmt::print(
      "erase_user in a store of {} users: p50 {:.1f} ms, p99 {:.1f} ms over {} erasures; a synced "
      "append there: p50 {:.2f} ms (erase/append p50 {:.0f}x)\n",
      users, percentile(erase_ms, 0.5), percentile(erase_ms, 0.99), erasures,
      percentile(append_ms, 0.5), percentile(erase_ms, 0.5) / percentile(append_ms, 0.5));
}

}  // namespace

#ifdef COACH_BENCH_REPLICATION
std::shared_ptr<events::LogReplica> jetstream_log(const std::string& url, const std::string& creds,
                                                  int replicas, const std::string& writer) {
  auto options = test::jetstream_log_options(url, creds, writer, replicas);
  auto log = actors::JetStreamLog::open(options);
  if (!log) {
    fmt::print(stderr, "no JetStream log: {}\n", log.error().message);
    std::exit(1);
  }
  return std::shared_ptr<events::LogReplica>(std::move(*log));
}

// Appends through the replicated log (JetStream R1 on one nats-server, R3
// on a 3-server cluster) against the same appends unreplicated, in this
// run; then how fast a second store catches up from the log.
void replication_rates(const std::string& root, double seconds) {
  std::map<std::string, double> plain;
  for (int n : {1, 64})
    plain[std::to_string(n)] =
        coach_async_rate(fresh_dir(root, fmt::format("plain-{}", n)), n, 1, seconds)
            .events_per_second;
  auto run = [&](const char* where, const std::string& url, const std::string& creds,
                 int replicas) {
    for (int n : {1, 64}) {
      auto dir = fresh_dir(root, fmt::format("{}-{}", where, n));
      auto f =
          coach_async_rate(dir, n, 1, seconds,
                           jetstream_log(url, creds, replicas, fmt::format("w-{}-{}", where, n)));
      fmt::print(
          "replicated append ({}, R{}): {:>2} appenders x 1 event {:>9.0f} events/s  ratio to "
          "unreplicated {:.2f}  appends per group {:>4.1f}\n",
          where, replicas, n, f.events_per_second, f.events_per_second / plain[std::to_string(n)],
          f.appends_per_group);
    }
  };
  {
    test::NatsServer one(fresh_dir(root, "one").string());
    run("one server", one.url(), one.creds(actors::BusRole::coachd), 1);
  }
  test::NatsCluster cluster(fresh_dir(root, "cluster").string());
  auto creds = cluster.creds(actors::BusRole::coachd);
  run("3-server cluster", cluster.url(), creds, 3);
  // Catch-up: a fresh store reads every group the 64-appender run wrote.
  events::StoreOptions options;
  options.path = fresh_dir(root, "catch-up").string();
  options.master_key = bench_key();
  options.replica = jetstream_log(cluster.url(), creds, 3, "reader");
  auto start = Steady::now();
  auto store = events::EventStore::open(options);
  if (!store) std::exit(1);
  double elapsed = seconds_since(start);
  auto stats = (*store)->stats();
  fmt::print(
      "catch-up from the log (3-server cluster): {} groups, {} events in {:.2f} s = {:.0f} "
      "events/s, {:.0f} groups/s\n",
      stats.caught_up_groups, stats.caught_up_events, elapsed,
      static_cast<double>(stats.caught_up_events) / elapsed,
      static_cast<double>(stats.caught_up_groups) / elapsed);
}
#endif

int main(int argc, char** argv) {
  CLI::App app{"coach event store benchmark"};
  std::string root = "build/bench-data";
  double seconds = 3;
  app.add_option("--dir", root, "scratch directory (on the disk to measure)")
      ->capture_default_str();
  app.add_option("--seconds", seconds, "duration of each write measurement")->capture_default_str();
  int erase_users = 0;
  app.add_option("--erase", erase_users,
                 "only the cost of erase_user in a store of this many users (e.g. 100000)");
  bool replication = false;
  app.add_flag("--replication", replication,
               "only appends through the replicated log (JetStream R1 and R3) and catch-up");
  CLI11_PARSE(app, argc, argv);
  if (replication) {
#ifdef COACH_BENCH_REPLICATION
    replication_rates(root, seconds);
    std::filesystem::remove_all(root);
    return 0;
#else
    fmt::print(stderr, "built without the test process helpers: no --replication\n");
    return 1;
#endif
  }
  if (erase_users > 0) {
    erase_cost(fresh_dir(root, "erase"), erase_users, std::min(200, erase_users / 8));
    std::filesystem::remove_all(root);
    return 0;
  }

  auto sample_user = Uuid::random();
  auto value = *events::encode_event(sample_event(sample_user, 1), events::kDefaultMaxEventBytes,
                                     bench_key(), sample_user, 1);
  fmt::print("event store benchmark: {} s per figure, {}-byte stored events, dir {}\n", seconds,
             value.size(), root);
  double single = raw_rate(fresh_dir(root, "raw-single"), 1, seconds, value);
  fmt::print("raw rocksdb: synced single put   {:>12.0f} events/s\n", single);
  double batch = raw_rate(fresh_dir(root, "raw-batch"), 100, seconds, value);
  fmt::print("raw rocksdb: synced batch of 100 {:>12.0f} events/s\n", batch);
  auto report = [&](const char* how, int appenders, size_t per_append, AppendFigures f) {
    fmt::print(
        "coach append {:>8}: {:>2} appenders x {:>2} event{} {:>9.0f} events/s  ratio to raw batch "
        "{:.2f}  appends per fsync {:>4.1f}  write {:>4.0f} us/fsync\n",
        how, appenders, per_append, per_append == 1 ? " " : "s", f.events_per_second,
        f.events_per_second / batch, f.appends_per_group, f.write_micros_per_group);
  };
  for (size_t per_append : {1, 10})
    for (int n : {1, 8, 64})
      report("blocking", n, per_append,
             coach_append_rate(fresh_dir(root, fmt::format("block-{}-{}", n, per_append)), n,
                               per_append, seconds));
  for (size_t per_append : {1, 10})
    for (int n : {1, 8, 64})
      report("async", n, per_append,
             coach_async_rate(fresh_dir(root, fmt::format("async-{}-{}", n, per_append)), n,
                              per_append, seconds));
  replay_rates(fresh_dir(root, "replay"), 1000, 1000);
  std::filesystem::remove_all(root);
  return 0;
}
