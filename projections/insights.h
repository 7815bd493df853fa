// What coach tells a user it has learned about them (transparency). Pure:
// computed from the user's projections. With behavioral tracking off it
// reports that nothing is computed, and nothing is.
#pragma once

#include <chrono>

#include "projections/behavior_signals.h"
#include "projections/task_book.h"
#include "projections/user_profile.h"
#include "schema/commands.pb.h"

namespace coach::projections {

// The spec's FeatureSnapshot from the user's signals, now: score of the
// shipped model, snooze rate, mean completion latency (hours after the due
// time), burstiness; mode_cluster -1 until clustering exists.
v1::FeatureSnapshot feature_snapshot(const BehaviorSignals& signals, const TaskBook& tasks,
                                     const std::string& user_id, uint64_t as_of_sequence,
                                     Clock::time_point now);

// `signals`: the user's behavioral signals, when tracking is on.
v1::Insights describe_insights(const UserProfile& profile, const TaskBook& tasks,
                               const BehaviorSignals* signals, Clock::time_point now);

}  // namespace coach::projections
