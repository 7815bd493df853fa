#include "projections/user_state.h"

#include <algorithm>

#include "base/time.h"
#include "schema/snapshots.pb.h"

namespace coach::projections {

namespace {

// The latest change the book holds: where a tracker built from it stands.
Clock::time_point latest_change(const TaskBook& book) {
  Clock::time_point latest{};
  for (const auto& [id, task] : book.tasks())
    latest = std::max(latest, from_timestamp(task.updated_at()));
  return latest;
}

}  // namespace

void UserState::fold(const v1::TaskEvent& event) {
  if (signals) evolve(*signals, event, tasks.find(event.task_id()));
  evolve(tasks, event);
  evolve(profile, event);
  evolve(schedule, event, profile.profile.user().timezone());
  evolve(nudges, event);
  version = event.sequence();
  if (tracking() && !signals) signals.emplace();
  if (!tracking()) signals.reset();
  if (!tracking()) {
    risk.reset();
  } else if (!risk) {  // turned on (or registered with it on): nothing known before
    tracking_since = from_timestamp(event.created_at());
    risk = RiskTracker::of(tasks, tracking_since, tracking_since);
  } else if (!event.task_id().empty()) {
    risk->update(event.task_id(), tasks.find(event.task_id()), from_timestamp(event.created_at()));
  }
  if (signals && (event.has_user_registered() || event.has_preferences_changed()))
    signals->set_time_zone(profile.profile.user().timezone());
}

std::optional<TaskRisk> UserState::lateness_risk(const RiskTracker::Sums& sums,
                                                 const v1::Task& task,
                                                 Clock::time_point now) const {
  if (!risk) return std::nullopt;
  const auto& model = builtin_lateness_model();
  return risk->assess(sums, model, task, now,
                      population_rate(population.get(), task.category(), model, now));
}

std::string UserState::serialize() const {
  v1::UserSnapshot saved;
  *saved.mutable_profile() = profile.profile;
  saved.mutable_tasks()->ParseFromString(tasks.serialize());
  if (signals) *saved.mutable_signals() = signals->to_state();
  *saved.mutable_schedule() = schedule.to_state();
  *saved.mutable_nudges() = nudges;
  saved.set_calendar_feed_digest(profile.calendar_feed_digest);
  if (risk) *saved.mutable_tracking_since() = to_timestamp(tracking_since);
  return saved.SerializeAsString();
}

Result<UserState> UserState::parse(std::string_view bytes, uint64_t version) {
  v1::UserSnapshot saved;
  if (!saved.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return make_error(Errc::corrupted, "user snapshot does not parse");
  auto tasks = TaskBook::parse(saved.tasks().SerializeAsString(), version);
  if (!tasks) return tasks.error();
  UserState state;
  state.tasks = std::move(*tasks);
  state.profile.profile = saved.profile();
  state.profile.registered = saved.profile().user().has_created_at();
  state.profile.calendar_feed_digest = saved.calendar_feed_digest();
  state.version = version;
  state.schedule = ScheduleBook::from_state(saved.schedule());
  state.nudges = std::move(*saved.mutable_nudges());
  if (state.tracking()) {
    state.tracking_since = from_timestamp(saved.tracking_since());
    state.risk = RiskTracker::of(state.tasks, latest_change(state.tasks), state.tracking_since);
    if (saved.has_signals()) {
      state.signals = BehaviorSignals::from_state(saved.signals());
    } else {
      state.signals.emplace();
      state.signals->set_time_zone(state.profile.profile.user().timezone());
    }
  }
  return state;
}

}  // namespace coach::projections
