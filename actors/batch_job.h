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
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "events/event_store.h"
#include "projections/behavior_clusters.h"
#include "projections/metrics_report.h"
#include "schema/commands.pb.h"

namespace coach::actors {

struct BatchOptions {
  // 0: no limit. The default replays 100k users x 200 events in ~14 min
  // and costs interactive p99 under 10% on 2 cores (bench/crud_bench:
  // 1.04-1.06x at 25k/s with idle_class; earlier, without it, 1.08x at
  // 25k/s and 1.3-1.5x at 100k-400k/s).
  double max_events_per_second = 25'000;
  int nice = 19;  // CPU niceness of the job's thread: the lowest priority
  // And Linux's SCHED_IDLE class for it: it runs only on CPU time nothing
  // else wants. Nice 19 alone kept CRUD's p99 at 1.35-1.5x of idle under
  // the EEVDF scheduler (Linux 6.18, crud_bench); SCHED_IDLE at 1.06x. The
  // cost: on a node that is busy for good, the batch waits for good.
  bool idle_class = true;
  // Incremental runs start on their own this often; zero: only on request.
  std::chrono::minutes every{0};
  projections::ClusterOptions clusters;
  // Jobs sharing one turn run one at a time (a node's partitions: the
  // node's batch load stays one thread at max_events_per_second). Null
  // (default): the job runs whenever it is due.
  std::shared_ptr<std::timed_mutex> turn;
};

// What admin.batch.run, admin.batch.status and the ops view drive: one
// job, or a cluster node's partitions' jobs together (BatchJobs).
class BatchControl {
 public:
  virtual ~BatchControl() = default;
  // Starts a run on the job's thread; conflict when one is going.
  virtual Status start(bool full) = 0;
  virtual v1::BatchStatus status() const = 0;
  // analytics.metrics: the success metrics over every user as of the last
  // run (projections/metrics_report.h); groups under
  // max(query.min_users, kMetricsMinUsers) left out. unavailable before a
  // full run since the node started: incremental runs after one update
  // them from each user's carry, refolding only users with new events.
  virtual Result<v1::MetricsReport> metrics(const v1::GetMetrics& query) const = 0;
};

// The fewest users a group of analytics.metrics may have.
inline constexpr uint32_t kMetricsMinUsers = 5;

class BatchJob : public BatchControl {
 public:
  BatchJob(events::EventStore& store, BatchOptions options);
  ~BatchJob();  // stops a run in progress (between users) and joins
  BatchJob(const BatchJob&) = delete;
  BatchJob& operator=(const BatchJob&) = delete;

  // One run in the calling thread (benchmarks, tools). The run's error, if
  // any, is also in the report.
  Result<v1::BatchReport> run(bool full, std::chrono::system_clock::time_point now);
  Status start(bool full) override;
  v1::BatchStatus status() const override;
  Result<v1::MetricsReport> metrics(const v1::GetMetrics& query) const override;
  // The last run's metrics, null before a full one.
  std::shared_ptr<const projections::MetricsReportBuilder> metrics_builder() const;
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
  std::shared_ptr<const projections::MetricsReportBuilder> metrics_;  // of the last run
  // Each user's part of the metrics as of the last run (the job's thread
  // only; a few KB per user), and whether a full run made them all.
  std::unordered_map<Uuid, projections::ReportCarry, UuidHash> carries_;
  bool carried_ = false;
  std::atomic<uint64_t> users_total_{0}, users_done_{0}, events_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// A cluster node's batch: one BatchJob per partition it serves, each
// folding that partition's store (its users, its cluster model), taking
// turns so that the node runs one at a time.
class BatchJobs : public BatchControl {
 public:
  explicit BatchJobs(BatchOptions options);  // options.turn is made here
  ~BatchJobs();
  // Starts partition p's job over `store` (open until remove(p) returns).
  void add(uint32_t partition, events::EventStore& store);
  // Stops p's run in progress between two users and joins its thread.
  void remove(uint32_t partition);
  // Starts a run of every partition's job; conflict when one is going.
  Status start(bool full) override;
  // The jobs' figures summed; last: the runs' reports summed, their
  // first error, started_at the earliest, finished_at the latest.
  v1::BatchStatus status() const override;
  // Over the partitions this node serves (their last full runs merged),
  // which the report lists (MetricsReport.partitions).
  Result<v1::MetricsReport> metrics(const v1::GetMetrics& query) const override;

 private:
  BatchOptions options_;
  mutable std::mutex mu_;
  std::map<uint32_t, std::unique_ptr<BatchJob>> jobs_;
};

// The node meta values the batch job writes.
inline constexpr std::string_view kBatchMeta = "batch";

}  // namespace coach::actors
