// Lateness risk per task (issue 22): P(this task is completed late, or not
// at all, | what is known at `now`), where the user-level procrastination
// score (procrastination_model.h) asks only "will the user's next task be
// late?".
//
// The inputs are the user's task book as of `now` (events at or before it;
// a task created, or a completion made, after `now` in a book that is ahead
// is ignored, but other later changes cannot be told apart, so callers pass
// the book as of `now`) and the
// population's late rate in the task's category (from all users' tasks due
// before `now`; the batch job's figure online, the evaluation's own in
// apps/coach-eval). Features, by name (kTaskRiskFeatureNames); "late" for a
// task due before `now` means completed after its due date or not completed
// by `now`; "done" tasks are those completed by `now`:
//
//   population_logit       logit of the population rate, clamped to [0.01, 0.99]
//   user_late              (late + 2 x 0.35) / (due so far + 2): the user's
//                          share, shrunk toward a population-wide 0.35
//   user_late_recent       late as an exponential average over the due tasks
//                          in due order (each new one weighs 1/2), from 0.35
//   category_late          (late in the category + 2 x user_late) / (due in
//                          it + 2): shrunk toward the user's own share
//   category_due_so_far    log(1 + tasks of the category due so far)
//   last_late              the latest due task late: 1, on time: 0, none: 0.5
//   overdue_open           log(1 + open tasks past due)
//   category_overdue_open  log(1 + open tasks of the category past due)
//   days_since_done        log(1 + days since the latest completion, or since
//                          this task was created when there is none)
//   days_early_mean        mean of (due - completed) in days, clipped to
//                          [-14, 14], over done tasks with a due date (0: none)
//   days_early_last        the same for the latest such completion
//   has_completions        1 when some task with a due date is done, else 0
//   very_late_share        done tasks more than 4 days late / done tasks with a due date
//   tension_mean           mean of (completed - created) / (due - created), clipped
//                          to [0, 2], over done tasks with a due date (0: none)
//   category_days          days since the category's first task was created, / 100
//   lead_days              log(1 + days from this task's creation to its due date)
//   days_left              log(1 + days until its due date, 0 once passed)
//   priority               priority / 4
//   task_snoozes           log(1 + snoozes of this task)
//   task_edits             log(1 + edits of this task)
//   due_close              log(1 + other open tasks, not yet due at `now`, due
//                          within 3 days of it)
//
// A task without a due date has no lateness: risk_features answers nullopt.
// Pure; O(n log n) in the book's tasks per call.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "projections/logistic_model.h"
#include "projections/task_book.h"
#include "schema/snapshots.pb.h"

namespace coach::projections {

inline constexpr size_t kTaskRiskFeatureCount = 21;
using TaskRiskFeatures = std::array<double, kTaskRiskFeatureCount>;
inline constexpr std::array<std::string_view, kTaskRiskFeatureCount> kTaskRiskFeatureNames = {
    "population_logit",    "user_late",       "user_late_recent", "category_late",
    "category_due_so_far", "last_late",       "overdue_open",     "category_overdue_open",
    "days_since_done",     "days_early_mean", "days_early_last",  "has_completions",
    "category_days",       "lead_days",       "days_left",        "priority",
    "task_snoozes",        "task_edits",      "due_close",        "very_late_share",
    "tension_mean",
};
static_assert(kTaskRiskFeatureNames.back() == "tension_mean", "a name for every feature");

// The late rate assumed where nothing is known (no population figure, no
// history): about the share of late tasks over the OULAD modules.
inline constexpr double kPriorLateRate = 0.35;

// The population's late rates per category, from every (tracked) user's
// tasks with a due date: a task's outcome is known once it is due (late:
// not completed by then). Add every task, seal, then ask.
class PopulationRates {
 public:
  void add(const std::string& category, Clock::time_point due, bool late);
  void seal();
  // (late + 20 x kPriorLateRate) / (due + 20) over the category's tasks due
  // before `now`: a population figure stays near the prior until it means
  // something. kPriorLateRate for a category nobody has.
  double rate(const std::string& category, Clock::time_point now) const;

