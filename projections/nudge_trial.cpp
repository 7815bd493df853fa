#include "projections/nudge_trial.h"

#include <algorithm>
#include <cmath>

#include "projections/success_metrics.h"
#include "projections/user_state.h"

namespace coach::projections {
namespace {

constexpr double kZ90 = 1.6448536269514722;

// The 95th percentile of Student's t with `df` degrees of freedom: from
// the table up to 30, then Cornish-Fisher from the normal's (within 0.01%
// there). The interval uses G - 1 for G users, as small-sample sandwich
// intervals should.
double t90(double df) {
  static constexpr double kTable[] = {
      6.3138, 2.9200, 2.3534, 2.1318, 2.0150, 1.9432, 1.8946, 1.8595, 1.8331, 1.8125,
      1.7959, 1.7823, 1.7709, 1.7613, 1.7531, 1.7459, 1.7396, 1.7341, 1.7291, 1.7247,
      1.7207, 1.7171, 1.7139, 1.7109, 1.7081, 1.7056, 1.7033, 1.7011, 1.6991, 1.6973};
  if (df < 1) df = 1;
  if (df <= 30) return kTable[static_cast<int>(df) - 1];
  double z = kZ90, z3 = z * z * z, z5 = z3 * z * z;
  return z + (z3 + z) / (4 * df) + (5 * z5 + 16 * z3 + 3 * z) / (96 * df * df);
}

void add_to(TrialTally::UserSums& s, const TrialDecision& d) {
  double p = std::clamp(d.send_probability, 1e-6, 1 - 1e-6);
  double w = d.sent ? 1 / p : 1 / (1 - p);
  double a = d.sent, y = d.acted;
  s.w += w;
  s.wa += w * a;
  s.wy += w * y;
  s.way += w * a * y;
  if (d.sent) {
    ++s.sent;
    s.acted_sent += d.acted;
  } else {
    ++s.held_back;
    s.acted_held_back += d.acted;
  }
}

}  // namespace

bool in_trial(const UserState& state, const NudgeCandidate& candidate, double hold_back,
              Clock::time_point now) {
  if (hold_back <= 0 || hold_back >= 1) return false;
  // Only users who opted in to behavioral tracking are studied, and not
  // those who then opted out of the trial.
  if (!state.tracking() || state.profile.profile.preferences().nudge_trial_opt_out()) return false;
  if (candidate.trigger == Trigger::on_demand || candidate.trigger == Trigger::all_clear)
    return false;
  if (candidate.trigger == Trigger::deadline_approaching) {
    const auto* task = state.tasks.find(candidate.task_id);
    if (!task || !task->has_due_at()) return false;
    if (from_timestamp(task->due_at()) - now <= kDeadlineCritical) return false;
  }
  return true;
}

v1::TaskEvent decide_trial(const UserState& state, const NudgeCandidate& candidate,
                           double hold_back, double draw, const std::string& decision_id,
                           Clock::time_point now) {
  (void)now;  // the envelope's created_at is the decision's time
  v1::TaskEvent event;
  if (!candidate.task_id.empty()) event.set_task_id(candidate.task_id);
  auto* d = event.mutable_nudge_decided();
  d->set_decision_id(decision_id);
  d->set_trigger(std::string(trigger_name(candidate.trigger)));
  d->set_send_probability(1 - hold_back);
  d->set_sent(draw >= hold_back);
  d->set_mode(state.profile.profile.preferences().coaching_mode());
  d->set_cooldown_key(candidate.key);
  d->mutable_plan_first_start()->insert(candidate.plan_first_start.begin(),
                                        candidate.plan_first_start.end());
  for (const auto& id : candidate.plan_at_risk) d->add_plan_at_risk(id);
  return event;
}

std::vector<TrialDecision> decisions_so_far(std::span<const v1::TaskEvent> log,
                                            Clock::time_point as_of) {
  std::vector<TrialDecision> decisions;
  size_t first_open = 0;  // decisions before it are past their window
  for (const auto& e : log) {
    auto t = from_timestamp(e.created_at());
    if (t > as_of) break;
    if (task_action(e)) {
      while (first_open < decisions.size() && decisions[first_open].at + kProximalWindow < t)
        ++first_open;
      for (size_t i = first_open; i < decisions.size(); ++i)
        if (decisions[i].at < t) decisions[i].acted = true;
    }
    if (e.has_nudge_decided()) {
      const auto& d = e.nudge_decided();
      decisions.push_back({t, d.trigger(), d.mode(), d.sent(), d.send_probability(), false});
    }
  }
  return decisions;
}

std::vector<TrialDecision> decided_by(std::span<const TrialDecision> so_far,
                                      Clock::time_point as_of) {
  std::vector<TrialDecision> decisions;
  for (const auto& d : so_far)
    if (d.at + kProximalWindow <= as_of) decisions.push_back(d);
  return decisions;
}

std::vector<TrialDecision> trial_decisions(std::span<const v1::TaskEvent> log,
                                           Clock::time_point as_of) {
  return decided_by(decisions_so_far(log, as_of), as_of);
}

void TrialTally::add(const std::string& user_id, std::span<const TrialDecision> decisions) {
  for (const auto& d : decisions) {
    add_to(all_[user_id], d);
    add_to(by_trigger_[d.trigger][user_id], d);
    add_to(by_mode_[d.mode][user_id], d);
  }
}

void TrialTally::UserSums::add(const UserSums& o) {
  w += o.w;
  wa += o.wa;
  wy += o.wy;
  way += o.way;
  sent += o.sent;
  held_back += o.held_back;
  acted_sent += o.acted_sent;
  acted_held_back += o.acted_held_back;
}

namespace {
void merge_group(TrialTally::Group& into, const TrialTally::Group& from) {
  for (const auto& [user, s] : from) {
    into[user].add(s);
  }
}
}  // namespace

void TrialTally::merge(const TrialTally& other) {
  merge_group(all_, other.all_);
  for (const auto& [trigger, group] : other.by_trigger_) merge_group(by_trigger_[trigger], group);
  for (const auto& [mode, group] : other.by_mode_) merge_group(by_mode_[mode], group);
}

EffectEstimate TrialTally::overall() const {
  return estimate_effect(all_);
}

std::map<std::string, EffectEstimate> TrialTally::by_trigger() const {
  std::map<std::string, EffectEstimate> out;
  for (const auto& [trigger, group] : by_trigger_) out[trigger] = estimate_effect(group);
  return out;
}

std::map<v1::CoachingMode, EffectEstimate> TrialTally::by_mode() const {
  std::map<v1::CoachingMode, EffectEstimate> out;
  for (const auto& [mode, group] : by_mode_) out[mode] = estimate_effect(group);
  return out;
}

EffectEstimate estimate_effect(const TrialTally::Group& group) {
  EffectEstimate e;
  TrialTally::UserSums total;
  for (const auto& [user, s] : group) {
    ++e.users;
    e.users_sent += s.sent > 0;
    e.users_held_back += s.held_back > 0;
    total.add(s);
  }
  e.sent = total.sent;
  e.held_back = total.held_back;
  e.acted_sent = total.acted_sent;
  e.acted_held_back = total.acted_held_back;
  if (e.sent == 0 || e.held_back == 0 || e.users < 2) return e;
  // X'WX = [[w, wa], [wa, wa]] (a is 0 or 1), X'Wy = [wy, way].
  double det = total.w * total.wa - total.wa * total.wa;
  if (det <= 0) return e;
  double b00 = total.wa / det, b01 = -total.wa / det, b11 = total.w / det;  // its inverse
  double beta0 = b00 * total.wy + b01 * total.way;
  double beta1 = b01 * total.wy + b11 * total.way;
  // Sandwich: the scores' sum per user, u = X'W(y - X beta) over the user.
  double m00 = 0, m01 = 0, m11 = 0;
  for (const auto& [user, s] : group) {
    double u0 = s.wy - (s.w * beta0 + s.wa * beta1);
    double u1 = s.way - (s.wa * beta0 + s.wa * beta1);
    m00 += u0 * u0;
    m01 += u0 * u1;
    m11 += u1 * u1;
  }
  // Var(beta1) = row 1 of B M B, column 1.
  double var = b01 * (b01 * m00 + b11 * m01) + b11 * (b01 * m01 + b11 * m11);
  double users = e.users;
  var *= users / (users - 1);
  double se = std::sqrt(std::max(var, 0.0));
  e.effect = beta1;
  double t = t90(users - 1);
  e.low = beta1 - t * se;
  e.high = beta1 + t * se;
  return e;
}

}  // namespace coach::projections
