// BehaviorSignals: how a user works, folded from their events in O(1) per
// event (issue #5). Pure: the same events give the same signals. The caller
// passes each event with the state of its task just before the event (from
// the TaskBook), so the signals keep no copy of the tasks.
//
// Formulas (hours are real hours; "local" is the user's IANA time zone):
// - lateness of a completion with a due date: completed_at - due_at, in
//   hours (negative: early). Kept as count, mean and variance (Welford).
//   late: lateness > 0; very late: lateness > 96 h (4 days).
// - share_late = late / completions with a due date; share_very_late alike.
// - snooze_rate = snoozes / tasks created; edit_rate = edits / tasks created;
//   postponements: edits that moved a due date later.
// - deadline tension of a completion with a due date: (completed_at -
//   created_at) / (due_at - created_at), clipped to [0, 2]: 0 done at once,
//   1 done right at the deadline, above 1 late. Kept as mean.
// - activity gaps: hours between consecutive events (mean, variance, max);
//   burstiness = (sigma - mu) / (sigma + mu) in [-1, 1] (Goh and Barabasi):
//   -1 regular, 0 random, near 1 bursty.
// - rhythm: completions per local hour of day (24) and weekday (7, Monday 0).
// - categories: per category, tasks created, completed, completed late.
// - series: the same per recurring series (by series id): each occurrence
//   is a task as any other in every signal above, and its series groups
//   them as a category does (how late the weekly review tends to be).
//   An occurrence coach closed as missed (TaskMissed) counts as missed,
//   overall, in its category and in its series; what coach appends on its
//   own for a miss (task_series.h, made_by_miss) is no activity of the
//   user's: no activity gap, though the new occurrence is a task created.
// - tags and notes teach nothing: a TaskNoteAdded, and a TaskModified that
//   changes only TASK_FIELD_TAGS, are skipped whole (no edit, no activity
//   gap), so signals are what they were before tags and notes existed.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <unordered_map>

#include "schema/commands.pb.h"
#include "schema/events.pb.h"
#include "schema/snapshots.pb.h"

namespace date {
class time_zone;
}

namespace coach::projections {

// Count, mean and variance of a stream of numbers, one update at a time.
struct RunningStats {
  uint64_t count = 0;
  double mean = 0;
  double m2 = 0;  // sum of squared deviations (Welford)
  void add(double x);
  double variance() const { return count > 1 ? m2 / static_cast<double>(count - 1) : 0; }
};

struct CategoryCounts {
  uint32_t created = 0;
  uint32_t completed = 0;
  uint32_t late = 0;
  uint32_t missed = 0;
};

class BehaviorSignals {
 public:
  // Which local time rhythm is counted in; UTC until set. Unknown names
  // keep the previous zone.
  void set_time_zone(const std::string& iana_name);

  uint64_t tasks_created = 0;
  uint64_t completions = 0;
  uint64_t completions_with_due = 0;
  uint64_t late = 0;
  uint64_t very_late = 0;
  uint64_t snoozes = 0;
  uint64_t edits = 0;
  uint64_t postponements = 0;
  uint64_t missed = 0;
  RunningStats lateness_hours;
  RunningStats tension;
  RunningStats gap_hours;
  double longest_gap_hours = 0;
  int64_t last_event_seconds = 0;  // Unix time of the last event; 0: none
  std::array<uint32_t, 24> completions_by_hour{};
  std::array<uint32_t, 7> completions_by_weekday{};
  std::unordered_map<std::string, CategoryCounts> categories;
  std::unordered_map<std::string, CategoryCounts> series;

  // Snapshot state, and back (the time zone travels with it).
  v1::BehaviorSignalsState to_state() const;
  static BehaviorSignals from_state(const v1::BehaviorSignalsState& state);

  double share_late() const;
  double share_very_late() const;
  double snooze_rate() const;
  double edit_rate() const;
  double burstiness() const;

 private:
  friend void evolve(BehaviorSignals&, const v1::TaskEvent&, const v1::Task*);
  // Local hour and weekday of a UTC instant; caches the zone's current
  // offset period, so most events need no time zone lookup at all.
  std::pair<int, int> local_hour_weekday(int64_t unix_seconds);

  std::string zone_name_ = "UTC";
  const date::time_zone* zone_ = nullptr;
  int64_t offset_begin_ = 1, offset_end_ = 0;  // cached period [begin, end)
  int64_t offset_seconds_ = 0;
};

// Folds one event. `task_before` is the event's task as it was before the
// event (nullptr for a new task or an event about no task).
void evolve(BehaviorSignals& signals, const v1::TaskEvent& event, const v1::Task* task_before);

}  // namespace coach::projections
