// The nudge trial (issue 23; docs/metrics.md): does a nudge help? Measured
// as a micro-randomized trial (HeartSteps; Klasnja et al. 2015): at each
// decision point, where a trigger would push a nudge, coach draws whether to
// send it or hold it back, and compares the proximal outcome of the two.
//
// Decision points in the trial: a nudge a trigger fired (never one the user
// asked for with nudge.now), that passed the gate, of a user with
// behavioral tracking on (opt-in) who has not opted out of the trial
// (preferences.nudge_trial_opt_out), on a node whose hold-back probability
// is above 0. Left out, always sent and not recorded: a
// deadline_approaching nudge of a task due within 12 h (deadline-critical:
// the last reminder before it is late is never withheld).
//
// Proximal outcome: the user acted on a task (a user-initiated task event:
// created, edited, snoozed, completed, deleted, reopened, restored, noted)
// within 2 h after the decision (strictly after it, at most 2 h later).
// Counted only once the 2 h have passed.
//
// Effect: the difference in the chance of that outcome between sent and
// held back, by weighted least squares of outcome on sent (weights 1/p for
// sent, 1/(1-p) for held back, p the decision's send probability) with
// standard errors robust to the correlation of one user's decisions (the
// sandwich over users, with the small-sample factor G/(G-1)); a 90%
// interval with Student's t on G - 1 degrees of freedom (1.645 for many
// users, 2.35 for 4). With one probability throughout, the estimate is the
// plain difference of the two shares.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/time.h"
#include "projections/nudge_book.h"
#include "schema/events.pb.h"

namespace coach::projections {

// Within this of its due, a deadline_approaching nudge is never held back.
inline constexpr auto kDeadlineCritical = std::chrono::hours(12);
// How long after a decision an action counts as its outcome.
inline constexpr auto kProximalWindow = std::chrono::hours(2);

// Whether the trigger's candidate is a decision point of the trial for a
// node holding nudges back with probability `hold_back` (0 to 1; 0: off).
bool in_trial(const UserState& state, const NudgeCandidate& candidate, double hold_back,
              Clock::time_point now);

// The NudgeDecided event of a decision point: sent when `draw` (uniform in
// [0, 1), drawn by the caller so that deciding stays pure) is at least
// `hold_back`; send_probability is 1 - hold_back.
v1::TaskEvent decide_trial(const UserState& state, const NudgeCandidate& candidate,
                           double hold_back, double draw, const std::string& decision_id,
                           Clock::time_point now);

// One decision of a user's log with its outcome known.
struct TrialDecision {
  Clock::time_point at;
  std::string trigger;
  v1::CoachingMode mode = v1::COACHING_MODE_UNSPECIFIED;
  bool sent = false;
  double send_probability = 1;
  bool acted = false;  // the proximal outcome
};

// The decisions of one user's log (in sequence order) made at or before
// `as_of` whose proximal window ended by then, in log order.
std::vector<TrialDecision> trial_decisions(std::span<const v1::TaskEvent> log,
                                           Clock::time_point as_of);

// Every decision of the log made at or before `as_of`, with its outcome as
// far as the log knows it then (what the incremental update carries).
std::vector<TrialDecision> decisions_so_far(std::span<const v1::TaskEvent> log,
                                            Clock::time_point as_of);

// Of `so_far` (decisions_so_far(log, t)), those whose window ended by
// `as_of`: trial_decisions(log, as_of) for a log with no events after t
// and as_of at or after t.
std::vector<TrialDecision> decided_by(std::span<const TrialDecision> so_far,
                                      Clock::time_point as_of);

struct EffectEstimate {
  uint32_t users = 0;                            // with at least one decision
  uint32_t users_sent = 0, users_held_back = 0;  // with a decision in that arm
  uint32_t sent = 0, held_back = 0;
  uint32_t acted_sent = 0, acted_held_back = 0;
  // Share acted, sent minus held back, and its 90% interval; nullopt unless
  // both arms have decisions and at least 2 users do.
  std::optional<double> effect, low, high;
};

// Decisions gathered user by user, estimated by group: all, by trigger, by
// mode. Memory: a few numbers per (group, user).
class TrialTally {
 public:
  // Adds one user's decisions (call once per user).
  void add(const std::string& user_id, std::span<const TrialDecision> decisions);
  // Adds another tally's users (a user in both: their sums add up).
  void merge(const TrialTally& other);
  EffectEstimate overall() const;
  std::map<std::string, EffectEstimate> by_trigger() const;
  std::map<v1::CoachingMode, EffectEstimate> by_mode() const;

  // Per user of a group: the weighted sums of the regression.
  struct UserSums {
    double w = 0, wa = 0, wy = 0, way = 0;  // sum of w, w*a, w*y, w*a*y (a*a = a)
    uint32_t sent = 0, held_back = 0, acted_sent = 0, acted_held_back = 0;
    void add(const UserSums& other);
  };
  using Group = std::map<std::string, UserSums>;  // user id -> sums

 private:
  Group all_;
  std::map<std::string, Group> by_trigger_;
  std::map<v1::CoachingMode, Group> by_mode_;
};

// The estimate of one group (TrialTally's, or built by hand).
EffectEstimate estimate_effect(const TrialTally::Group& group);

}  // namespace coach::projections
