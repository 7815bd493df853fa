// The procrastination score: the chance, in [0, 1], that the user's next
// task completes late, from their behavioral signals alone (issue #5).
//
// A logistic model over a few features of BehaviorSignals plus what is
// overdue right now. Its weights are fitted by apps/coach-eval on real
// deadline data (OULAD, leave-one-module-out) and kept, versioned, in
// models/procrastination-<version>.txt; ProcrastinationModel::builtin() is
// the version this build ships.
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "base/result.h"
#include "projections/behavior_signals.h"

namespace coach::projections {

// The model's inputs, each documented with its name.
inline constexpr size_t kFeatureCount = 6;
using Features = std::array<double, kFeatureCount>;
inline constexpr std::array<std::string_view, kFeatureCount> kFeatureNames = {
    "share_late_smoothed",  // (late + overdue + 1) / (completed with due + overdue + 4)
    "share_very_late",      // completions more than 4 days late / completions with due
    "mean_lateness_days",   // mean lateness of completions, days, clipped to [-14, 14]
    "mean_tension",         // mean deadline tension, 0..2 (0 when none)
    "overdue_open",         // tasks past due and not done now, log(1 + n)
    "history",              // log(1 + completions with a due date): how much we know
};

// `overdue_open`: tasks past their due time and not completed at the moment
// of scoring (from the task book).
Features features_of(const BehaviorSignals& signals, uint64_t overdue_open);

class ProcrastinationModel {
 public:
  static const ProcrastinationModel& builtin();
  // Reads "version <v>\nbias <b>\n<feature name> <weight>\n..." (a file of
  // models/); every feature must be named once.
  static Result<ProcrastinationModel> parse(std::string_view text);
  std::string to_text() const;

  double score(const Features& x) const;  // in (0, 1)
  // How much each feature moves the log-odds from an average user's, for
  // explanations: weight * (x - reference).
  Features contributions(const Features& x) const;

  std::string version;
  double bias = 0;
  Features weights{};
  Features reference{};  // the training set's mean features
};

}  // namespace coach::projections
