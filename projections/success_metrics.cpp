#include "projections/success_metrics.h"

#include <date/iso_week.h>
#include <date/tz.h>

#include <string>
#include <vector>

#include "projections/nudge_book.h"
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

std::optional<double> share(uint32_t part, uint32_t whole) {
  if (whole == 0) return std::nullopt;
  return static_cast<double>(part) / whole;
}

struct Delivery {
  Clock::time_point at;  // when the report was logged
  IsoWeek week;
  bool engaged = false;
  v1::PersonaType persona = v1::PERSONA_TYPE_UNSPECIFIED;
  // For the misfire rules: what was delivered, when, about what.
  Clock::time_point delivered_at;
  std::string notification_id, trigger, task_id, cooldown_key;
  Clock::time_point written_at;
  std::string misfire;  // the first reason, or empty
};

// What a NudgeCreated said, by notification id.
struct Written {
  std::string trigger, task_id, cooldown_key;
  Clock::time_point at;
};

// The misfire reason of delivery `d`, replayed at its delivery time with
// `book` and `profile` as of then, `earlier` the deliveries before it.
std::string misfire_of(const Delivery& d, const TaskBook& book, const v1::Profile& profile,
                       std::span<const Delivery> earlier) {
  // The task rules judge nudges about an open task (not "completion",
  // which is about a task just done).
  bool about_open_task = d.trigger == "overdue" || d.trigger == "deadline_approaching" ||
                         d.trigger == "repeated_snooze";
  if (const auto* t = book.find(d.task_id); t && about_open_task) {
    if (t->status() == v1::TASK_STATUS_COMPLETED) return "task_done";
    if (t->status() == v1::TASK_STATUS_DELETED) return "task_deleted";
    if (t->has_snoozed_until() && from_timestamp(t->snoozed_until()) > d.delivered_at)
      return "task_snoozed";
  }
  if (!in_notification_window(profile, d.delivered_at)) return "outside_window";
  for (const auto& e : earlier)
    if ((!d.notification_id.empty() && e.notification_id == d.notification_id) ||
        (!d.cooldown_key.empty() && e.cooldown_key == d.cooldown_key &&
         d.written_at - e.written_at < kDuplicateWithin && e.written_at <= d.written_at))
      return "duplicate";
  if (d.written_at + kMisfireTolerance < d.delivered_at) return "late";
  return "";
}

// Replays the log once more to judge each delivery at its delivery time
// (a report is logged after the delivery; what the user did in between
// must not count).
void judge_misfires(std::span<const v1::TaskEvent> log, std::vector<Delivery>& deliveries) {
  std::vector<size_t> order(deliveries.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return deliveries[a].delivered_at < deliveries[b].delivered_at;
  });
  std::vector<Delivery> judged;  // in delivery order
  TaskBook book;
  UserProfile profile;
  size_t next = 0;
  auto judge_until = [&](std::optional<Clock::time_point> t) {
    for (; next < order.size() && (!t || deliveries[order[next]].delivered_at < *t); ++next) {
      auto& d = deliveries[order[next]];
      d.misfire = misfire_of(d, book, profile.profile, judged);
      judged.push_back(d);
    }
  };
  for (const auto& e : log) {
    judge_until(from_timestamp(e.created_at()));
    if (next == order.size()) return;  // every delivery judged: the rest cannot matter
    evolve(book, e);
    evolve(profile, e);
  }
  judge_until(std::nullopt);
}

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
std::optional<double> WeekFigures::misfire_rate() const {
  return share(misfires, nudges_delivered);
}

void WeekFigures::add(const WeekFigures& o) {
  active = active || o.active;
  due += o.due;
  completed += o.completed;
  created += o.created;
  snoozes += o.snoozes;
  open_with_due += o.open_with_due;
  overdue += o.overdue;
  long_snooze_chains += o.long_snooze_chains;
  nudges_delivered += o.nudges_delivered;
  nudges_engaged += o.nudges_engaged;
  misfires += o.misfires;
  for (const auto& [reason, n] : o.misfires_by_reason) misfires_by_reason[reason] += n;
}

IsoWeek weeks_after(IsoWeek w, int k) {
  return week_of_day(monday_of(w) + date::days(7 * k));
}

