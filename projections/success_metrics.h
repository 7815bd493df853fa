// Success metrics (issue 23; docs/metrics.md): how coach is judged, from
// one user's log, exact and recomputable as of any past instant. Pure: the
// same events and instant give the same figures.
//
// Weeks are ISO weeks (Monday 00:00 to the next Monday 00:00) of the user's
// local calendar, in their time zone as it was at each moment (a move
// changes the zone from then on); across a DST change a week is as long as
// real time says (167 or 169 hours). Only events at or before `as_of`
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
// and over the whole log: the first active week (the retention cohort) and
// the usefulness ratings of nudges by the mode they were written in and the
// persona the user had then (the latest rating of each nudge counts).
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <utility>

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

struct WeekFigures {
  bool active = false;
  uint32_t due = 0, completed = 0;
  uint32_t created = 0, snoozes = 0;
  uint32_t open_with_due = 0, overdue = 0;
  uint32_t long_snooze_chains = 0;
  uint32_t nudges_delivered = 0, nudges_engaged = 0;
  // The rates; nullopt when their denominator is 0.
  std::optional<double> completion_rate() const;
  std::optional<double> overdue_share() const;
  std::optional<double> snooze_rate() const;
  std::optional<double> nudge_engagement() const;
};

struct RatingFigures {
  uint32_t count = 0;
  double sum = 0;  // of usefulness, 1 to 5
};

struct UserMetrics {
  // Every week from the first event's to as_of's, weeks without events too.
  std::map<IsoWeek, WeekFigures> weeks;
  std::optional<IsoWeek> first_active;  // the retention cohort
  std::map<std::pair<v1::CoachingMode, v1::PersonaType>, RatingFigures> ratings;
};

// Whether the user did this (a command of theirs), not coach on its own:
// false for nudges written, decided and delivered, failed notifications, misses
// coach recorded and the occurrences it made for them, and preferences
// coach changed (persona adaptation, a reason set).
bool user_initiated(const v1::TaskEvent& event);

// The metrics of one user's log (in sequence order) as of `as_of`.
UserMetrics user_metrics(std::span<const v1::TaskEvent> log, Clock::time_point as_of);

}  // namespace coach::projections
