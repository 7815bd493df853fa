// The success metrics over many users as one report (v1::MetricsReport):
// what analysts read offline (coach-replay metrics) and, in time, through
// analytics.* (issue 23). Aggregates only: every group of fewer than
// `min_users` users is left out and counted as suppressed.
#pragma once

#include <span>

#include "base/time.h"
#include "projections/nudge_trial.h"
#include "projections/success_metrics.h"
#include "schema/commands.pb.h"

namespace coach::projections {

struct ReportOptions {
  // Weeks, cohorts and decisions from this instant's ISO week (UTC), days
  // from its day (UTC).
  Clock::time_point from{};
  Clock::time_point to{};    // as of this instant
  uint32_t min_users = 5;    // k: smaller groups are left out
  size_t cohort_weeks = 12;  // retention columns kept per cohort
};

// One user's part of the report, kept between runs (the incremental
// update): a later report adds an unchanged user from it without reading
// their log; a user whose log grew is carried anew (report_carry).
struct ReportCarry {
  MetricsCarry metrics;
  std::vector<TrialDecision> decisions;  // decisions_so_far(log, metrics.as_of)
};

// The carry of one user's log (in sequence order) as of `as_of`.
ReportCarry report_carry(std::span<const v1::TaskEvent> log, Clock::time_point as_of);

// Gathers users one at a time (memory: the tallies, never a user's log).
class MetricsReportBuilder {
 public:
  explicit MetricsReportBuilder(ReportOptions options) : options_(options) {}
  // Adds one user's log, in sequence order.
  void add(const std::string& user_id, std::span<const v1::TaskEvent> log);
  // Adds one user from their carry, made as of options().to or before from
  // the log as it still is: the same as adding the log.
  void add(const std::string& user_id, const ReportCarry& carry);
  // Adds another builder's users (as of the same instant, of other users).
  void merge(const MetricsReportBuilder& other);
  v1::MetricsReport build() const;
  // The same with weeks and cohorts from `from`'s ISO week (days from its
  // day) and groups of fewer than `min_users` left out (the trial's
  // decisions stay those the options let in).
  v1::MetricsReport build(Clock::time_point from, uint32_t min_users) const;
  const ReportOptions& options() const { return options_; }

 private:
  ReportOptions options_;
  MetricsTally metrics_;
  TrialTally trial_;
};

// "2026-W10".
std::string iso_week_name(IsoWeek week);
// "2026-03-29".
std::string local_day_name(LocalDay day);

// One user's own figures as report rows (users 1, active_users 0 or 1): the
// last `count` weeks of `metrics`, oldest first. What user.insights shows
// the user; no threshold applies to their own data.
std::vector<v1::MetricsReport::Week> own_weeks(const UserMetrics& metrics, size_t count);
// The same for the last `count` days of `metrics` (rows with `day` set).
std::vector<v1::MetricsReport::Week> own_days(const UserMetrics& metrics, size_t count);

}  // namespace coach::projections
