// ScheduleBook: what the user did with coach's time blocks (issue #6), as a
// pure fold, with the deciders for accepting and rejecting a block and the
// schedule served to the user (schedule_planner.h plans it).
//
// Accepted blocks are kept until their task is completed or deleted; every
// accept and reject counts for the local hour (user's zone at the time) of
// the block's start, and later plans prefer hours the user accepts.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "base/result.h"
#include "projections/schedule_planner.h"
#include "schema/commands.pb.h"
#include "schema/snapshots.pb.h"

namespace coach::projections {

struct UserState;

struct ScheduleBook {
  std::vector<TimeBlock> accepted;
  HourFeedback feedback;

  v1::ScheduleBookState to_state() const;
  static ScheduleBook from_state(const v1::ScheduleBookState& state);
};

// Folds one event; `time_zone` is the user's, for the hour of a block.
void evolve(ScheduleBook& book, const v1::TaskEvent& event, const std::string& time_zone);

// The RecommendationAccepted event, or why not: invalid_argument (bad
// times, a block longer than 12 hours or more than a year ahead, ended
// already), not_found (unknown task), conflict (task not pending or
// snoozed, or the block overlaps one accepted before).
Result<std::vector<v1::TaskEvent>> decide_accept(const UserState& state,
                                                 const v1::AcceptRecommendation& command,
                                                 Clock::time_point now);
// The RecommendationRejected event, or why not (as above, overlap allowed).
Result<std::vector<v1::TaskEvent>> decide_reject(const UserState& state,
                                                 const v1::RejectRecommendation& command,
                                                 Clock::time_point now);

// The user's schedule now: a plan over `horizon_days` (0: 14) of their
// pending tasks, with their accepted blocks and what is at risk.
Result<v1::Schedule> schedule_view(const UserState& state, uint32_t horizon_days,
                                   Clock::time_point now);

// The id of a recommended block: derived from task and times, so the same
// block keeps its id from one plan to the next.
std::string recommendation_id(const std::string& task_id, Clock::time_point start,
                              Clock::time_point end);

}  // namespace coach::projections
