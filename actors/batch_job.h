// BatchJob: the behavior model's batch pass (issue #5). It refolds users'
// logs into their daily FeatureSnapshot series (projections/feature_series.h),
// fits the behavior-mode clusters over every user with tracking on, stores
// the model as node meta "cluster-model" (the online path reads it), and
// writes each tracked user's snapshot as of the run, clustered.
//
// Isolated from interactive traffic: it runs on its own thread, never on the
// actors' scheduler, at a lower CPU priority (nice), limited to a number of
// events per second; its writes are not synced. Users it reads may be
// written meanwhile: it sees each user's log as it is when read.
//
// Full runs replay every user; incremental runs refold only users with
// events in the feed since the last run's position (kept as node meta
// "batch"), and take the others' mode features from their stored snapshot.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "events/event_store.h"
#include "projections/behavior_clusters.h"
#include "schema/commands.pb.h"

namespace coach::actors {

struct BatchOptions {
  // 0: no limit. The default replays 100k users x 200 events in ~14 min
  // and costs interactive p99 under 10% on 2 cores (bench/crud_bench:
  // 1.08x at 25k/s, 1.3-1.5x at 100k-400k/s).
  double max_events_per_second = 25'000;
  int nice = 19;  // CPU niceness of the job's thread: the lowest priority
  // Incremental runs start on their own this often; zero: only on request.
  std::chrono::minutes every{0};
  projections::ClusterOptions clusters;
};

class BatchJob {
 public:
  BatchJob(events::EventStore& store, BatchOptions options);
  ~BatchJob();  // stops a run in progress (between users) and joins
  BatchJob(const BatchJob&) = delete;
  BatchJob& operator=(const BatchJob&) = delete;

  // One run in the calling thread (benchmarks, tools). The run's error, if
  // any, is also in the report.
  Result<v1::BatchReport> run(bool full, std::chrono::system_clock::time_point now);
  // Starts a run on the job's thread; conflict when one is going.
  Status start(bool full);
  v1::BatchStatus status() const;
  // Blocks until no run is going (tests).
  void wait_idle() const;

 private:
  Result<v1::BatchReport> run_locked(bool full, std::chrono::system_clock::time_point now);
  void loop();
  void throttle(std::chrono::steady_clock::time_point started);

  events::EventStore& store_;
  BatchOptions options_;
  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  bool stopping_ = false;
  bool requested_ = false, requested_full_ = false;
  bool running_ = false;
  uint64_t runs_ = 0;
  v1::BatchReport last_;
  std::atomic<uint64_t> users_total_{0}, users_done_{0}, events_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// The node meta values the batch job writes.
inline constexpr std::string_view kBatchMeta = "batch";

}  // namespace coach::actors
