// Recurring series (issue 21), the parts of the task decider that know
// their rules: checking a new series and making its next occurrence.
// Rules and rule styles: entities.proto, TaskRecurrence. Pure functions;
// used by task_book.cpp only.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/time.h"
#include "schema/commands.pb.h"
#include "schema/events.pb.h"
#include "schema/snapshots.pb.h"

namespace coach::projections {

// Longest completion-relative step: ten years.
inline constexpr uint32_t kMaxEveryDaysAfterDone = 3650;

// The recurrence of the first occurrence that `create` asks for, all of it
// filled in (series_id = the task's id, occurrence 1, series_start and
// scheduled_at = due_at); invalid_argument with why for a bad rule, an
// unknown zone, a flood, a missing due date, or fields only coach sets.
// An empty `create.recurrence().zone()` is UTC (the user decider fills in
// the profile's zone before).
Result<v1::TaskRecurrence> first_recurrence(const v1::CreateTask& create);

// The TaskCreated event (task_id and payload; envelope not stamped) of the
// occurrence that follows `finished` in `series` when it is completed or
// deleted at `now`, or nullopt when the rule has no later occurrence
// (COUNT, UNTIL, or past kEndInstantSeconds). The new task's id is derived
// from the series and the count of occurrences it has made, so the same
// history always makes the same ids and a replaced occurrence's id is
// never made again.
Result<std::optional<v1::TaskEvent>> next_occurrence(const v1::TaskSeries& series,
                                                     const v1::Task& finished,
                                                     Clock::time_point now);

// When `open`, the open occurrence of calendar-fixed `series`, is missed
// (entities.proto, TaskRecurrence): the rule's first instant after its
// scheduled_at (or its due date, if an edit moved that later, or the
// moment it was reopened) that is not before the series' pause (an instant
// right at the pause's end is taken), or the end of its own snooze if that
// is later. nullopt for an after-completion series and
// for a rule with no later instant.
Result<std::optional<Clock::time_point>> missed_at(const v1::TaskSeries& series,
                                                   const v1::Task& open);

// When `open` is missed by `now`: its TaskMissed and the TaskCreated of
// the occurrence that follows it (made_on_miss), due at the rule's latest
// instant at or before `now` (task ids and payloads; envelopes not
// stamped). Empty when `open` is not missed by `now`.
Result<std::vector<v1::TaskEvent>> roll_missed(const v1::TaskSeries& series, const v1::Task& open,
                                               Clock::time_point now);

// The id the series' next occurrence gets: derived from the series and the
// count of occurrences it has made.
std::string next_occurrence_id(const v1::TaskSeries& series);

// True for what coach appends on its own when an occurrence is missed (a
// TaskMissed, or the TaskCreated of an occurrence made_on_miss): no
// activity of the user's.
bool made_by_miss(const v1::TaskEvent& event);

// True when the occurrence is as the series made it: no edit, snooze or
// note since, so replacing it (reopen of the one before) loses nothing.
bool untouched(const v1::Task& occurrence);

}  // namespace coach::projections
