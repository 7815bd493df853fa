#include "actors/batch_job.h"

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <unordered_set>

#include "actors/user_actor.h"
#include "events/envelope.h"
#include "projections/feature_series.h"
#include "projections/schedule_book.h"
#include "wire/log.h"

namespace coach::actors {
namespace {

using SystemClock = std::chrono::system_clock;
using Snapshots = std::vector<v1::FeatureSnapshot>;
constexpr size_t kFeedPage = 4096;

// Adds the users with events in the feed after `from` (a position already
// seen) up to `head`.
Status add_users_since(const events::EventStore& store, uint64_t from, uint64_t head,
                       std::unordered_set<Uuid, UuidHash>& users) {
  for (uint64_t position = from + 1; position <= head;) {
    auto page = store.read_feed(position, kFeedPage);
    if (!page) return page.error();
    if (page->entries.empty()) break;
    for (const auto& entry : page->entries)
      if (auto user = Uuid::parse(entry.event.user_id())) users.insert(*user);
    position = page->next_position;
  }
  return Ok{};
}

projections::ModeFeatures mode_features(const v1::FeatureSnapshot& snapshot) {
  projections::ModeFeatures x{};
  for (size_t i = 0; i < x.size() && static_cast<int>(i) < snapshot.mode_features_size(); ++i)
    x[i] = snapshot.mode_features(static_cast<int>(i));
  return x;
}

}  // namespace

BatchJob::BatchJob(events::EventStore& store, BatchOptions options)
    : store_(store), options_(std::move(options)), thread_([this] { loop(); }) {}

BatchJob::~BatchJob() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  stop_ = true;
  changed_.notify_all();
  thread_.join();
}

Status BatchJob::start(bool full) {
  std::lock_guard lock(mu_);
  if (running_ || requested_)
    return make_error(Errc::conflict, "a batch run is already going; see admin.batch.status");
  requested_ = true;
  requested_full_ = full;
  changed_.notify_all();
  return Ok{};
}

v1::BatchStatus BatchJob::status() const {
  v1::BatchStatus out;
  std::lock_guard lock(mu_);
  out.set_running(running_ || requested_);
  out.set_users_total(users_total_);
  out.set_users_done(users_done_);
  out.set_events(events_);
  out.set_runs(runs_);
  *out.mutable_last() = last_;
  return out;
}

void BatchJob::wait_idle() const {
  std::unique_lock lock(mu_);
  changed_.wait(lock, [this] { return !running_ && !requested_; });
}

void BatchJob::loop() {
  // Lower this thread's CPU priority only (Linux: a thread id is a PID).
  setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), options_.nice);
  if (options_.idle_class) {
    sched_param idle{};  // priority 0: the only one SCHED_IDLE has
    pthread_setschedparam(pthread_self(), SCHED_IDLE, &idle);
  }
  std::unique_lock lock(mu_);
  while (!stopping_) {
    bool periodic = options_.every.count() > 0;
    auto woke = [this] { return stopping_ || requested_; };
    if (periodic) {
      if (!changed_.wait_for(lock, options_.every, woke))
        requested_ = true, requested_full_ = false;
    } else {
      changed_.wait(lock, woke);
    }
    if (stopping_) break;
    bool full = requested_full_;
    lock.unlock();
    (void)run(full, SystemClock::now());  // its outcome is in status().last
    lock.lock();
  }
}

Result<v1::BatchReport> BatchJob::run(bool full, SystemClock::time_point now) {
  {
    std::lock_guard lock(mu_);
    if (running_) return make_error(Errc::conflict, "a batch run is already going");
    running_ = true;
    requested_ = false;
    users_total_ = users_done_ = events_ = 0;
  }
  Result<v1::BatchReport> report = make_error(Errc::unavailable, "the batch run was stopped");
  {
    // Waits its turn (BatchOptions::turn), giving up when the job stops.
    std::unique_lock<std::timed_mutex> turn;
    if (options_.turn) {
      turn = std::unique_lock(*options_.turn, std::defer_lock);
      while (!stop_ && !turn.try_lock_for(std::chrono::milliseconds(100))) {
      }
    }
    if (!options_.turn || turn.owns_lock()) report = run_locked(full, now);
  }
  v1::BatchReport last = report ? *report : v1::BatchReport{};
  if (!report) last.set_error(report.error().message);
  *last.mutable_finished_at() = coach::to_timestamp(SystemClock::now());
  log_line(report ? LogLevel::info : LogLevel::error, "batch",
           report ? "batch run finished" : "batch run failed",
           {{"full", full},
            {"users", static_cast<int64_t>(last.users())},
            {"events", static_cast<int64_t>(last.events())},
            {"seconds", last.seconds()},
            {"error", last.error()}});
  {
    std::lock_guard lock(mu_);
    running_ = false;
    ++runs_;
    last_ = last;
  }
  changed_.notify_all();
  return report;
}

