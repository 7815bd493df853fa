// Recurring series (issue 21), the parts of the task decider that know
// their rules: checking a new series and making its next occurrence.
// Rules and rule styles: entities.proto, TaskRecurrence. Pure functions;
// used by task_book.cpp only.
#pragma once

#include <optional>

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

// True when the occurrence is as the series made it: no edit, snooze or
// note since, so replacing it (reopen of the one before) loses nothing.
bool untouched(const v1::Task& occurrence);

}  // namespace coach::projections
