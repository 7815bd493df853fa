// RiskTracker: the lateness risk's view of one user's tasks (RiskHistory,
// lateness_risk.h), kept up to date as events come (issue 22), so that the
// user actor scores a task without scanning the book.
//
// It keeps, per task that exists (not deleted), its category, creation, due
// and completion, and the sums RiskHistory needs as of `as_of()`. Costs, n
// the user's tasks:
// - update (one task's change): O(log n). The changes that rewrite the
//   outcome of a task already due (deleted, its due date or category
//   changed) or add one out of due
//   order (a task created or moved to a due date before the latest one
//   counted) rebuild the sums in O(n log n) instead, since the recency
//   average depends on the order; `rebuilds()` counts them. Completing an
//   overdue task keeps its outcome (late) and needs none.
// - advance (time passes): O(log n) per task whose due date it passes.
// - at (the sums at a later instant, without changing the tracker): a copy
//   of the sums (per category) plus O(log n) per due date passed since.
// - features: O(log n + k), k the open tasks due within 3 days of the task.
//
// The answers equal risk_features(book, task, now, rate) over the book as
// of `now` (tests/risk_tracker_test.cpp checks this on random histories),
// up to the order floating-point sums are added in.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "projections/lateness_risk.h"
#include "projections/task_book.h"

namespace coach::projections {

class RiskTracker {
 public:
  // The order-dependent and time-dependent sums as of one instant: the
  // counts of tasks due so far (overall and per category) and the
  // completion sums of RiskHistory.
  struct CategorySums {
    uint32_t due = 0, late = 0, overdue_open = 0;
  };
  struct Sums {
    RiskHistory user;  // only the counts, recent, last_late and completion sums
    std::optional<std::pair<Clock::time_point, bool>> last_due;  // (due, late), latest
    std::map<std::string, CategorySums, std::less<>> categories;
  };

  // Every task of `book` (a book as of `now`: nothing in it later) changed
  // at or after `since` (updated_at), at `now`. Fed the events after
  // `since` one by one, a tracker begun empty then holds the same tasks.
  static RiskTracker of(const TaskBook& book, Clock::time_point now, Clock::time_point since = {});

  // Task `id` is now `task` (as the book holds it after an event at `at`;
  // nullptr or a deleted task: gone). Moves time to `at` first (advance).
  void update(const std::string& id, const v1::Task* task, Clock::time_point at);
  // Time is `now`: tasks whose due date is before it count as due. An
  // earlier `now` changes nothing (time does not go back).
  void advance(Clock::time_point now);

  Clock::time_point as_of() const { return as_of_; }
  // The sums at `now` (>= as_of(); an earlier one answers as of as_of()).
  Sums at(Clock::time_point now) const;

  // The features of an open `task` not yet due at `now` given `sums` (from
  // at(now)); nullopt for a task without due date, done, or due before `now`.
  // A `now` before as_of() is taken as as_of(), as at() does.
  std::optional<TaskRiskFeatures> features(const Sums& sums, const v1::Task& task,
                                           Clock::time_point now, double population_rate) const;

  // The risk of `task` at `now` as task views carry it: nullopt for a task
  // not open (pending or snoozed) at `now` or without a due date; 1, "it is
  // past its due date", for an open one past due; else `model`'s score of
  // its features, with explain_risk's reasons.
  std::optional<TaskRisk> assess(const Sums& sums, const LogisticModel& model, const v1::Task& task,
                                 Clock::time_point now, double population_rate) const;

  uint64_t rebuilds() const { return rebuilds_; }
  size_t size() const { return facts_.size(); }

 private:
  struct Facts {
    std::string category;
    Clock::time_point created;
    std::optional<Clock::time_point> due, done;
    bool late() const { return !done || *done > *due; }  // of a task with a due date
  };
  static std::optional<Facts> facts_of(const v1::Task* task);

  void add(const std::string& id, const Facts& f, bool count_outcome);
  void remove(const std::string& id, const Facts& f, bool count_outcome);
  // Counts a task due before `as_of` into `sums`; false when it comes
  // before the latest one counted (the average then needs a rebuild).
  static bool add_outcome(Sums& sums, const Facts& f);
  // Counts the tasks not yet due at as_of() that are due before `now`, in
  // (due, late) order; the end of those passed in not_yet_due_.
  std::set<std::pair<Clock::time_point, std::string>>::const_iterator pass_due_dates(
      Sums& sums, Clock::time_point now) const;
  void rebuild();

  Clock::time_point as_of_{};
  std::unordered_map<std::string, Facts> facts_;
  Sums sums_;
  std::set<std::pair<Clock::time_point, std::string>> not_yet_due_;  // (due, id)
  std::multiset<Clock::time_point> open_dues_;                       // of tasks not done
  std::multiset<Clock::time_point> done_at_;
  // Done tasks with a due date by (completed, due, id): the latest is last.
  std::set<std::tuple<Clock::time_point, Clock::time_point, std::string>> done_with_due_;
  std::map<std::string, std::multiset<Clock::time_point>, std::less<>> created_by_category_;
  bool stale_ = false;
  uint64_t rebuilds_ = 0;
};

}  // namespace coach::projections
