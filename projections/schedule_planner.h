// SchedulePlanner: when to work on each pending task (issue #6). Pure: the
// same request gives the same plan.
//
// Free time is the user's work hours (local time in their IANA zone, DST
// correct: a window's start and end are converted separately, so a window
// that spans a clock change is as long as real time says) from now to the
// planning horizon, minus blocks the user already accepted (kept as they
// are). The planning horizon is kPlanningHorizon (60 days), or the request's
// horizon when that is longer; the plan shows the blocks that end within the
// request's horizon. So a shorter horizon shows the first days of the same
// plan (the 3-day plan is the 14-day plan's first 3 days, same blocks and
// confidences), and the tasks at risk are the same for every horizon up
// to the planning horizon.
//
// Tasks are planned earliest deadline first (then priority, then age):
// - need = estimated_minutes, or the learned default of the task's category
//   (learned_estimates), minus minutes of its accepted blocks.
// - target = due - buffer, buffer = min(48 h x p, 25% of the time until
//   due), p the task's lateness risk (issue 22) when the request has one,
//   else the user's procrastination score: tasks likely to end late get
//   blocks that end by the target first (below); the target also sets a
//   block's slack. Work may use time up to the due itself.
// - chunks of up to max_chunk minutes, each placed whole on the earliest
//   local day that has a free stretch holding it: no work waits for a later
//   day while an earlier one has room for it, and a task of up to max_chunk
//   minutes that one free stretch holds is one block, never split across
//   days. Only a chunk that no stretch before its due (or the planning
//   horizon) holds whole is split, into the earliest stretches, in pieces
//   of at least min_chunk minutes (a last piece may be shorter).
// - an abandoned task (task_book.h: over 30 days past due) is left out.
// - a snoozed task gets no time before its snooze ends (snoozed_until); one
//   snoozed past its due is at risk.
// - within the day a chunk goes to, the start is chosen among the starts of
//   its free stretches and the full local hours in them: one that ends by
//   the target first, then the hour at which the user accepts blocks most
//   (Laplace: (a + 1) / (a + r + 2)) and, for demanding tasks (priority >= 3
//   or >= 90 minutes), their rhythm (completions by local hour); the earliest
//   on ties. Preferences choose the hour, never the day. The plan that
//   prefers is kept only if it leaves no more minutes unplanned than the
//   plain plan (each chunk at its day's first fitting stretch), which places
//   everything before its due whenever chunking allows.
// - so accepting a block of a plan and replanning moves no other work to a
//   later day while that day has room for it: the block's time was its
//   task's already, and the higher acceptance of its hour only changes which
//   hour of a day work takes.
// - what cannot be placed before its due (or the planning horizon) is at
//   risk, with a suggestion; work without a due date that does not fit the
//   request's horizon is only counted.
// - a task that fits but whose lateness risk is at least kLikelyLate is at
//   risk too (minutes_short 0), with the suggestion to start on it early.
//
// Confidence of a block, in [0.05, 0.95]: 0.5 x acceptance rate at its local
// hour + 0.25 x rhythm at that hour (share of the busiest hour's completions;
// 0.5 without data) + 0.25 x slack (time left between its end and the
// target, as a share of the time from now to the target; 1 without due).
#pragma once

#include <array>
#include <chrono>
#include <string>
#include <unordered_map>
#include <vector>

#include "projections/task_book.h"
#include "schema/entities.pb.h"

namespace coach::projections {

struct TimeBlock {
  std::string task_id;
  Clock::time_point start, end;
  double confidence = 0;
};

// Accepted and rejected blocks by local hour of their start.
struct HourFeedback {
  std::array<uint32_t, 24> accepted{}, rejected{};
  double acceptance(int hour) const;
};

struct PlanRequest {
  v1::WorkHours work_hours;  // no windows: Monday to Friday, 09:00 to 17:00
  std::string time_zone = "UTC";
  Clock::time_point now;
  std::chrono::hours horizon{24 * 14};  // of the plan shown (see kPlanningHorizon)
  std::vector<v1::Task> tasks;          // pending or snoozed ones are planned
  std::vector<TimeBlock> accepted;      // kept; their time is not free
  double procrastination = 0;           // the user's score, 0 to 1
  // Per task id, its lateness risk (0 to 1; tracked users): buffers and
  // at-risk flags use it; a task without one uses `procrastination`.
  std::unordered_map<std::string, double> lateness_risk;
  std::array<uint32_t, 24> rhythm{};  // completions by local hour
  HourFeedback feedback;
  std::unordered_map<std::string, int> category_minutes;  // learned_estimates
  int min_chunk_minutes = 30, max_chunk_minutes = 120;
};

struct AtRisk {
  std::string task_id;
  Clock::time_point due;
  int minutes_short = 0;      // of its need, what finds no time before its due
  double lateness_risk = -1;  // the request's figure for it; -1: none
  std::string suggestion;     // defer which, shorten which, drop which
};

struct Plan {
  std::vector<TimeBlock> blocks;  // by start time
  std::vector<AtRisk> at_risk;
  int free_minutes = 0;       // work time from now to the horizon, accepted blocks excluded
  int planned_minutes = 0;    // of new blocks
  int unplanned_minutes = 0;  // of tasks without a due date, not within the horizon
};

inline constexpr int kDefaultEstimateMinutes = 60;

// A task this likely to end late is at risk even when its work fits.
inline constexpr double kLikelyLate = 0.5;

// A plan is made this far ahead (schedule.get's longest horizon) or as far
// as the request's horizon if that is longer, and shows the blocks that end
// within the request's horizon.
inline constexpr std::chrono::hours kPlanningHorizon{24 * 60};

// Per category, the median of the estimates the user gave its tasks;
// categories without estimates are absent (the planner then uses
// kDefaultEstimateMinutes, one hour).
std::unordered_map<std::string, int> learned_estimates(const TaskBook& book);

// The free work intervals between from and to, in UTC, sorted.
std::vector<std::pair<Clock::time_point, Clock::time_point>> work_intervals(
    const v1::WorkHours& hours, const std::string& time_zone, Clock::time_point from,
    Clock::time_point to);

Plan plan_schedule(const PlanRequest& request);

// The local hour (0-23) of an instant in an IANA zone (unknown zones: UTC).
int local_hour_in(const std::string& time_zone, Clock::time_point t);

// The local calendar day of an instant in an IANA zone (unknown zones: UTC),
// as days since 1970-01-01: the "day" of a block is the day it starts.
int64_t local_day_in(const std::string& time_zone, Clock::time_point t);

}  // namespace coach::projections
