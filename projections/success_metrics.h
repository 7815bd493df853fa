// Success metrics (issue 23; docs/metrics.md): how coach is judged, from
// one user's log, exact and recomputable as of any past instant. Pure: the
// same events and instant give the same figures.
//
// Weeks are ISO weeks (Monday 00:00 to the next Monday 00:00) of the user's
// local calendar, in their time zone as it was at each moment (a move
// changes the zone from then on: the week open then ends at the new zone's
// Monday 00:00, having begun where the week before ended, so no instant is
// in two weeks or none); across a DST change a week is as long as real time
// says (167 or 169 hours). Only events at or before `as_of`
// count. Definitions, per week:
//
//   active            the user did something themself in the week
//                     (user_initiated below): coach's own sends never count
//   completion rate   completed / due: of the tasks (not deleted) due in the
//                     week, by their due date at the week's end, those
//                     completed by then
//   overdue share     overdue / open_with_due at the week's end (or as_of):
//                     open (pending, snoozed) tasks more than 24 h past due,
//                     over open tasks with a due date
//   snooze rate       snoozes in the week / tasks created in it
//   long snooze chains open tasks at the week's end snoozed 3 times or more
//   nudge engagement  of the nudges delivered in the week whose 2 h have
//                     passed by as_of, the share followed by a task action of
//                     the user's (a user-initiated task event) within 2 h
//
//   misfires          of the nudges delivered in the week, those that were
//                     stale when replayed at their delivery time (the
//                     delivery report's delivered_at): the open task they
//                     are about (overdue, deadline_approaching,
//                     repeated_snooze) completed or deleted by then, or
//                     snoozed past it; outside the
//                     user's notification window then; a duplicate (the
//                     notification delivered before, or a nudge of the same
//                     cooldown key, trigger and task, written less than 1 h
//                     after one delivered before it: every trigger's
//                     cooldown is longer); or
//                     late (delivered more than 1 h after it was written).
//                     One nudge counts once, under its first reason in
//                     this order.
//
// Days are the user's local calendar days (midnight to midnight; 23 or 25
// hours on a DST day), with the same figures over a day instead of a week
// (active: a daily active user); only the last kMetricDays of them are
// kept, the day as_of is in the last (a live figure, not a history: weeks
// are that).
//
// and over the whole log: the first active week (the retention cohort), the
// usefulness ratings of nudges by the mode they were written in and the
// persona the user had then (the latest rating of each nudge counts), and
// nudge engagement by that persona (persona engagement).
//
// Aggregates over users (MetricsTally) sum each week's counts over the users
// with that week, each in their own local calendar; the rates are the sums'
// ratios. Retention: a cohort is the users first active in a week; week k of
// it, those of them active k weeks later, for the weeks that are over (the
// week as_of is in is no column yet: its figures are partial; week 0 is
// always there). Drop-off after onboarding: of a
// cohort's users whose two weeks after the first are over, those active in
// neither.
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/time.h"
#include "schema/commands.pb.h"
#include "schema/events.pb.h"

