// UserState: everything coach folds from one user's events (profile, tasks,
// behavioral signals), as one pure fold. The user actor, the batch job and
// the analysts' replay all fold users through this, so they agree.
//
// Behavioral signals exist only while the user has tracking on (opt-in):
// they start empty when it is turned on and are dropped when it is off.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "projections/behavior_signals.h"
#include "projections/nudge_book.h"
#include "projections/risk_tracker.h"
#include "projections/schedule_book.h"
#include "projections/task_book.h"
#include "projections/user_profile.h"
#include "schema/snapshots.pb.h"

namespace coach::projections {

struct UserState {
  UserProfile profile;
  TaskBook tasks;
  uint64_t version = 0;  // sequence of the last event folded in
  std::optional<BehaviorSignals> signals;
  // The lateness risk's view of the tasks (issue 22), kept while tracking
  // is on, like `signals`: it starts empty when tracking is turned on and
  // learns from the tasks changed since (`tracking_since`). Not in
  // snapshots: parse builds it from the book and `tracking_since`.
  std::optional<RiskTracker> risk;
  Clock::time_point tracking_since{};
  ScheduleBook schedule;  // accepted blocks and hour feedback (issue #6)
  NudgeBook nudges;       // nudges, notifications, trigger cooldowns (issue #7)
  // The user was deleted: the terminal state, nothing else is kept and every
  // command is refused. Set by whoever loads the user (the store knows).
  bool erased = false;

  // The population's late rates by category (PopulationTally), as the
  // node's last full batch run left them; null before any (the risk then
  // uses the model's neutral rate: a figure coach does not have must not
  // move anyone's risk). Set by whoever loads the user; not in snapshots.
  std::shared_ptr<const v1::PopulationRatesState> population;

  // The lateness risk of `task` (one of `tasks`) at `now` by the shipped
  // model, given `sums` = risk->at(now) and `population`; nullopt without
  // tracking and where RiskTracker::assess says.
  std::optional<TaskRisk> lateness_risk(const RiskTracker::Sums& sums, const v1::Task& task,
                                        Clock::time_point now) const;

  bool tracking() const { return profile.profile.preferences().behavioral_tracking_enabled(); }

  // Folds one event of the user's stream, in sequence order.
  void fold(const v1::TaskEvent& event);

  // The state as snapshot bytes (a v1::UserSnapshot), and back; `version` is
  // the sequence the snapshot was taken at.
  std::string serialize() const;
  static Result<UserState> parse(std::string_view bytes, uint64_t version);
};

}  // namespace coach::projections
