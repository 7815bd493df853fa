// The spec's FeatureSnapshot of a user, and its series over time, as the
// online path, the batch job and the analysts' replay compute it (issue #5).
//
// A snapshot as of instant t uses only events at or before t (created_at
// <= t, as coach-replay join and docs/import.md say) and the tasks' state
// at t (no look-ahead): the procrastination score of a model
// version, snooze rate, mean completion latency (hours after due),
// burstiness, given a behavior-mode model the user's mode cluster, and the
// lateness risk of each open task with a due date at t (task_risks, by the
// shipped lateness model; issue 22).
//
// The daily series: while tracking is on, after the events of each UTC day
// one snapshot as of 00:00 UTC of the next day (an event exactly at that
// 00:00 is in it). Days without events get none
// (nothing but the overdue count could have changed); a point-in-time read
// then finds the previous day's.
#pragma once

#include <string>
#include <vector>

#include "projections/behavior_clusters.h"
#include "projections/procrastination_model.h"
#include "projections/user_state.h"

namespace coach::projections {

// Tasks past their due time and not completed (nor deleted) at `now`.
uint64_t overdue_count(const TaskBook& tasks, Clock::time_point now);

// The snapshot of a user with tracking on (`state.signals` set), as of
// `as_of`. `modes` null: mode_cluster -1. The id is left empty.
v1::FeatureSnapshot feature_snapshot(const UserState& state, Clock::time_point as_of,
                                     const ProcrastinationModel& model,
                                     const ClusterModel* modes = nullptr);

// Folds one user's events in order and emits the daily series.
class FeatureSeries {
 public:
  FeatureSeries(std::string user_id, const ProcrastinationModel& model);
  // Folds the event; first emits the snapshot of the day before it, when
  // the event starts a later UTC day and tracking was on.
  void fold(const v1::TaskEvent& event, std::vector<v1::FeatureSnapshot>& out);
  // Emits the last day's snapshot, if that day has ended by `now`.
  void finish(Clock::time_point now, std::vector<v1::FeatureSnapshot>& out);
  const UserState& state() const { return state_; }
  // The population's rates the snapshots' task risks use (UserState::population).
  void set_population(std::shared_ptr<const v1::PopulationRatesState> rates) {
    state_.population = std::move(rates);
  }

 private:
  void emit_day(std::vector<v1::FeatureSnapshot>& out);
  std::string user_id_;
  const ProcrastinationModel& model_;
  UserState state_;
  int64_t day_ = INT64_MIN;  // UTC day (days since 1970) of the last event
};

}  // namespace coach::projections
