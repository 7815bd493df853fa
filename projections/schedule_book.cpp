#include "projections/schedule_book.h"

#include "events/envelope.h"
#include "projections/feature_series.h"
#include "projections/procrastination_model.h"
#include "projections/user_state.h"
#include "schema/snapshots.pb.h"

namespace coach::projections {
namespace {

using coach::from_timestamp;
using coach::to_timestamp;

Error invalid(const std::string& message) {
  return make_error(Errc::invalid_argument, message);
}

// Checks what accept and reject share; the task must be plannable.
template <class Command>
Status check_block(const UserState& state, const Command& c, Clock::time_point now) {
  if (auto id = Uuid::parse(c.task_id(), "task_id"); !id) return id.error();
  if (!c.has_start() || !c.has_end()) return invalid("start and end are required");
  if (auto s = check_instant("start", c.start()); !s) return s;
  if (auto s = check_instant("end", c.end()); !s) return s;
  auto start = from_timestamp(c.start()), end = from_timestamp(c.end());
  if (end <= start) return invalid("end must be after start");
  if (end - start > std::chrono::hours(12)) return invalid("a block lasts at most 12 hours");
  if (end <= now) return invalid("the block has ended already");
  if (start > now + std::chrono::hours(24 * 366))
    return invalid("the block is more than a year ahead");
  if (c.confidence_score() < 0 || c.confidence_score() > 1)
    return invalid("confidence_score must be 0 to 1");
  const auto* task = state.tasks.find(c.task_id());
  if (!task) return make_error(Errc::not_found, "no task " + c.task_id());
  auto status = effective_status(*task, now);
  if (status != v1::TASK_STATUS_PENDING && status != v1::TASK_STATUS_SNOOZED)
    return make_error(Errc::conflict, "task " + c.task_id() + " is not pending");
  return Ok{};
}

v1::ScheduleRecommendation view_of(const TimeBlock& b, const std::string& user_id, bool accepted,
                                   Clock::time_point now) {
  v1::ScheduleRecommendation r;
  r.set_id(recommendation_id(b.task_id, b.start, b.end));
  r.set_user_id(user_id);
  r.set_task_id(b.task_id);
  *r.mutable_recommended_start() = to_timestamp(b.start);
  *r.mutable_recommended_due() = to_timestamp(b.end);
  r.set_confidence_score(b.confidence);
  *r.mutable_created_at() = to_timestamp(now);
  r.set_accepted(accepted);
  return r;
}

}  // namespace

std::string recommendation_id(const std::string& task_id, Clock::time_point start,
                              Clock::time_point end) {
  return Uuid::derived("recommendation:" + task_id + ":" + coach::format_time(start) + ":" +
                       coach::format_time(end))
      .to_string();
}

v1::ScheduleBookState ScheduleBook::to_state() const {
  v1::ScheduleBookState state;
  for (const auto& b : accepted) *state.add_accepted() = view_of(b, "", true, b.start);
  for (size_t h = 0; h < 24; ++h) {
    state.add_accepted_by_hour(feedback.accepted[h]);
    state.add_rejected_by_hour(feedback.rejected[h]);
  }
  return state;
}

ScheduleBook ScheduleBook::from_state(const v1::ScheduleBookState& state) {
  ScheduleBook book;
  for (const auto& r : state.accepted())
    book.accepted.push_back({r.task_id(), from_timestamp(r.recommended_start()),
                             from_timestamp(r.recommended_due()), r.confidence_score()});
  for (int h = 0; h < 24; ++h) {
    if (h < state.accepted_by_hour_size())
      book.feedback.accepted[static_cast<size_t>(h)] = state.accepted_by_hour(h);
    if (h < state.rejected_by_hour_size())
      book.feedback.rejected[static_cast<size_t>(h)] = state.rejected_by_hour(h);
  }
  return book;
}

void evolve(ScheduleBook& book, const v1::TaskEvent& event, const std::string& time_zone) {
  if (event.has_recommendation_accepted()) {
    const auto& a = event.recommendation_accepted();
    auto start = from_timestamp(a.start());
    book.accepted.push_back(
        {event.task_id(), start, from_timestamp(a.end()), a.confidence_score()});
    ++book.feedback.accepted[static_cast<size_t>(local_hour_in(time_zone, start))];
  } else if (event.has_recommendation_rejected()) {
    auto start = from_timestamp(event.recommendation_rejected().start());
    ++book.feedback.rejected[static_cast<size_t>(local_hour_in(time_zone, start))];
  } else if (event.has_task_completed() || event.has_task_deleted() || event.has_task_missed()) {
    std::erase_if(book.accepted, [&](const TimeBlock& b) { return b.task_id == event.task_id(); });
  }
}

// The confidence coach gives a block the client asks for: the plan's own
// when the current plan offers that block; else, for a block that keeps
// the rules planned blocks keep (inside the work hours, 30 to 120 minutes),
// the user's acceptance rate at its local hour. invalid_argument for a
// block that keeps neither. Never the client's own figure.
Result<double> server_confidence(const UserState& state, const std::string& task_id,
                                 Clock::time_point start, Clock::time_point end,
                                 Clock::time_point now) {
  if (auto plan = schedule_view(state, 0, now))
    for (const auto& r : plan->recommendations())
      if (r.task_id() == task_id && from_timestamp(r.recommended_start()) == start &&
          from_timestamp(r.recommended_due()) == end)
        return r.confidence_score();
  const auto& user = state.profile.profile.user();
  const std::string zone = user.timezone().empty() ? "UTC" : user.timezone();
  PlanRequest rules;  // the planner's chunk sizes
  auto minutes = std::chrono::duration_cast<std::chrono::minutes>(end - start).count();
  if (minutes < rules.min_chunk_minutes || minutes > rules.max_chunk_minutes)
    return invalid("a block the plan did not offer lasts " +
                   std::to_string(rules.min_chunk_minutes) + " to " +
                   std::to_string(rules.max_chunk_minutes) + " minutes, as planned blocks do");
  bool inside = false;
  for (const auto& [s, e] : work_intervals(user.work_hours(), zone, start, end))
    inside |= s <= start && end <= e;
  if (!inside)
    return invalid("a block the plan did not offer must lie within the user's work hours (" + zone +
                   ")");
  return std::clamp(state.schedule.feedback.acceptance(local_hour_in(zone, start)), 0.05, 0.95);
}

Result<std::vector<v1::TaskEvent>> decide_accept(const UserState& state,
                                                 const v1::AcceptRecommendation& c,
                                                 Clock::time_point now) {
  if (auto s = check_block(state, c, now); !s) return s.error();
  auto start = from_timestamp(c.start()), end = from_timestamp(c.end());
  for (const auto& b : state.schedule.accepted)
    if (b.start < end && start < b.end)
      return make_error(Errc::conflict, "the block overlaps one accepted before (" +
                                            coach::format_time(b.start) + " to " +
                                            coach::format_time(b.end) + ")");
  v1::TaskEvent e;
  e.set_task_id(c.task_id());
  auto* a = e.mutable_recommendation_accepted();
  a->set_recommendation_id(c.recommendation_id().empty()
                               ? recommendation_id(c.task_id(), start, end)
                               : c.recommendation_id());
  *a->mutable_start() = c.start();
  *a->mutable_end() = c.end();
  auto confidence = server_confidence(state, c.task_id(), start, end, now);
  if (!confidence) return confidence.error();
  a->set_confidence_score(*confidence);
  return std::vector<v1::TaskEvent>{std::move(e)};
}

Result<std::vector<v1::TaskEvent>> decide_reject(const UserState& state,
                                                 const v1::RejectRecommendation& c,
                                                 Clock::time_point now) {
  if (auto s = check_block(state, c, now); !s) return s.error();
  if (c.reason().size() > 500) return invalid("reason is at most 500 bytes");
  v1::TaskEvent e;
  e.set_task_id(c.task_id());
  auto* r = e.mutable_recommendation_rejected();
  r->set_recommendation_id(
      c.recommendation_id().empty()
          ? recommendation_id(c.task_id(), from_timestamp(c.start()), from_timestamp(c.end()))
          : c.recommendation_id());
  *r->mutable_start() = c.start();
  *r->mutable_end() = c.end();
  r->set_confidence_score(c.confidence_score());
  r->set_reason(c.reason());
  return std::vector<v1::TaskEvent>{std::move(e)};
}

Result<v1::Schedule> schedule_view(const UserState& state, uint32_t horizon_days,
                                   Clock::time_point now) {
  if (horizon_days > 60) return invalid("horizon_days must be 1 to 60");
  const auto& user = state.profile.profile.user();
  PlanRequest r;
  r.work_hours = user.work_hours();
  r.time_zone = user.timezone().empty() ? "UTC" : user.timezone();
  r.now = now;
  r.horizon = std::chrono::hours(24 * (horizon_days ? horizon_days : 14));
  for (const auto& [id, task] : state.tasks.tasks()) r.tasks.push_back(task);
  for (const auto& b : state.schedule.accepted)
    if (b.end > now) r.accepted.push_back(b);
  r.feedback = state.schedule.feedback;
  r.category_minutes = learned_estimates(state.tasks);
  if (state.signals) {  // behavior is used only with tracking on
    r.procrastination = ProcrastinationModel::builtin().score(
        features_of(*state.signals, overdue_count(state.tasks, now)));
    r.rhythm = state.signals->completions_by_hour;
  }
  if (state.risk) {
    auto sums = state.risk->at(now);
    for (const auto& task : r.tasks)
      if (auto risk = state.lateness_risk(sums, task, now))
        r.lateness_risk.emplace(task.id(), risk->risk);
  }
  auto plan = plan_schedule(r);
  v1::Schedule out;
  for (const auto& b : plan.blocks) *out.add_recommendations() = view_of(b, user.id(), false, now);
  for (const auto& b : r.accepted) *out.add_accepted() = view_of(b, user.id(), true, now);
  for (const auto& risk : plan.at_risk) {
    auto* a = out.add_at_risk();
    a->set_task_id(risk.task_id);
    if (const auto* t = state.tasks.find(risk.task_id)) a->set_title(t->title());
    *a->mutable_due_at() = to_timestamp(risk.due);
    a->set_minutes_short(risk.minutes_short);
    a->set_suggestion(risk.suggestion);
    if (risk.lateness_risk >= 0) a->set_lateness_risk(risk.lateness_risk);
  }
  out.set_free_minutes(plan.free_minutes);
  out.set_planned_minutes(plan.planned_minutes);
  out.set_unplanned_minutes(plan.unplanned_minutes);
  return out;
}

}  // namespace coach::projections
