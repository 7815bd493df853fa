#include "projections/success_metrics.h"

#include <date/iso_week.h>
#include <date/tz.h>

#include <string>
#include <vector>

#include "projections/task_book.h"
#include "projections/user_profile.h"

namespace coach::projections {
namespace {

using std::chrono::hours;

const date::time_zone* zone_or_utc(const std::string& name) {
  try {
    return date::locate_zone(name.empty() ? "UTC" : name);
  } catch (const std::exception&) {
    return date::locate_zone("UTC");
  }
}

IsoWeek week_of_day(date::sys_days day) {
  iso_week::year_weeknum_weekday w{day};
  return {static_cast<int>(w.year()), static_cast<unsigned>(w.weeknum())};
}

IsoWeek week_of(Clock::time_point t, const date::time_zone* zone) {
  auto local = zone->to_local(std::chrono::floor<std::chrono::seconds>(t));
  return week_of_day(date::sys_days(date::floor<date::days>(local).time_since_epoch()));
}

// Monday of week `w`, as a calendar day.
date::sys_days monday_of(IsoWeek w) {
  return date::sys_days(iso_week::year{w.year} / iso_week::weeknum{w.week} / iso_week::mon);
}

// The instant local `day` begins in `zone` (a midnight that does not exist:
// the instant the clocks jumped).
Clock::time_point start_of(date::sys_days day, const date::time_zone* zone) {
  return zone->to_sys(date::local_days(day.time_since_epoch()), date::choose::earliest);
}

// The figures read off the book at the end of [start, until).
void close_week(WeekFigures& w, const TaskBook& book, Clock::time_point start,
                Clock::time_point until) {
  for (const auto& [id, t] : book.tasks()) {
    if (t.status() == v1::TASK_STATUS_DELETED || !t.has_due_at()) continue;
    auto due = from_timestamp(t.due_at());
    if (due >= start && due < until) {
      ++w.due;
      w.completed +=
          t.status() == v1::TASK_STATUS_COMPLETED && from_timestamp(t.completed_at()) <= until;
    }
    auto status = effective_status(t, until);
    if (status != v1::TASK_STATUS_PENDING && status != v1::TASK_STATUS_SNOOZED) continue;
    ++w.open_with_due;
    w.overdue += due + hours(24) < until;
    w.long_snooze_chains += t.snooze_count() >= 3;
  }
}

bool is_task_event(const v1::TaskEvent& e) {
  using P = v1::TaskEvent;
  switch (e.payload_case()) {
    case P::kTaskCreated:
    case P::kTaskModified:
    case P::kTaskSnoozed:
    case P::kTaskCompleted:
    case P::kTaskDeleted:
    case P::kTaskReopened:
    case P::kTaskRestored:
    case P::kTaskNoteAdded:
      return true;
    default:
      return false;
  }
}

std::optional<double> share(uint32_t part, uint32_t whole) {
  if (whole == 0) return std::nullopt;
  return static_cast<double>(part) / whole;
}

struct Delivery {
  Clock::time_point at;
  IsoWeek week;
  bool engaged = false;
};

}  // namespace

std::optional<double> WeekFigures::completion_rate() const {
  return share(completed, due);
}
std::optional<double> WeekFigures::overdue_share() const {
  return share(overdue, open_with_due);
}
std::optional<double> WeekFigures::snooze_rate() const {
  return share(snoozes, created);
}
std::optional<double> WeekFigures::nudge_engagement() const {
  return share(nudges_engaged, nudges_delivered);
}

IsoWeek iso_week_of(Clock::time_point t, const std::string& zone) {
  return week_of(t, zone_or_utc(zone));
}

bool user_initiated(const v1::TaskEvent& e) {
  using P = v1::TaskEvent;
  switch (e.payload_case()) {
    case P::kNudgeCreated:
    case P::kNudgeDecided:
    case P::kNudgeDelivered:
    case P::kNotificationFailed:
    case P::kTaskMissed:
    case P::PAYLOAD_NOT_SET:
      return false;
    case P::kTaskCreated:
      return !e.task_created().recurrence().made_on_miss();
    case P::kPreferencesChanged:
      return e.preferences_changed().reason().empty();
    default:
      return true;
  }
}

UserMetrics user_metrics(std::span<const v1::TaskEvent> log, Clock::time_point as_of) {
  UserMetrics m;
  UserProfile profile;
  TaskBook book;
  const date::time_zone* zone = zone_or_utc("UTC");
  std::optional<IsoWeek> current;
  std::vector<Delivery> deliveries;
  size_t first_open = 0;  // deliveries before it are past their 2 h
  std::map<std::string, std::pair<v1::CoachingMode, v1::PersonaType>> kind_of;  // nudge id
  std::map<std::string, int32_t> rating_of;                                     // nudge id
  auto week_start = [&](IsoWeek w) { return start_of(monday_of(w), zone); };
  auto week_end = [&](IsoWeek w) { return start_of(monday_of(w) + date::days(7), zone); };
  // Closes every week that ended by `t`; the one `t` is in becomes current.
  auto close_until = [&](Clock::time_point t) {
    while (week_end(*current) <= t) {
      close_week(m.weeks[*current], book, week_start(*current), week_end(*current));
      current = week_of_day(monday_of(*current) + date::days(7));
      m.weeks[*current];
    }
  };
  for (const auto& e : log) {
    auto t = from_timestamp(e.created_at());
    if (t > as_of) break;
    evolve(profile, e);  // a new zone counts from its own event on
    zone = zone_or_utc(profile.profile.user().timezone());
    if (!current) {
      current = week_of(t, zone);
      m.weeks[*current];
    }
    close_until(t);
    auto& week = m.weeks[*current];
    bool by_user = user_initiated(e);
    if (by_user) {
      week.active = true;
      if (!m.first_active) m.first_active = *current;
    }
    if (e.has_task_created() && by_user) ++week.created;
    if (e.has_task_snoozed()) ++week.snoozes;
    if (by_user && is_task_event(e)) {
      while (first_open < deliveries.size() && deliveries[first_open].at + hours(2) < t)
        ++first_open;
      for (size_t i = first_open; i < deliveries.size(); ++i)
        if (deliveries[i].at < t) deliveries[i].engaged = true;
    }
    if (e.has_nudge_delivered()) deliveries.push_back({t, *current});
    if (e.has_nudge_created())
      kind_of[e.nudge_created().nudge().id()] = {e.nudge_created().nudge().mode(),
                                                 profile.profile.persona().persona_type()};
    if (e.has_nudge_rated()) rating_of[e.nudge_rated().nudge_id()] = e.nudge_rated().usefulness();
    evolve(book, e);
  }
  if (!current) return m;
  close_until(as_of);
  close_week(m.weeks[*current], book, week_start(*current), as_of);
  for (const auto& d : deliveries) {
    if (d.at + hours(2) > as_of) continue;  // its outcome is not known yet
    auto& week = m.weeks[d.week];
    ++week.nudges_delivered;
    week.nudges_engaged += d.engaged;
  }
  for (const auto& [id, usefulness] : rating_of) {
    auto kind = kind_of.find(id);
    if (kind == kind_of.end()) continue;
    auto& r = m.ratings[kind->second];
    ++r.count;
    r.sum += usefulness;
  }
  return m;
}

}  // namespace coach::projections
