#include "projections/user_decider.h"

#include "events/crypto.h"
#include "events/envelope.h"
#include "projections/calendar_feed.h"
#include "projections/insights.h"
#include "projections/nudge_book.h"
#include "projections/schedule_book.h"
#include "projections/task_queries.h"

namespace coach::projections {
namespace {

using SystemClock = std::chrono::system_clock;

Error empty_command() {
  return make_error(Errc::invalid_argument, "the command is empty");
}

// A task view's lateness risk (tracked users only; entities.proto).
void add_risk(const UserState& state, const RiskTracker::Sums& sums, v1::Task& view,
              SystemClock::time_point now) {
  auto assessed = state.lateness_risk(sums, view, now);
  if (!assessed) return;
  view.set_lateness_risk(assessed->risk);
  for (auto& reason : assessed->reasons) view.add_lateness_reasons(std::move(reason));
}

void clear_task_risk(v1::Task& task) {
  task.clear_lateness_risk();
  task.clear_lateness_reasons();
}

Result<v1::Reply> task_reply(const UserState& state, const std::string& id,
                             SystemClock::time_point now) {
  if (auto id_ok = Uuid::parse(id, "task_id"); !id_ok) return id_ok.error();
  const auto* task = state.tasks.find(id);
  if (!task) return make_error(Errc::not_found, "no task " + id);
  v1::Reply reply;
  *reply.mutable_task() = task_view(*task, now);
  if (state.risk) add_risk(state, state.risk->at(now), *reply.mutable_task(), now);
  return reply;
}

Result<v1::Reply> profile_reply(const UserState& state) {
  if (!state.profile.registered) return not_registered();
  v1::Reply reply;
  *reply.mutable_profile() = state.profile.profile;
  return reply;
}

Result<v1::Reply> schedule_reply(const UserState& state, uint32_t horizon_days,
                                 SystemClock::time_point now) {
  if (!state.profile.registered) return not_registered();
  auto schedule = schedule_view(state, horizon_days, now);
  if (!schedule) return schedule.error();
  v1::Reply reply;
  *reply.mutable_schedule() = std::move(*schedule);
  return reply;
}

// The plan as iCalendar: the schedule view and every task.
Result<std::string> calendar_text(const UserState& state, uint32_t horizon_days,
                                  SystemClock::time_point now) {
  auto schedule = schedule_view(state, horizon_days, now);
  if (!schedule) return schedule.error();
  std::vector<const v1::Task*> tasks;
  tasks.reserve(state.tasks.tasks().size());
  for (const auto& [id, task] : state.tasks.tasks()) tasks.push_back(&task);
  return plan_calendar(*schedule, tasks, std::chrono::floor<std::chrono::seconds>(now));
}

Result<v1::Reply> calendar_reply(const UserState& state, const v1::Command& command,
                                 SystemClock::time_point now) {
  v1::Reply reply;
  auto* calendar = reply.mutable_calendar();
  calendar->set_feed_active(!state.profile.calendar_feed_digest.empty());
  if (command.has_create_calendar_feed()) {
    const auto& secret = command.create_calendar_feed().secret();
    calendar->set_feed_secret(secret);
    calendar->set_feed_path("/calendar/" + state.profile.profile.user().id() + "/" + secret +
                            ".ics");
    return reply;
  }
  if (command.has_revoke_calendar_feed()) return reply;
  auto text = calendar_text(state, command.get_calendar().horizon_days(), now);
  if (!text) return text.error();
  calendar->set_ics(std::move(*text));
  return reply;
}

// A feed read: the secret is the credential, and every failure looks the
// same, so the answer tells a guesser nothing (not even that the user exists).
Result<v1::Reply> feed_reply(const UserState& state, const v1::ReadCalendarFeed& read,
                             SystemClock::time_point now) {
  if (state.erased || !state.profile.registered || read.secret().empty() ||
      !events::same_digest(events::secret_digest(read.secret()),
                           state.profile.calendar_feed_digest))
    return make_error(Errc::not_found, "no such calendar feed (revoked, replaced or never made)");
  auto text = calendar_text(state, read.horizon_days(), now);
  if (!text) return text.error();
  v1::Reply reply;
  reply.mutable_calendar()->set_ics(std::move(*text));
  reply.mutable_calendar()->set_feed_active(true);
  return reply;
}

Result<std::vector<v1::TaskEvent>> decide_feed(const UserState& state, v1::Command& command,
                                               const DecideContext& context) {
  v1::TaskEvent event;
  auto* changed = event.mutable_calendar_feed_changed();
  if (command.has_revoke_calendar_feed()) {
    if (state.profile.calendar_feed_digest.empty()) return std::vector<v1::TaskEvent>{};
    return std::vector<v1::TaskEvent>{std::move(event)};
  }
  auto* create = command.mutable_create_calendar_feed();
  if (!create->secret().empty())
    return make_error(Errc::invalid_argument, "secret is made by coach; send {}");
  create->set_secret(context.new_secret());
  changed->set_secret_digest(events::secret_digest(create->secret()));
  return std::vector<v1::TaskEvent>{std::move(event)};
}

}  // namespace

void clear_risk(v1::Reply& reply) {
  if (reply.has_task()) clear_task_risk(*reply.mutable_task());
  if (reply.has_task_list())
    for (auto& task : *reply.mutable_task_list()->mutable_tasks()) clear_task_risk(task);
  if (reply.has_schedule())
    for (auto& at_risk : *reply.mutable_schedule()->mutable_at_risk())
      at_risk.clear_lateness_risk();
}

Error not_registered() {
  return make_error(Errc::not_found, "user is not registered; send coach.v1.user.register first");
}

Error user_erased(const Uuid& user) {
  return make_error(Errc::not_found,
                    "user " + user.to_string() + " was deleted; the id cannot be used again");
}

const std::string& task_id_of(const v1::TaskCommand& c) {
  using C = v1::TaskCommand;
  switch (c.command_case()) {
    case C::kCreate:
      return c.create().task_id();
    case C::kEdit:
      return c.edit().task_id();
    case C::kSnooze:
      return c.snooze().task_id();
    case C::kComplete:
      return c.complete().task_id();
    case C::kDelete:
      return c.delete_().task_id();
    case C::kReopen:
      return c.reopen().task_id();
    case C::kRestore:
      return c.restore().task_id();
    case C::kNote:
      return c.note().task_id();
    case C::COMMAND_NOT_SET:
      break;
  }
  static const std::string none;
  return none;
}

Result<std::vector<v1::TaskEvent>> decide(const UserState& state, v1::Command& command,
                                          const DecideContext& context) {
  if (state.erased) return user_erased(context.user);
  const auto now = context.now;
  switch (command.command_case()) {
    case v1::Command::kRegisterUser:
      return decide_register(state.profile, command.register_user());
    case v1::Command::kSetPreferences:
      return decide_preferences(state.profile, command.set_preferences());
    default:
      break;
  }
  if (!state.profile.registered) return not_registered();
  switch (command.command_case()) {
    case v1::Command::kAcceptRecommendation:
      return decide_accept(state, command.accept_recommendation(), now);
    case v1::Command::kRejectRecommendation:
      return decide_reject(state, command.reject_recommendation(), now);
    case v1::Command::kRateNudge:
      return decide_rate(state, command.rate_nudge());
    case v1::Command::kReportDelivery:
      return decide_report(state, command.report_delivery(), now);
    case v1::Command::kTask:
      if (command.task().has_create() && command.task().create().task_id().empty())
        command.mutable_task()->mutable_create()->set_task_id(context.new_id());
      // A series runs on the wall clock of the user's zone unless it names one.
      if (command.task().has_create() && command.task().create().has_recurrence() &&
          command.task().create().recurrence().zone().empty())
        command.mutable_task()->mutable_create()->mutable_recurrence()->set_zone(
            state.profile.profile.user().timezone().empty()
                ? "UTC"
                : state.profile.profile.user().timezone());
      return decide(state.tasks, command.task(), now);
    case v1::Command::kCreateCalendarFeed:
    case v1::Command::kRevokeCalendarFeed:
      return decide_feed(state, command, context);
    default:
      break;
  }
  return empty_command();
}

Result<v1::Reply> reply_for(const UserState& state, const v1::Command& command,
                            SystemClock::time_point now) {
  if (command.has_read_calendar_feed()) return feed_reply(state, command.read_calendar_feed(), now);
  // An id nobody registered has no data to read: not_found, never an empty
  // list that looks like a user without tasks.
  if (!state.profile.registered) return not_registered();
  v1::Reply reply;
  switch (command.command_case()) {
    case v1::Command::kTask:
      return task_reply(state, task_id_of(command.task()), now);
    case v1::Command::kGetTask:
      return task_reply(state, command.get_task().task_id(), now);
    case v1::Command::kListTasks: {
      std::optional<RiskTracker::Sums> sums;
      if (state.risk) sums = state.risk->at(now);
      auto list = list_tasks(state.tasks, command.list_tasks(), now, [&](v1::Task& view) {
        if (sums) add_risk(state, *sums, view, now);
      });
      if (!list) return list.error();
      *reply.mutable_task_list() = std::move(*list);
      return reply;
    }
    case v1::Command::kRegisterUser:
    case v1::Command::kSetPreferences:
    case v1::Command::kGetProfile:
    case v1::Command::kRateNudge:
      return profile_reply(state);
    case v1::Command::kGetSchedule:
      return schedule_reply(state, command.get_schedule().horizon_days(), now);
    case v1::Command::kAcceptRecommendation:
    case v1::Command::kRejectRecommendation:
      return schedule_reply(state, 0, now);
    case v1::Command::kGetInsights:
      if (!state.profile.registered) return not_registered();
      *reply.mutable_insights() = describe_insights(state.profile, state.tasks,
                                                    state.signals ? &*state.signals : nullptr, now);
      return reply;
    case v1::Command::kNudgeNow:  // the nudge just written and folded
      if (state.nudges.recent().empty()) break;
      *reply.mutable_nudge() = state.nudges.recent().rbegin()->nudge();
      return reply;
    case v1::Command::kReportDelivery:
      if (const auto* r =
              find_notification(state.nudges, command.report_delivery().notification_id()))
        *reply.mutable_nudge_list()->add_nudges() = *r;
      return reply;
    case v1::Command::kListNudges: {
      auto list = list_nudges(state.nudges, command.list_nudges());
      if (!list) return list.error();
      *reply.mutable_nudge_list() = std::move(*list);
      return reply;
    }
    case v1::Command::kGetCalendar:
    case v1::Command::kCreateCalendarFeed:
    case v1::Command::kRevokeCalendarFeed:
      return calendar_reply(state, command, now);
    case v1::Command::kReadCalendarFeed:  // answered before the registration check
    case v1::Command::kGetFeatures:
    case v1::Command::kGetNodeStats:
    case v1::Command::kRunBatch:
    case v1::Command::kGetBatchStatus:
    case v1::Command::kGetMetrics:
    case v1::Command::kGetOps:
    case v1::Command::kListActors:
    case v1::Command::kStopActor:   // node-wide: answered by the gateway
    case v1::Command::kExportUser:  // need the store: answered by the actor
    case v1::Command::kDeleteUser:
    case v1::Command::COMMAND_NOT_SET:
      break;
  }
  return empty_command();
}

Result<CommandOutcome> run_command(UserState& state, v1::Command& command,
                                   const DecideContext& context, std::string_view idempotency_key) {
  auto decided = decide(state, command, context);
  if (!decided) return decided.error();
  if (decided->empty()) {
    auto reply = reply_for(state, command, context.now);
    if (!reply) return reply.error();
    return CommandOutcome{{}, std::move(*reply)};
  }
  // Evolved in place, no copy: the deciders check everything the reply
  // reads, so a reply cannot fail once its command was decided.
  CommandOutcome outcome;
  outcome.events = std::move(*decided);
  for (auto& event : outcome.events) {
    events::stamp_envelope(event, context.user, state.version + 1, context.now, idempotency_key);
    state.fold(event);
  }
  auto reply = reply_for(state, command, context.now);
  if (!reply)
    return make_error(Errc::internal, "decided command has no reply: " + reply.error().message);
  outcome.reply = std::move(*reply);
  return outcome;
}

}  // namespace coach::projections