void BatchJob::throttle(std::chrono::steady_clock::time_point started) {
  if (options_.max_events_per_second <= 0) return;
  auto due = started + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                           std::chrono::duration<double>(static_cast<double>(events_) /
                                                         options_.max_events_per_second));
  if (due > std::chrono::steady_clock::now()) std::this_thread::sleep_until(due);
}

Result<v1::BatchReport> BatchJob::run_locked(bool full, SystemClock::time_point now) {
  auto started = std::chrono::steady_clock::now();
  v1::BatchReport report;
  *report.mutable_started_at() = coach::to_timestamp(now);
  uint64_t head = store_.stats().feed_head;
  report.set_feed_position(head);

  auto users = store_.users();
  if (!users) return users.error();
  std::unordered_set<Uuid, UuidHash> touched;
  auto checkpoint = store_.get_meta(kBatchMeta);
  if (!checkpoint) return checkpoint.error();
  v1::BatchReport previous;
  if (!*checkpoint || !previous.ParseFromString(**checkpoint)) full = true;
  if (!full) {
    if (auto s = add_users_since(store_, previous.feed_position(), head, touched); !s)
      return s.error();
  }
  report.set_full(full);
  users_total_ = users->size();

  const auto& model = projections::ProcrastinationModel::builtin();
  // The rates of the last full run: what the actors' task risks use now.
  auto stored_rates = stored_population(store_);
  Snapshots current;  // each tracked user's snapshot as of now, not yet clustered
  projections::PopulationTally population;  // of tracked users, in a full run
  // The success metrics over every user (issue 23): in a full run, and in
  // an incremental one after it, each user with new events carried anew
  // from their log, the others from the carry the last run left.
  bool with_metrics = full || carried_;
  projections::ReportOptions metric_options;
  metric_options.to = now;
  auto metrics = std::make_shared<projections::MetricsReportBuilder>(metric_options);
  auto carry_anew = [&](const Uuid& user, std::span<const v1::TaskEvent> log) {
    auto& carry = carries_[user] = projections::report_carry(log, now);
    metrics->add(user.to_string(), carry);
  };
  for (const auto& user : *users) {
    if (stop_) return make_error(Errc::unavailable, "the batch run was stopped");
    ++users_done_;
    if (!full && !touched.count(user)) {
      if (with_metrics) {
        if (auto carry = carries_.find(user); carry != carries_.end()) {
          metrics->add(user.to_string(), carry->second);
        } else if (auto log = store_.read(user); log) {  // not there last time
          carry_anew(user, *log);
        }
      }
      auto stored = store_.features_as_of(user, now);
      if (stored && *stored && (*stored)->mode_features_size() > 0)
        current.push_back(std::move(**stored));
      continue;
    }
    auto log = store_.read(user);
    if (!log) {  // erased meanwhile, or never wrote an event
      carries_.erase(user);
      continue;
    }
    projections::FeatureSeries series(user.to_string(), model);
    series.set_population(stored_rates);
    Snapshots daily;
    for (const auto& event : *log) series.fold(event, daily);
    if (with_metrics) carry_anew(user, *log);
    series.finish(now, daily);
    for (auto& snapshot : daily) snapshot.set_id(new_uuid_string());
    if (series.state().signals) {
      if (full) population.add_user(series.state().tasks, now, series.state().tracking_since);
      current.push_back(projections::feature_snapshot(series.state(), now, model));
      current.back().set_user_id(user.to_string());
      if (auto s = store_.put_features(user, daily); !s) return s.error();
      report.set_snapshots(report.snapshots() + daily.size());
    } else if (auto s = store_.clear_features(user); !s) {
      return s.error();  // tracking is off: nothing learned is kept
    }
    if (series.state().profile.registered) {
      // Each user's plan (issue #6), timed: the per-user planning cost of a
      // batch run. Served plans are computed on request; this one checks
      // that every stored user can be planned.
      auto planning = std::chrono::steady_clock::now();
      if (auto plan = projections::schedule_view(series.state(), 0, now); plan)
        report.set_plans(report.plans() + 1);
      report.set_plan_seconds(
          report.plan_seconds() +
          std::chrono::duration<double>(std::chrono::steady_clock::now() - planning).count());
    }
    report.set_users(report.users() + 1);
    events_ += log->size();
    throttle(started);
  }
  report.set_events(events_);
  report.set_users_tracked(current.size());
  // Only a full run sees every tracked user; an incremental one keeps the
  // last full run's rates.
  if (full)
    if (auto s = store_.put_meta(kPopulationRatesMeta, population.rates(now).SerializeAsString());
        !s)
      return s.error();

  std::vector<projections::ModeFeatures> points;
  // Users without enough history are neither fitted nor labelled.
  for (const auto& snapshot : current)
    if (projections::has_mode_history(snapshot.completions()))
      points.push_back(mode_features(snapshot));
  std::optional<projections::ClusterModel> modes;
  if (points.size() > static_cast<size_t>(options_.clusters.k_min)) {
    auto fitted = projections::ClusterModel::fit(points, options_.clusters);
    if (!fitted) return fitted.error();
    modes = std::move(*fitted);
    auto state = modes->to_state();
    state.set_version("modes-" + coach::format_time(now));
    *state.mutable_fitted_at() = coach::to_timestamp(now);
    if (auto s = store_.put_meta(kClusterModelMeta, state.SerializeAsString()); !s)
      return s.error();
    report.set_clusters(modes->k());
    report.set_silhouette(modes->silhouette());
  }
  for (size_t i = 0; i < current.size(); ++i) {
    auto& snapshot = current[i];
    auto features = mode_features(snapshot);
    int cluster = modes && projections::has_mode_history(snapshot.completions())
                      ? modes->assign(features)
                      : -1;
    snapshot.set_mode_cluster(cluster);
    snapshot.set_mode_name(
        cluster >= 0 ? modes->name_for(cluster, features, snapshot.procrastination_score()) : "");
    snapshot.set_id(new_uuid_string());
    *snapshot.mutable_created_at() = coach::to_timestamp(now);
    auto user = Uuid::parse(snapshot.user_id());
    if (!user) continue;
    if (auto s = store_.put_features(*user, {snapshot}); !s && s.error().code != Errc::not_found)
      return s.error();
    report.set_snapshots(report.snapshots() + 1);
  }
  report.set_seconds(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  *report.mutable_finished_at() = coach::to_timestamp(SystemClock::now());
  if (auto s = store_.put_meta(kBatchMeta, report.SerializeAsString()); !s) return s.error();
  if (with_metrics) {
    // Users gone since (erased) take their carry with them.
    std::unordered_set<Uuid, UuidHash> present(users->begin(), users->end());
    std::erase_if(carries_, [&](const auto& entry) { return !present.count(entry.first); });
    carried_ = true;
    std::lock_guard lock(mu_);
    metrics_ = std::move(metrics);
  }
  return report;
}

std::shared_ptr<const projections::MetricsReportBuilder> BatchJob::metrics_builder() const {
  std::lock_guard lock(mu_);
  return metrics_;
}

namespace {

Result<v1::MetricsReport> report_of(const projections::MetricsReportBuilder& builder,
                                    const v1::GetMetrics& query) {
  auto to = builder.options().to;
  if (query.has_from() && query.from().seconds() <= 0)
    return make_error(Errc::invalid_argument, "from must be a time after 1970");
  // Compared in seconds: a far future would overflow the clock's nanoseconds.
  if (query.has_from() && query.from().seconds() > to_timestamp(to).seconds())
    return make_error(Errc::invalid_argument,
                      "from is after the last full batch run (" + coach::format_time(to) + ")");
  auto from =
      query.has_from() ? from_timestamp(query.from()) : to - std::chrono::hours(24 * 7 * 12);
  return builder.build(from, std::max(query.min_users(), kMetricsMinUsers));
}

Status no_full_run() {
  return make_error(Errc::unavailable,
                    "no full batch run since this node started: run one (admin.batch.run with "
                    "full, coachctl ops batch --full)");
}

}  // namespace

Result<v1::MetricsReport> BatchJob::metrics(const v1::GetMetrics& query) const {
  auto builder = metrics_builder();
  if (!builder) return no_full_run().error();
  return report_of(*builder, query);
}

BatchJobs::BatchJobs(BatchOptions options) : options_(std::move(options)) {
  options_.turn = std::make_shared<std::timed_mutex>();
}

BatchJobs::~BatchJobs() = default;  // each job stops between two users and joins

void BatchJobs::add(uint32_t partition, events::EventStore& store) {
  auto job = std::make_unique<BatchJob>(store, options_);
  std::lock_guard lock(mu_);
  jobs_[partition] = std::move(job);
}

void BatchJobs::remove(uint32_t partition) {
  std::unique_ptr<BatchJob> job;
  {
    std::lock_guard lock(mu_);
    auto it = jobs_.find(partition);
    if (it == jobs_.end()) return;
    job = std::move(it->second);
    jobs_.erase(it);
  }
  // Destroyed outside the lock: status() need not wait for the join.
}

Status BatchJobs::start(bool full) {
  std::lock_guard lock(mu_);
  if (jobs_.empty()) return make_error(Errc::unavailable, "this node serves no partition now");
  for (const auto& [partition, job] : jobs_)
    if (job->status().running())
      return make_error(Errc::conflict, "a batch run is already going; see admin.batch.status");
  for (const auto& [partition, job] : jobs_) (void)job->start(full);
  return Ok{};
}

namespace {

// Adds one partition's last run to the node's.
void add_report(v1::BatchReport& sum, const v1::BatchReport& one) {
  if (one.started_at().seconds() == 0) return;  // never ran
  bool first = sum.started_at().seconds() == 0;
  sum.set_full(first ? one.full() : sum.full() && one.full());
  sum.set_users(sum.users() + one.users());
  sum.set_users_tracked(sum.users_tracked() + one.users_tracked());
  sum.set_events(sum.events() + one.events());
  sum.set_snapshots(sum.snapshots() + one.snapshots());
  sum.set_clusters(std::max(sum.clusters(), one.clusters()));
  sum.set_feed_position(sum.feed_position() + one.feed_position());
  if (first || one.started_at().seconds() < sum.started_at().seconds())
    *sum.mutable_started_at() = one.started_at();
  if (one.finished_at().seconds() > sum.finished_at().seconds())
    *sum.mutable_finished_at() = one.finished_at();
  sum.set_seconds(sum.seconds() + one.seconds());
  if (sum.error().empty()) sum.set_error(one.error());
  sum.set_plans(sum.plans() + one.plans());
  sum.set_plan_seconds(sum.plan_seconds() + one.plan_seconds());
}

}  // namespace

v1::BatchStatus BatchJobs::status() const {
  v1::BatchStatus out;
  std::lock_guard lock(mu_);
  for (const auto& [partition, job] : jobs_) {
    auto one = job->status();
    out.set_running(out.running() || one.running());
    out.set_users_total(out.users_total() + one.users_total());
    out.set_users_done(out.users_done() + one.users_done());
    out.set_events(out.events() + one.events());
    out.set_runs(out.runs() + one.runs());
    add_report(*out.mutable_last(), one.last());
  }
  return out;
}

Result<v1::MetricsReport> BatchJobs::metrics(const v1::GetMetrics& query) const {
  std::lock_guard lock(mu_);
  std::optional<projections::MetricsReportBuilder> merged;
  for (const auto& [partition, job] : jobs_) {
    auto builder = job->metrics_builder();
    if (!builder) return no_full_run().error();
    if (!merged) {
      merged.emplace(builder->options());
    }
    merged->merge(*builder);
  }
  if (!merged) return no_full_run().error();
  auto report = report_of(*merged, query);
  if (report)
    for (const auto& [partition, job] : jobs_) report->add_partitions(partition);
  return report;
}

}  // namespace coach::actors
