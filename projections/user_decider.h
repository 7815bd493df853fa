// The user decider: what one API command does to one user, as pure
// functions over UserState. It composes the task, profile, schedule and
// nudge deciders and adds the rules that hold for every user command:
//
// - a deleted user (UserState::erased) is refused everything;
// - an unregistered user may only register;
// - a task created without an id gets one from DecideContext::new_id, so
//   that decide stays pure and its events and reply name the same task.
//
// The user actor, coach-import and the tests all run commands through
// run_command, so a command means the same thing wherever it runs. Commands
// that need storage or the network (export, delete, as-of features, nudge
// writing) are answered by their callers; decide refuses them here.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/ids.h"
#include "base/result.h"
#include "events/crypto.h"
#include "projections/user_state.h"
#include "schema/commands.pb.h"

namespace coach::projections {

// What a decision may depend on besides the state and the command.
struct DecideContext {
  Uuid user;                                    // whose stream the events go to
  std::chrono::system_clock::time_point now{};  // the command's time
  // Mints the id of a task created without one. Default: a random UUID.
  std::function<std::string()> new_id = new_uuid_string;
  // Mints a calendar feed's secret. Default: 32 random bytes, hex.
  std::function<std::string()> new_secret = events::random_secret;
};

// The error every command of an unregistered user gets (not_found).
Error not_registered();
// The error every command of a deleted user gets (not_found).
Error user_erased(const Uuid& user);

// The task a task command names (empty for a create that lets coach choose).
const std::string& task_id_of(const v1::TaskCommand& command);

// The events a write command produces against the state, or why it is
// refused. An empty vector means the command changes nothing (its reply is
// still reply_for's). Fills in `command`'s task id for a create without one.
// Errors: not_found (deleted or unregistered user, unknown task),
// invalid_argument, conflict, and whatever the domain deciders say.
Result<std::vector<v1::TaskEvent>> decide(const UserState& state, v1::Command& command,
                                          const DecideContext& context);

// The reply to a command from the state after it ran (for a read: the
// state). Errors: not_found (deleted or unregistered user, unknown task),
// invalid_argument (a malformed id or query, an empty command, or a command
// this decider does not answer: export, delete, features, node commands).
Result<v1::Reply> reply_for(const UserState& state, const v1::Command& command,
                            std::chrono::system_clock::time_point now);

// Takes out of `reply` what coach expects rather than knows
// (Task.lateness_risk and lateness_reasons, AtRiskTask.lateness_risk): a
// reply stored with an idempotency key keeps none of it, since the risk is
// never stored and a retry may come after tracking is turned off.
void clear_risk(v1::Reply& reply);

// The result of running one write command.
struct CommandOutcome {
  std::vector<v1::TaskEvent> events;  // stamped, already folded into the state
  v1::Reply reply;                    // the reply from the state after them
};

// Runs one write command: decides it, stamps each event's envelope (user,
// next sequence, context.now, idempotency_key), folds the events into
// `state` and builds the reply. On a refusal `state` is unchanged (an
// `internal` error, a decided command without a reply, is a bug and leaves
// the state ahead). The caller stores the events; if that fails, its
// `state` is ahead of the log and must be reloaded.
Result<CommandOutcome> run_command(UserState& state, v1::Command& command,
                                   const DecideContext& context,
                                   std::string_view idempotency_key = {});

}  // namespace coach::projections
