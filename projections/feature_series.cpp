#include "projections/feature_series.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "events/envelope.h"

namespace coach::projections {
namespace {

constexpr int64_t kSecondsPerDay = 24 * 3600;

// The UTC day whose snapshot (as of the next 00:00) the event is in: an
// event exactly at 00:00:00 is known as of that instant, so it belongs to
// the day that ends there.
int64_t utc_day_of(const v1::TaskEvent& event) {
  auto seconds = event.created_at().seconds();
  if (event.created_at().nanos() == 0) --seconds;
  return seconds >= 0 ? seconds / kSecondsPerDay : (seconds - kSecondsPerDay + 1) / kSecondsPerDay;
}

}  // namespace

uint64_t overdue_count(const TaskBook& tasks, Clock::time_point now) {
  uint64_t overdue = 0;
  for (const auto& [id, task] : tasks.tasks())
    if (task.has_due_at() && coach::from_timestamp(task.due_at()) < now &&
        (task.status() == v1::TASK_STATUS_PENDING || task.status() == v1::TASK_STATUS_SNOOZED) &&
        !abandoned(task, now))
      ++overdue;
  return overdue;
}

v1::FeatureSnapshot feature_snapshot(const UserState& state, Clock::time_point as_of,
                                     const ProcrastinationModel& model, const ClusterModel* modes) {
  const auto& signals = *state.signals;
  v1::FeatureSnapshot out;
  out.set_user_id(state.profile.profile.user().id());
  out.set_procrastination_score(
      model.score(features_of(signals, overdue_count(state.tasks, as_of))));
  out.set_snooze_rate(signals.snooze_rate());
  out.set_completion_latency_avg(signals.lateness_hours.count ? signals.lateness_hours.mean : 0);
  out.set_burstiness_index(signals.burstiness());
  auto mode = mode_features_of(signals);
  for (double v : mode) out.add_mode_features(v);
  out.set_completions(signals.completions);
  int cluster =
      modes && modes->k() > 0 && has_mode_history(signals.completions) ? modes->assign(mode) : -1;
  out.set_mode_cluster(cluster);
  if (cluster >= 0) out.set_mode_name(modes->name_for(cluster, mode, out.procrastination_score()));
  *out.mutable_created_at() = coach::to_timestamp(as_of);
  out.set_model_version(model.version);
  out.set_as_of_sequence(state.version);
  if (state.risk) {
    auto sums = state.risk->at(as_of);
    std::vector<std::pair<std::string, double>> risks;  // by task id, whatever the book's order
    for (const auto& [id, task] : state.tasks.tasks())
      if (auto risk = state.lateness_risk(sums, task, as_of)) risks.emplace_back(id, risk->risk);
    std::sort(risks.begin(), risks.end());
    for (const auto& [id, risk] : risks) {
      auto* r = out.add_task_risks();
      r->set_task_id(id);
      r->set_lateness_risk(risk);
    }
    out.set_risk_model_version(builtin_lateness_model().version);
  }
  return out;
}

FeatureSeries::FeatureSeries(std::string user_id, const ProcrastinationModel& model)
    : user_id_(std::move(user_id)), model_(model) {}

void FeatureSeries::emit_day(std::vector<v1::FeatureSnapshot>& out) {
  if (day_ == INT64_MIN || !state_.signals) return;
  auto end = Clock::time_point(std::chrono::seconds((day_ + 1) * kSecondsPerDay));
  out.push_back(feature_snapshot(state_, end, model_));
  out.back().set_user_id(user_id_);
}

void FeatureSeries::fold(const v1::TaskEvent& event, std::vector<v1::FeatureSnapshot>& out) {
  int64_t day = utc_day_of(event);
  if (day > day_) {
    emit_day(out);
    day_ = day;
  }
  state_.fold(event);
}

void FeatureSeries::finish(Clock::time_point now, std::vector<v1::FeatureSnapshot>& out) {
  auto end = Clock::time_point(std::chrono::seconds((day_ + 1) * kSecondsPerDay));
  if (end <= now) emit_day(out);
  day_ = INT64_MIN;
}

}  // namespace coach::projections