namespace coach::projections {

struct IsoWeek {
  int year = 0;       // the ISO week-numbering year
  unsigned week = 0;  // 1 to 53
  auto operator<=>(const IsoWeek&) const = default;
};

// The ISO week of instant `t` in IANA zone `zone` (unknown: UTC).
IsoWeek iso_week_of(Clock::time_point t, const std::string& zone);

// A day of a local calendar.
struct LocalDay {
  int year = 0;
  unsigned month = 0, day = 0;  // 1 to 12, 1 to 31
  auto operator<=>(const LocalDay&) const = default;
};

// The local day of instant `t` in IANA zone `zone` (unknown: UTC).
LocalDay local_day_of(Clock::time_point t, const std::string& zone);

// How many days UserMetrics::days keeps.
inline constexpr size_t kMetricDays = 28;

struct WeekFigures {
  bool active = false;
  uint32_t due = 0, completed = 0;
  uint32_t created = 0, snoozes = 0;
  uint32_t open_with_due = 0, overdue = 0;
  uint32_t long_snooze_chains = 0;
  uint32_t nudges_delivered = 0, nudges_engaged = 0;
  // Misfires among the nudges delivered, by reason (MisfireReason).
  uint32_t misfires = 0;
  std::map<std::string, uint32_t> misfires_by_reason;
  // The rates; nullopt when their denominator is 0.
  std::optional<double> completion_rate() const;
  std::optional<double> overdue_share() const;
  std::optional<double> snooze_rate() const;
  std::optional<double> nudge_engagement() const;
  std::optional<double> misfire_rate() const;
  void add(const WeekFigures& other);  // sums the counts; active if either is
  bool operator==(const WeekFigures&) const = default;
};

struct RatingFigures {
  uint32_t count = 0;
  double sum = 0;  // of usefulness, 1 to 5
  bool operator==(const RatingFigures&) const = default;
};

struct EngagementFigures {
  uint32_t delivered = 0, engaged = 0;
  bool operator==(const EngagementFigures&) const = default;
};

struct UserMetrics {
  // Every week from the first event's to as_of's, weeks without events too.
  std::map<IsoWeek, WeekFigures> weeks;
  // The same figures by local day: every day from the first event's to
  // as_of's, but only the last kMetricDays of them.
  std::map<LocalDay, WeekFigures> days;
  std::optional<IsoWeek> first_active;  // the retention cohort
  std::map<std::pair<v1::CoachingMode, v1::PersonaType>, RatingFigures> ratings;
  std::map<v1::PersonaType, EngagementFigures> persona_engagement;
  bool operator==(const UserMetrics&) const = default;
};

// The misfire reasons, in the order they are checked.
inline constexpr std::string_view kMisfireReasons[] = {
    "task_done", "task_deleted", "task_snoozed", "outside_window", "duplicate", "late"};
inline constexpr auto kMisfireTolerance = std::chrono::hours(1);
inline constexpr auto kDuplicateWithin = std::chrono::hours(1);

// The ISO week `k` weeks after `w` (k may be negative), and how many weeks
// `to` is after `from`.
IsoWeek weeks_after(IsoWeek w, int k);
int weeks_between(IsoWeek from, IsoWeek to);

// Whether the user did this (a command of theirs), not coach on its own:
// false for nudges written, decided and delivered, failed notifications, misses
// coach recorded and the occurrences it made for them, and preferences
// coach changed (persona adaptation, a reason set).
bool user_initiated(const v1::TaskEvent& event);

// A task action of the user's: a user-initiated task event (created,
// edited, snoozed, completed, deleted, reopened, restored, noted). What
// nudge engagement and the nudge trial's outcome count.
bool task_action(const v1::TaskEvent& event);

// The metrics of one user's log (in sequence order) as of `as_of`.
UserMetrics user_metrics(std::span<const v1::TaskEvent> log, Clock::time_point as_of);

// What a user's figures after `as_of` still depend on while their log gets
// no new events (the incremental update): an unchanged user's metrics at a
// later instant come from it alone, without reading the log again; a user
// with new events is folded anew. Small beside the log: the figures so far,
// the tasks later weeks can still count, the deliveries whose 2 h are not
// over.
struct MetricsCarry {
  Clock::time_point as_of{};
  // How many events of the log it folded: those before the first one after
  // as_of. A log that has more is not unchanged.
  size_t events = 0;
  // The weeks and days that ended by as_of, closed; the current week's and
  // day's counts of events; the deliveries whose 2 h were over by as_of;
  // the ratings.
  UserMetrics so_far;
  std::optional<IsoWeek> current;  // the week as_of is in; none: no events
  std::optional<LocalDay> today;   // the day as_of is in; none: no events
  // When they began: where the period before ended (a period ends in the
  // zone of its end), so that a move leaves no instant in no period.
  Clock::time_point week_started{}, day_started{};
  std::string zone;  // the user's zone after the last event
  // A task later weeks can count: not deleted, with a due, and open or due
  // from the current week (or day, when it began earlier) on.
  struct DueTask {
    Clock::time_point due, completed_at;
    bool open = false;  // pending or snoozed, and so for good: no events come
    bool completed = false;
    uint32_t snooze_count = 0;
  };
  std::vector<DueTask> tasks;
  // A delivery whose 2 h were not over by as_of, judged (misfire) already.
  struct OpenDelivery {
    Clock::time_point at;  // when its report was logged
    IsoWeek week;
    LocalDay day;
    bool engaged = false;
    v1::PersonaType persona = v1::PERSONA_TYPE_UNSPECIFIED;
    std::string misfire;  // the first reason, or empty
  };
  std::vector<OpenDelivery> deliveries;
};

// The carry of one user's log (in sequence order) as of `as_of`.
MetricsCarry metrics_carry(std::span<const v1::TaskEvent> log, Clock::time_point as_of);

// The metrics as of `as_of` of the log `carry` was made from, when it has no
// events beyond carry.events: user_metrics(log, as_of), for as_of at or
// after carry.as_of (earlier instants give the figures as of carry.as_of).
// user_metrics(log, t) is user_metrics(metrics_carry(log, t), t).
UserMetrics user_metrics(const MetricsCarry& carry, Clock::time_point as_of);

struct CohortFigures {
  uint32_t users = 0;
  std::vector<uint32_t> active;  // [k]: active k weeks after the first (k = 0: all)
  uint32_t dropoff_known = 0, dropped_off = 0;
};

// Every user's metrics, summed (aggregates only: no user's figures are kept).
class MetricsTally {
 public:
  void add(const UserMetrics& m);
  // Adds another tally's users (of other users: a cluster node's partitions).
  void merge(const MetricsTally& other);
  struct Week {
    uint32_t users = 0;         // with this week in their metrics
    uint32_t active_users = 0;  // weekly active users
    WeekFigures sums;
  };
  const std::map<IsoWeek, Week>& weeks() const { return weeks_; }
  // The same by local day (users: with this day in their metrics; active
  // users: daily active users).
  const std::map<LocalDay, Week>& days() const { return days_; }
  const std::map<IsoWeek, CohortFigures>& cohorts() const { return cohorts_; }
  // Ratings by (mode, persona) and persona engagement, with how many users
  // gave them (for a minimum group size).
  struct Rated {
    RatingFigures figures;
    uint32_t users = 0;
  };
  const std::map<std::pair<v1::CoachingMode, v1::PersonaType>, Rated>& ratings() const {
    return ratings_;
  }
  struct Engaged {
    EngagementFigures figures;
    uint32_t users = 0;
  };
  const std::map<v1::PersonaType, Engaged>& persona_engagement() const { return personas_; }
  uint32_t users() const { return users_; }

 private:
  uint32_t users_ = 0;
  std::map<IsoWeek, Week> weeks_;
  std::map<LocalDay, Week> days_;
  std::map<IsoWeek, CohortFigures> cohorts_;
  std::map<std::pair<v1::CoachingMode, v1::PersonaType>, Rated> ratings_;
  std::map<v1::PersonaType, Engaged> personas_;
};

}  // namespace coach::projections
