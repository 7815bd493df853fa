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

// `signals`: the user's behavioral signals, when tracking is on.
v1::Insights describe_insights(const UserProfile& profile, const TaskBook& tasks,
                               const BehaviorSignals* signals, Clock::time_point now);

}  // namespace coach::projections
