// NudgeBook: a user's coaching nudges and notifications as a pure fold
// (issue #7), the triggers that fire nudges, and the deciders for writing,
// rating and reporting delivery of a nudge.
//
// Triggers (checked by the user actor when events arrive and when the node's
// nudge clock wakes it; priority in this order, one nudge per check):
//   overdue              open task past its due (less than 30 days ago);
//                        per task every 24 h
//   deadline_approaching open task due within 24 h (48 h when its lateness
//                        risk is >= 0.5, issue 22; for an untracked user,
//                        when the procrastination score is) and not started
//                        (no accepted block of it has begun); per task every 12 h
//   repeated_snooze      a task snoozed 3 times or more; once per further
//                        snooze, at most every 12 h
//   plan_changed         the plan (schedule_view, 7 days) changed
//                        materially since the last plan_changed nudge: a
//                        task newly at risk of not fitting (before its
//                        due; past due is overdue's), all risk gone, or a task's first
//                        block (still in the future) moved by 2 h or more;
//                        every 6 h at most (issue #6, item 4)
//   inactivity           no event of the user's for 24 h while open tasks
//                        wait, now inside work hours; every 24 h
//   streak               completions on 3 or more consecutive local days,
//                        the last within 12 h; every 20 h
//   completion           a task completed on or before its due in the last
//                        2 h; once per task, every 4 h at most
// Every trigger is gated (gate_reason): nudges_enabled, the notification
// window in the user's zone, the daily cap (nudges pushed on the local day;
// preferences.daily_nudge_cap, default 3) and 30 minutes between two pushed
// nudges. nudge.now (on demand) skips the gate: the user asked. A nudge the
// trial held back (projections/nudge_trial.h) counts as pushed for all of
// these and for its trigger's cooldown.
//
// Persona adaptation (adaptation_enabled): when the last 3 ratings of
// nudges in the user's current mode average 2 or less (of 5), the mode moves
// roast -> encouragement -> neutral -> minimalist, humor drops by one and
// the persona follows so that it is never harsher than the mode (roast ->
// coach with encouragement; roast or coach -> neutral with neutral or
// minimalist; chill and neutral stay); recorded as one PreferencesChanged
// event with a reason. Ratings of nudges written in another mode do not
// count, and a minimalist user is not adapted further.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "projections/nudge_text.h"
#include "projections/task_book.h"
#include "schema/commands.pb.h"
#include "schema/snapshots.pb.h"

namespace coach::projections {

struct UserState;

using NudgeBook = v1::NudgeBookState;

// Folds one event of the user's stream into their nudge book.
void evolve(NudgeBook& book, const v1::TaskEvent& event);

// The record of a nudge, or of the nudge a notification carries; nullptr
// when unknown (or no longer among the 50 most recent).
const v1::NudgeRecord* find_nudge(const NudgeBook& book, const std::string& nudge_id);
const v1::NudgeRecord* find_notification(const NudgeBook& book, const std::string& notification_id);

// A nudge that should be written now.
struct NudgeCandidate {
  Trigger trigger = Trigger::on_demand;
  std::string task_id;  // empty for nudges about no single task
  std::string key;      // cooldown key, "trigger/task"
  NudgeContext context;
  std::map<std::string, int64_t> plan_first_start;  // plan_changed only
  std::vector<std::string> plan_at_risk;
  std::string decision_id;  // the nudge trial's decision that sent it, if any
};

// Whether `t` is inside the user's notification window, in their zone (no
// window set: any time is).
bool in_notification_window(const v1::Profile& profile, Clock::time_point t);

// Why no nudge may be pushed now ("nudges are off", "outside the
// notification window", ...), or empty when one may.
std::string gate_reason(const UserState& state, Clock::time_point now);

// The most pressing trigger that may fire now, if any (gated).
std::optional<NudgeCandidate> next_nudge(const UserState& state, Clock::time_point now);

// The nudge for "nudge me now": about `task_id`, or the most pressing open
// task, or all_clear. not_found for an unknown task id.
Result<NudgeCandidate> on_demand_nudge(const UserState& state, const std::string& task_id,
                                       Clock::time_point now);

// When to check this user's triggers again if nothing happens meanwhile
// (the next due or lead time, cooldown end, inactivity threshold), within
// [now + 1 min, now + 24 h]; nullopt when nudges are off or the user is not
// registered.
std::optional<Clock::time_point> next_check(const UserState& state, Clock::time_point now);

// The written nudge, as it will be stored.
struct WrittenNudge {
  std::string text;
  v1::NudgeSource source = v1::NUDGE_SOURCE_TEMPLATE;
  std::string fallback_reason;  // why a template stood in for the LLM
};

// The NudgeCreated event for a candidate: with a queued notification on the
// user's channel unless `on_demand`. Ids come from `nudge_id` and
// `notification_id` so that deciding stays pure.
v1::TaskEvent decide_nudge(const UserState& state, const NudgeCandidate& candidate,
                           const WrittenNudge& written, bool on_demand, const std::string& nudge_id,
                           const std::string& notification_id, Clock::time_point now);

// NudgeRated, plus PreferencesChanged when adaptation moves the mode; or
// invalid_argument / not_found.
Result<std::vector<v1::TaskEvent>> decide_rate(const UserState& state,
                                               const v1::RateNudge& command);

// NudgeDelivered or NotificationFailed; nothing when the notification is
// already final (a gateway's repeated report); not_found / invalid_argument.
// A check_only report stores nothing: ok while the notification is queued,
// not_found for an unknown one, conflict for one final already.
Result<std::vector<v1::TaskEvent>> decide_report(const UserState& state,
                                                 const v1::ReportDelivery& command,
                                                 Clock::time_point now);

// Newest first, at most `limit` (1 to 50, 0: 20); with after_position only
// those of a greater position (the book keeps the 50 newest: a client that
// missed more finds the older ones gone).
Result<v1::NudgeList> list_nudges(const NudgeBook& book, const v1::ListNudges& query);

}  // namespace coach::projections