int weeks_between(IsoWeek from, IsoWeek to) {
  return static_cast<int>((monday_of(to) - monday_of(from)).count() / 7);
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

bool task_action(const v1::TaskEvent& e) {
  if (!user_initiated(e)) return false;
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
  std::map<std::string, Written> written;                                       // notification id
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
    if (task_action(e)) {
      while (first_open < deliveries.size() && deliveries[first_open].at + hours(2) < t)
        ++first_open;
      for (size_t i = first_open; i < deliveries.size(); ++i)
        if (deliveries[i].at < t) deliveries[i].engaged = true;
    }
    if (e.has_nudge_delivered()) {
      const auto& d = e.nudge_delivered();
      Delivery delivery;
      delivery.at = t;
      delivery.week = *current;
      delivery.persona = profile.profile.persona().persona_type();
      delivery.delivered_at = d.has_delivered_at() ? from_timestamp(d.delivered_at()) : t;
      delivery.notification_id = d.notification_id();
      if (auto w = written.find(d.notification_id()); w != written.end()) {
        delivery.trigger = w->second.trigger;
        delivery.task_id = w->second.task_id;
        delivery.written_at = w->second.at;
        delivery.cooldown_key = w->second.cooldown_key;
      } else {
        delivery.written_at = delivery.delivered_at;  // not known: not judged late
      }
      deliveries.push_back(std::move(delivery));
    }
    if (e.has_nudge_created() && e.nudge_created().has_notification())
      written[e.nudge_created().notification().id()] = {e.nudge_created().nudge().trigger(),
                                                        e.nudge_created().nudge().task_id(),
                                                        e.nudge_created().cooldown_key(), t};
    if (e.has_nudge_created())
      kind_of[e.nudge_created().nudge().id()] = {e.nudge_created().nudge().mode(),
                                                 profile.profile.persona().persona_type()};
    if (e.has_nudge_rated()) rating_of[e.nudge_rated().nudge_id()] = e.nudge_rated().usefulness();
    evolve(book, e);
  }
  if (!current) return m;
  close_until(as_of);
  close_week(m.weeks[*current], book, week_start(*current), as_of);
  std::span<const v1::TaskEvent> known = log;
  while (!known.empty() && from_timestamp(known.back().created_at()) > as_of)
    known = known.first(known.size() - 1);
  judge_misfires(known, deliveries);
  for (const auto& d : deliveries) {
    if (d.at + hours(2) > as_of) continue;  // its outcome is not known yet
    auto& week = m.weeks[d.week];
    ++week.nudges_delivered;
    week.nudges_engaged += d.engaged;
    auto& persona = m.persona_engagement[d.persona];
    ++persona.delivered;
    persona.engaged += d.engaged;
    if (d.misfire.empty()) continue;
    ++week.misfires;
    ++week.misfires_by_reason[d.misfire];
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

namespace coach::projections {

void MetricsTally::add(const UserMetrics& m) {
  ++users_;
  for (const auto& [week, figures] : m.weeks) {
    auto& w = weeks_[week];
    ++w.users;
    w.active_users += figures.active;
    w.sums.add(figures);
  }
  if (m.first_active) {
    auto& cohort = cohorts_[*m.first_active];
    ++cohort.users;
    for (const auto& [week, figures] : m.weeks) {
      int k = weeks_between(*m.first_active, week);
      if (k < 0) continue;
      // Weeks nobody was active in are there too, as 0.
      if (cohort.active.size() <= static_cast<size_t>(k)) cohort.active.resize(k + 1);
      cohort.active[k] += figures.active;
    }
    // Known once week 2 after the first is over: the weeks map runs to
    // as_of, so week 3 being there means it is.
    auto week1 = m.weeks.find(weeks_after(*m.first_active, 1));
    auto week2 = m.weeks.find(weeks_after(*m.first_active, 2));
    if (m.weeks.count(weeks_after(*m.first_active, 3))) {  // week 2 is over too
      ++cohort.dropoff_known;
      cohort.dropped_off += !week1->second.active && !week2->second.active;
    }
  }
  for (const auto& [kind, r] : m.ratings) {
    auto& rated = ratings_[kind];
    ++rated.users;
    rated.figures.count += r.count;
    rated.figures.sum += r.sum;
  }
  for (const auto& [persona, e] : m.persona_engagement) {
    auto& engaged = personas_[persona];
    ++engaged.users;
    engaged.figures.delivered += e.delivered;
    engaged.figures.engaged += e.engaged;
  }
}

void MetricsTally::merge(const MetricsTally& o) {
  users_ += o.users_;
  for (const auto& [week, w] : o.weeks_) {
    auto& mine = weeks_[week];
    mine.users += w.users;
    mine.active_users += w.active_users;
    mine.sums.add(w.sums);
  }
  for (const auto& [week, c] : o.cohorts_) {
    auto& mine = cohorts_[week];
    mine.users += c.users;
    if (mine.active.size() < c.active.size()) mine.active.resize(c.active.size());
    for (size_t k = 0; k < c.active.size(); ++k) mine.active[k] += c.active[k];
    mine.dropoff_known += c.dropoff_known;
    mine.dropped_off += c.dropped_off;
  }
  for (const auto& [kind, r] : o.ratings_) {
    auto& mine = ratings_[kind];
    mine.users += r.users;
    mine.figures.count += r.figures.count;
    mine.figures.sum += r.figures.sum;
  }
  for (const auto& [persona, e] : o.personas_) {
    auto& mine = personas_[persona];
    mine.users += e.users;
    mine.figures.delivered += e.figures.delivered;
    mine.figures.engaged += e.figures.engaged;
  }
}

}  // namespace coach::projections