 private:
  std::map<std::string, std::vector<std::pair<Clock::time_point, bool>>, std::less<>> by_category_;
  std::map<std::string, std::vector<double>, std::less<>> late_before_;
};

// Every dated, not deleted task of `book` into `rates` (late: not completed
// by its due date).
void add_population(PopulationRates& rates, const TaskBook& book);

// The population's late rates by category, for the online risk (the batch
// job's full run; coach-eval and coach-replay use PopulationRates, which
// answers as of any instant). Add every tracked user's book, then ask.
// Late: not completed by the due date. A category counts only once
// kMinUsersPerCategory users have a task of it due: with fewer, its rate
// would tell a user about a few others (any user can name a category);
// their tasks count in `overall` alone, itself used only from that many
// users on (population_rate).
inline constexpr uint32_t kMinUsersPerCategory = 10;
class PopulationTally {
 public:
  // The user's tasks changed at or after `since` (when they turned
  // tracking on: nothing before is learned from).
  void add_user(const TaskBook& book, Clock::time_point now, Clock::time_point since = {});
  v1::PopulationRatesState rates(Clock::time_point now) const;

 private:
  struct Counts {
    uint32_t due = 0, late = 0, users = 0;
  };
  std::map<std::string, Counts, std::less<>> by_category_;
  Counts overall_;
};

// The rate the risk of a task of `category` at `now` uses: the category's
// when the state has it, else the overall one; the model's neutral rate
// (below) when there is no state (nullptr), it counted fewer than
// kMinUsersPerCategory users, or it was counted after `now` (no look-ahead
// for a past instant).
double population_rate(const v1::PopulationRatesState* rates, const std::string& category,
                       const LogisticModel& model, Clock::time_point now);

// What the user's other tasks say at an instant, the features' inputs
// beside the task itself. risk_features gathers it from a book in O(n);
// RiskTracker (risk_tracker.h) keeps it up to date one event at a time.
// "Due" tasks are those due strictly before the instant.
struct RiskHistory {
  uint32_t due = 0, late = 0;      // tasks due so far, and how many of them late
  double recent = kPriorLateRate;  // late, exponential average in (due, late) order
  std::optional<bool> last_late;   // of the due task latest in that order
  uint32_t category_due = 0, category_late = 0;
  uint32_t overdue_open = 0, category_overdue_open = 0;
  uint32_t due_close = 0;  // other open tasks not yet due, due within 3 days of the task
  std::optional<Clock::time_point> last_done, category_first;
  double early_sum = 0, tension_sum = 0;  // over done tasks with a due date
  uint32_t early_count = 0, very_late = 0;
  std::optional<double> early_last;  // days early of the latest completion
};

// Two due dates are "close" (due_close) when this near.
inline constexpr auto kDueCloseWindow = std::chrono::hours(72);

// The features of `task` given its history: the one formula both ways of
// gathering the history share.
TaskRiskFeatures risk_features(const RiskHistory& history, const v1::Task& task,
                               Clock::time_point now, double population_rate);

// The features of `task` (a task of `book`) at `now`, given the
// population's late rate in its category; nullopt when it has no due date.
std::optional<TaskRiskFeatures> risk_features(const TaskBook& book, const v1::Task& task,
                                              Clock::time_point now, double population_rate);

// The lateness risk of `task` at `now` by `model`: 1 for an open task past
// its due date (late for certain), the model's score of risk_features for
// an open task due later, nullopt for a task that is not open at `now`
// (done, missed, deleted) or has no due date.
std::optional<double> task_risk(const LogisticModel& model, const TaskBook& book,
                                const v1::Task& task, Clock::time_point now,
                                double population_rate);

// The lateness model this build ships (models/lateness-v1.txt, compiled in).
const LogisticModel& builtin_lateness_model();

// The population rate that moves `model`'s risk neither way (its training
// mean): what coach passes where it has no population figure for a category.
double neutral_population_rate(const LogisticModel& model);

// A task's risk as task views carry it (issue 22).
struct TaskRisk {
  double risk = 0;                   // P(late), in [0, 1]
  std::vector<std::string> reasons;  // plain words, the strongest first
};

// Why `model` gives `task` the risk it does, in plain words: the (at most)
// `count` features that move the log-odds most away from the training
// mean's (LogisticModel::contributions; those moving it by less than 0.1
// are left out), strongest first, each saying whether it raises or lowers
// the risk, e.g. "2 tasks are overdue (raises the risk)".
std::vector<std::string> explain_risk(const LogisticModel& model, const TaskRiskFeatures& x,
                                      const v1::Task& task, size_t count = 3);

}  // namespace coach::projections
