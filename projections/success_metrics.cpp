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

// The calendar day instant `t` falls on in `zone`.
date::sys_days local_date(Clock::time_point t, const date::time_zone* zone) {
  auto local = zone->to_local(std::chrono::floor<std::chrono::seconds>(t));
  return date::sys_days(date::floor<date::days>(local).time_since_epoch());
}

IsoWeek week_of(Clock::time_point t, const date::time_zone* zone) {
  return week_of_day(local_date(t, zone));
}

LocalDay local_day(date::sys_days day) {
  date::year_month_day ymd{day};
  return {static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
          static_cast<unsigned>(ymd.day())};
}

date::sys_days sys_day(LocalDay d) {
  return date::sys_days(date::year{d.year} / date::month{d.month} / date::day{d.day});
}

LocalDay day_of(Clock::time_point t, const date::time_zone* zone) {
  return local_day(local_date(t, zone));
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

using DueTask = MetricsCarry::DueTask;

// A task of `t`'s kind that weeks can count; none for a deleted one or one
// without a due. Open as effective_status says at any instant: a snoozed
// task is pending again once its snooze is over, open either way.
std::optional<DueTask> due_task_of(const v1::Task& t) {
  if (t.status() == v1::TASK_STATUS_DELETED || !t.has_due_at()) return std::nullopt;
  DueTask d;
  d.due = from_timestamp(t.due_at());
  d.completed = t.status() == v1::TASK_STATUS_COMPLETED;
  if (d.completed) d.completed_at = from_timestamp(t.completed_at());
  d.open = t.status() == v1::TASK_STATUS_PENDING || t.status() == v1::TASK_STATUS_SNOOZED;
  d.snooze_count = t.snooze_count();
  return d;
}

// What task `t` adds to the week [start, until) closed at `until`.
void count_due_task(WeekFigures& w, const DueTask& t, Clock::time_point start,
                    Clock::time_point until) {
  if (t.due >= start && t.due < until) {
    ++w.due;
    w.completed += t.completed && t.completed_at <= until;
  }
  if (!t.open) return;
  ++w.open_with_due;
  w.overdue += t.due + hours(24) < until;
  w.long_snooze_chains += t.snooze_count >= 3;
}

// The figures read off the book at the end of [start, until).
void close_week(WeekFigures& w, const TaskBook& book, Clock::time_point start,
                Clock::time_point until) {
  for (const auto& [id, t] : book.tasks())
    if (auto d = due_task_of(t)) count_due_task(w, *d, start, until);
}

Clock::time_point week_start(IsoWeek w, const date::time_zone* zone) {
  return start_of(monday_of(w), zone);
}
Clock::time_point week_end(IsoWeek w, const date::time_zone* zone) {
  return start_of(monday_of(w) + date::days(7), zone);
}

Clock::time_point day_start(LocalDay d, const date::time_zone* zone) {
  return start_of(sys_day(d), zone);
}
Clock::time_point day_end(LocalDay d, const date::time_zone* zone) {
  return start_of(sys_day(d) + date::days(1), zone);
}

// Days that end by this instant are not kept as of `as_of`, nor closed: a
// margin beyond kMetricDays, which trim_days then keeps exactly.
Clock::time_point days_kept_after(Clock::time_point as_of) {
  return as_of - hours(24) * (kMetricDays + 2);
}

void trim_days(UserMetrics& m) {
  while (m.days.size() > kMetricDays) m.days.erase(m.days.begin());
}

// As close_until, for the days of `m` from `today` (begun at `started`)
// on; days that end by `kept_after` are dropped unclosed, and a run of
// them skipped at once (a user back after months costs no day by day walk).
template <class Close>
void close_days_until(UserMetrics& m, LocalDay& today, Clock::time_point& started,
                      const date::time_zone* zone, Clock::time_point t,
                      Clock::time_point kept_after, const Close& close) {
  for (auto end = day_end(today, zone); end <= t; end = day_end(today, zone)) {
    end = std::max(end, started);  // a move far east: the day is over already
    auto next = local_day(sys_day(today) + date::days(1));
    if (end <= kept_after) {
      m.days.erase(today);
      if (auto jump = day_of(std::min(t, kept_after), zone); next < jump) {
        next = jump;
        end = day_start(jump, zone);
      }
    } else {
      close(m.days[today], started, end);
    }
    today = next;
    started = end;
    m.days[today];
  }
}

// Closes every week of `m` from `current` (begun at `started`) on that
// ended by `t` in `zone`, `close(figures, start, end)` reading the tasks;
// the week `t` is in becomes current. A week ends in the zone of its end
// and begins where the one before ended: a move leaves no instant in no
// week, nor in two.
template <class Close>
void close_until(UserMetrics& m, IsoWeek& current, Clock::time_point& started,
                 const date::time_zone* zone, Clock::time_point t, const Close& close) {
  for (auto end = week_end(current, zone); end <= t; end = week_end(current, zone)) {
    end = std::max(end, started);
    close(m.weeks[current], started, end);
    current = week_of_day(monday_of(current) + date::days(7));
    started = end;
    m.weeks[current];
  }
}

template <class D>
void count_delivery_in(WeekFigures& f, const D& d) {
  ++f.nudges_delivered;
  f.nudges_engaged += d.engaged;
  if (d.misfire.empty()) return;
  ++f.misfires;
  ++f.misfires_by_reason[d.misfire];
}

// Counts delivery `d`, whose 2 h are over, in its week, its day (when that
// is kept) and its persona.
template <class D>
void count_delivery(UserMetrics& m, const D& d) {
  count_delivery_in(m.weeks[d.week], d);
  if (auto day = m.days.find(d.day); day != m.days.end()) count_delivery_in(day->second, d);
  auto& persona = m.persona_engagement[d.persona];
  ++persona.delivered;
  persona.engaged += d.engaged;
}

std::optional<double> share(uint32_t part, uint32_t whole) {
  if (whole == 0) return std::nullopt;
  return static_cast<double>(part) / whole;
}

struct Delivery {
  Clock::time_point at;  // when the report was logged
  IsoWeek week;
  LocalDay day;
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

LocalDay local_day_of(Clock::time_point t, const std::string& zone) {
  return day_of(t, zone_or_utc(zone));
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

MetricsCarry metrics_carry(std::span<const v1::TaskEvent> log, Clock::time_point as_of) {
  MetricsCarry carry;
  carry.as_of = as_of;
  UserMetrics& m = carry.so_far;
  UserProfile profile;
  TaskBook book;
  const date::time_zone* zone = zone_or_utc("UTC");
  std::string zone_name;
  std::optional<IsoWeek> current;
  std::optional<LocalDay> today;
  const auto kept_after = days_kept_after(as_of);
  // When the current day ends (the week ends no earlier): until then an
  // event closes nothing, and the zone database is not asked.
  Clock::time_point closes_at = Clock::time_point::min();
  std::vector<Delivery> deliveries;
  size_t first_open = 0;  // deliveries before it are past their 2 h
  std::map<std::string, std::pair<v1::CoachingMode, v1::PersonaType>> kind_of;  // nudge id
  std::map<std::string, int32_t> rating_of;                                     // nudge id
  std::map<std::string, Written> written;                                       // notification id
  auto close_with_book = [&](WeekFigures& w, Clock::time_point start, Clock::time_point until) {
    close_week(w, book, start, until);
  };
  for (const auto& e : log) {
    auto t = from_timestamp(e.created_at());
    if (t > as_of) break;
    ++carry.events;
    evolve(profile, e);  // a new zone counts from its own event on
    if (profile.profile.user().timezone() != zone_name) {
      zone_name = profile.profile.user().timezone();
      zone = zone_or_utc(zone_name);
      closes_at = Clock::time_point::min();
    }
    if (!current) {
      current = week_of(t, zone);
      today = day_of(t, zone);
      carry.week_started = week_start(*current, zone);
      carry.day_started = day_start(*today, zone);
      m.weeks[*current];
      m.days[*today];
    }
    if (t >= closes_at) {
      close_until(m, *current, carry.week_started, zone, t, close_with_book);
      close_days_until(m, *today, carry.day_started, zone, t, kept_after, close_with_book);
      closes_at = day_end(*today, zone);
    }
    bool by_user = user_initiated(e);
    if (by_user && !m.first_active) m.first_active = *current;
    for (auto* f : {&m.weeks[*current], &m.days[*today]}) {
      f->active = f->active || by_user;
      f->created += e.has_task_created() && by_user;
      f->snoozes += e.has_task_snoozed();
    }
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
      delivery.day = *today;
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
  if (!current) return carry;
  close_until(m, *current, carry.week_started, zone, as_of, close_with_book);
  close_days_until(m, *today, carry.day_started, zone, as_of, kept_after, close_with_book);
  trim_days(m);
  carry.current = current;
  carry.today = today;
  carry.zone = profile.profile.user().timezone();
  auto from = std::min(carry.week_started, carry.day_started);
  for (const auto& [id, t] : book.tasks())
    if (auto d = due_task_of(t); d && (d->open || d->due >= from)) carry.tasks.push_back(*d);
  judge_misfires(log.first(carry.events), deliveries);
  for (const auto& d : deliveries) {
    if (d.at + hours(2) > as_of) {  // its outcome is not known yet
      carry.deliveries.push_back({d.at, d.week, d.day, d.engaged, d.persona, d.misfire});
      continue;
    }
    count_delivery(m, d);
  }
  for (const auto& [id, usefulness] : rating_of) {
    auto kind = kind_of.find(id);
    if (kind == kind_of.end()) continue;
    auto& r = m.ratings[kind->second];
    ++r.count;
    r.sum += usefulness;
  }
  return carry;
}

UserMetrics user_metrics(const MetricsCarry& carry, Clock::time_point as_of) {
  as_of = std::max(as_of, carry.as_of);
  UserMetrics m = carry.so_far;
  if (!carry.current) return m;
  const auto* zone = zone_or_utc(carry.zone);
  auto close_with_tasks = [&](WeekFigures& w, Clock::time_point start, Clock::time_point until) {
    for (const auto& t : carry.tasks) count_due_task(w, t, start, until);
  };
  IsoWeek current = *carry.current;
  auto week_started = carry.week_started;
  close_until(m, current, week_started, zone, as_of, close_with_tasks);
  close_with_tasks(m.weeks[current], week_started, as_of);
  LocalDay today = *carry.today;
  auto day_started = carry.day_started;
  close_days_until(m, today, day_started, zone, as_of, days_kept_after(as_of), close_with_tasks);
  close_with_tasks(m.days[today], day_started, as_of);
  for (const auto& d : carry.deliveries)
    if (d.at + hours(2) <= as_of) count_delivery(m, d);
  trim_days(m);
  return m;
}

UserMetrics user_metrics(std::span<const v1::TaskEvent> log, Clock::time_point as_of) {
  return user_metrics(metrics_carry(log, as_of), as_of);
}

}  // namespace coach::projections

namespace coach::projections {

namespace {

template <class Period>
void add_periods(std::map<Period, MetricsTally::Week>& to,
                 const std::map<Period, WeekFigures>& user) {
  for (const auto& [period, figures] : user) {
    auto& w = to[period];
    ++w.users;
    w.active_users += figures.active;
    w.sums.add(figures);
  }
}

template <class Period>
void merge_periods(std::map<Period, MetricsTally::Week>& to,
                   const std::map<Period, MetricsTally::Week>& from) {
  for (const auto& [period, w] : from) {
    auto& mine = to[period];
    mine.users += w.users;
    mine.active_users += w.active_users;
    mine.sums.add(w.sums);
  }
}

}  // namespace

void MetricsTally::add(const UserMetrics& m) {
  ++users_;
  add_periods(weeks_, m.weeks);
  add_periods(days_, m.days);
  if (m.first_active) {
    auto& cohort = cohorts_[*m.first_active];
    ++cohort.users;
    // The weeks that are over: the last (as_of's) is not a column yet, or
    // a week an hour old would read as everyone gone.
    auto current = m.weeks.rbegin()->first;
    for (const auto& [week, figures] : m.weeks) {
      int k = weeks_between(*m.first_active, week);
      if (k < 0 || (k > 0 && week == current)) continue;
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
  merge_periods(weeks_, o.weeks_);
  merge_periods(days_, o.days_);
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
