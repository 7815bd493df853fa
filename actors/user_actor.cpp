#include "actors/user_actor.h"

#include <caf/all.hpp>
#include <deque>

#include "actors/handoff.h"
#include "actors/log.h"
#include "actors/notifier.h"
#include "actors/nudge_writer.h"
#include "actors/operations.h"
#include "actors/registry.h"
#include "actors/request.h"
#include "events/envelope.h"
#include "projections/behavior_signals.h"
#include "projections/feature_series.h"
#include "projections/user_decider.h"

namespace coach::actors {
namespace {

using appended_atom = caf::atom_constant<caf::atom("appended")>;
using idle_atom = caf::atom_constant<caf::atom("idle")>;
using written_atom = caf::atom_constant<caf::atom("written")>;
using deadline_atom = caf::atom_constant<caf::atom("deadline")>;
using SystemClock = std::chrono::system_clock;
using Events = std::vector<v1::TaskEvent>;

// An append in flight: the request it answers (none for a nudge the actor
// wrote on its own), the events it stores (already folded into the actor's
// state, which nobody reads until the append is answered) and the reply
// they earn once stored.
struct PendingAppend {
  RequestPtr request;
  Events events;
  v1::Reply reply;
  std::optional<Result<events::AppendResult>> result;
  bool triggered_nudge = false;
};
using PendingPtr = std::shared_ptr<PendingAppend>;

// A nudge whose text is being written: by a trigger, or for nudge.now (then
// with the request to answer).
struct NudgeInWriting {
  projections::NudgeCandidate candidate;
  projections::WrittenNudge written;
  RequestPtr request;
  // The writer's answer and the deadline race; whoever claims first fills
  // `written`, the other does nothing.
  std::atomic<bool> claimed{false};
};
using WritingPtr = std::shared_ptr<NudgeInWriting>;

}  // namespace
}  // namespace coach::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(coach::actors::PendingPtr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(coach::actors::WritingPtr)

namespace coach::actors {
namespace {

// Loads a user's state: the latest snapshot, if any, plus the events after it.
using projections::not_registered;
using projections::UserState;

// A decider's reply, or its error as an error reply.
v1::Reply reply_of(Result<v1::Reply> reply) {
  return reply ? std::move(*reply) : error_reply(reply.error());
}

Result<UserState> load_state(const events::EventStore& store, const Uuid& user,
                             uint64_t up_to = UINT64_MAX) {
  UserState state;
  auto erased = store.erased_at(user);
  if (!erased) return erased.error();
  if (*erased) {
    state.erased = true;
    return state;
  }
  if (up_to == UINT64_MAX) {
    auto snapshot = store.load_snapshot(user, kUserSnapshot);
    // A damaged snapshot only costs time: the log is replayed from the start.
    if (snapshot && *snapshot) {
      auto saved = projections::UserState::parse((*snapshot)->state, (*snapshot)->version);
      if (saved) state = std::move(*saved);
    } else if (!snapshot && snapshot.error().code != Errc::corrupted) {
      return snapshot.error();
    }
  }
  auto tail = store.read(user, state.version + 1, up_to - state.version);
  if (!tail && tail.error().code != Errc::unknown_stream) return tail.error();
  if (tail)
    for (const auto& event : *tail) state.fold(event);
  return state;
}

// Answered from the state (the operation table's kinds): everything but
// writes; special and node operations that reach this far get reply_for's
// answer.
bool is_read(const v1::Command& command) {
  const auto* operation = operation_of(command);
  return operation && operation->kind != OperationKind::write;
}

constexpr uint32_t kDefaultExportPage = 500, kMaxExportPage = 2000;

// One page of the user's export: profile and tasks, and a slice of the log.
v1::Reply export_page(const events::EventStore& store, const Uuid& user, const UserState& state,
                      const v1::ExportUser& query) {
  if (!state.profile.registered) return error_reply(not_registered());
  uint32_t page = query.max_events() == 0 ? kDefaultExportPage : query.max_events();
  if (page > kMaxExportPage)
    return error_reply(make_error(Errc::invalid_argument, "max_events must be 1 to 2000"));
  v1::Reply reply;
  auto* out = reply.mutable_user_export();
  out->set_format("coach.export.v1");
  *out->mutable_exported_at() = events::to_timestamp(SystemClock::now());
  *out->mutable_profile() = state.profile.profile;
  for (const auto& [id, task] : state.tasks.tasks()) *out->add_tasks() = task;
  uint64_t from = std::max<uint64_t>(1, query.from_sequence());
  if (from <= state.version) {
    auto events = store.read(user, from, page);
    if (!events) return error_reply(events.error());
    for (auto& e : *events) *out->add_events() = std::move(e);
    uint64_t last = from + events->size() - 1;
    out->set_next_sequence(last < state.version ? last + 1 : 0);
  }
  return reply;
}

// The behavior-mode model the last batch run stored, if any.
std::optional<projections::ClusterModel> stored_modes(const events::EventStore& store) {
  auto bytes = store.get_meta(kClusterModelMeta);
  v1::ClusterModelState state;
  if (!bytes || !*bytes || !state.ParseFromString(**bytes)) return std::nullopt;
  return projections::ClusterModel::from_state(state);
}

struct ActorState {
  Uuid user;
  std::shared_ptr<const UserActorContext> context;
  bool loaded = false;
  UserState state;
  uint64_t snapshot_version = 0;
  bool appending = false;
  std::deque<RequestPtr> waiting;
  bool nudge_in_flight = false;            // a triggered nudge is being written
  std::deque<WritingPtr> written_waiting;  // written while an append was in flight
  std::chrono::steady_clock::time_point last_active = std::chrono::steady_clock::now();
  bool shutting_down = false;
  static inline const char* name = "coach.user";
};

using Self = caf::stateful_actor<ActorState>;

void save_snapshot(ActorState& st) {
  if (st.state.erased || st.state.version == st.snapshot_version) return;
  auto s = st.context->store->save_snapshot(st.user, kUserSnapshot,
                                            {st.state.version, st.state.serialize()});
  if (s) st.snapshot_version = st.state.version;
}

// Answers a command whose idempotency key was already stored: with the
// reply stored with the key. Keys stored by builds before stored replies
// get the state as it was right after that command, replayed.
void reply_duplicate(ActorState& st, Request& request, const events::AppendResult& original) {
  if (!original.reply.empty()) {
    v1::Reply stored;
    if (!stored.ParseFromString(original.reply))
      return request.reply_error(make_error(Errc::corrupted, "the stored reply does not parse"));
    return request.reply(stored);
  }
  auto then = load_state(*st.context->store, st.user, original.last_sequence);
  if (!then) return request.reply_error(then.error());
  v1::Command command = request.command();
  if (command.has_task() && command.task().has_create() &&
      command.task().create().task_id().empty()) {
    // The original create got its task id from the stored event.
    auto created = st.context->store->read(st.user, original.first_sequence, 1);
    if (!created || created->empty())
      return request.reply_error(make_error(Errc::internal, "lost create"));
    command.mutable_task()->mutable_create()->set_task_id(created->front().task_id());
  }
  request.reply(reply_of(projections::reply_for(*then, command, SystemClock::now())));
}

// A keyed command that stores nothing now (refused, or a no-op) may be the
// retry of one that did: then it gets the stored reply. Writes with events
// are checked by the store's writer instead, once, in the append.
bool answered_as_retry(ActorState& st, Request& request) {
  if (request.idempotency_key().empty()) return false;
  auto found = st.context->store->find_idempotency_key(st.user, request.idempotency_key());
  if (!found) {
    request.reply_error(found.error());
    return true;
  }
  if (!*found) return false;
  reply_duplicate(st, request, **found);
  return true;
}

void process(Self* self, const RequestPtr& request);
void on_written(Self* self, const WritingPtr& job);

// Erases the user for good, answers, and stops this actor when nothing else
// of the user is in flight (otherwise it answers "deleted" until idle).
void delete_user(Self* self, const RequestPtr& request) {
  auto& st = self->state;
  if (request->command().delete_user().confirm() != st.user.to_string())
    return request->reply_error(make_error(
        Errc::invalid_argument, "confirm must repeat the user's id (" + st.user.to_string() +
                                    ") to delete the user and all their data for good"));
  auto now = SystemClock::now();
  if (auto erased = st.context->store->erase_user(st.user, now); !erased)
    return request->reply_error(erased.error());
  // Their queued and dead-lettered notifications go too (texts, addresses).
  // The log is erased already: a failed purge is logged, the delete stands.
  if (st.context->notifier)
    if (auto purged = st.context->notifier->purge_user(st.user); !purged)
      log_line(LogLevel::error, "user", "notifications of a deleted user not purged",
               {{"user", st.user.to_string()}, {"error", purged.error().message}});
  v1::Reply reply;
  *reply.mutable_profile() = st.state.profile.profile;
  *reply.mutable_profile()->mutable_user()->mutable_deleted_at() = events::to_timestamp(now);
  st.state = UserState{};
  st.state.erased = true;
  request->reply(reply);
  if (st.context->registry->try_passivate(st.user, self->address())) self->quit();
}

// During a node's shutdown: once nothing is being appended or waiting, the
// actor saves its snapshot and stops (a nudge still being written is
// dropped; its trigger fires again after the restart).
void stop_if_shutting_down(Self* self) {
  auto& st = self->state;
  if (!st.shutting_down || st.appending || !st.waiting.empty()) return;
  if (st.loaded) save_snapshot(st);
  self->quit();
}

void drain(Self* self) {
  auto& st = self->state;
  while (!st.appending && !st.written_waiting.empty()) {
    auto next = std::move(st.written_waiting.front());
    st.written_waiting.pop_front();
    on_written(self, next);
  }
  while (!st.appending && !st.waiting.empty()) {
    auto next = std::move(st.waiting.front());
    st.waiting.pop_front();
    process(self, next);
  }
  stop_if_shutting_down(self);
}

// Stores events already stamped and folded; on_appended answers.
void append(Self* self, PendingPtr pending) {
  auto& st = self->state;
  st.appending = true;
  caf::actor me = caf::actor_cast<caf::actor>(self);
  uint64_t expected = st.state.version - pending->events.size();
  // The reply is stored with the command's idempotency key, if it has one.
  std::string reply = pending->request && !pending->request->idempotency_key().empty()
                          ? pending->reply.SerializeAsString()
                          : std::string();
  st.context->store->append_async(
      st.user, expected, pending->events,
      [me, pending](Result<events::AppendResult> r) {
        pending->result = std::move(r);
        send_to_actor(me, appended_atom::value, pending);
      },
      reply);
}

// ---- nudges

void schedule_check(ActorState& st, SystemClock::time_point when) {
  if (st.context->clock) st.context->registry->schedule_check(st.user, when);
}

// Checks again when the triggers say (nothing when nudges are off).
void schedule_next_check(ActorState& st) {
  if (auto next = projections::next_check(st.state, SystemClock::now())) schedule_check(st, *next);
}

// The notification of a stored NudgeCreated, on its way to the gateways.
void publish(const ActorState& st, const v1::NudgeCreated& created) {
  if (!st.context->notifier || !created.has_notification()) return;
  v1::OutboundNotification out;
  *out.mutable_notification() = created.notification();
  *out.mutable_nudge() = created.nudge();
  if (created.notification().channel() == v1::DELIVERY_CHANNEL_EMAIL)
    out.set_address(st.state.profile.profile.user().email());
  st.context->notifier->publish(out);
}

// Hands a nudge to the writer; the text comes back as a `written` message.
void write_nudge(Self* self, projections::NudgeCandidate candidate, RequestPtr request) {
  auto& st = self->state;
  auto job = std::make_shared<NudgeInWriting>();
  job->candidate = std::move(candidate);
  job->request = std::move(request);
  const auto& opts = st.context->options.nudges;
  auto deadline = job->request ? opts.on_demand_deadline : opts.triggered_deadline;
  if (!st.context->writer) {
    job->written = {projections::render_template(job->candidate.context), v1::NUDGE_SOURCE_TEMPLATE,
                    "no LLM configured"};
    return on_written(self, job);
  }
  caf::actor me = caf::actor_cast<caf::actor>(self);
  // All writer threads may be stuck on a hanging LLM: the deadline is kept
  // here, not only by the writer.
  self->delayed_send(self, deadline, deadline_atom::value, job);
  st.context->writer->submit({st.user, job->candidate.context,
                              std::chrono::steady_clock::now() + deadline,
                              [me, job](projections::WrittenNudge written) {
                                if (job->claimed.exchange(true)) return;  // too late
                                job->written = std::move(written);
                                send_to_actor(me, written_atom::value, job);
                              }});
}

void on_deadline(Self* self, const WritingPtr& job) {
  if (job->claimed.exchange(true)) return;  // written in time
  job->written = {projections::render_template(job->candidate.context), v1::NUDGE_SOURCE_TEMPLATE,
                  "deadline passed"};
  on_written(self, job);
}

Status ensure_loaded(ActorState& st);

void check_nudges(Self* self) {
  auto& st = self->state;
  if (!ensure_loaded(st) || st.state.erased || !st.state.profile.registered) return;
  auto now = SystemClock::now();
  if (st.nudge_in_flight) return;  // its end schedules the next check
  if (st.appending) return schedule_check(st, now + std::chrono::seconds(1));
  auto candidate = projections::next_nudge(st.state, now);
  if (!candidate) return schedule_next_check(st);
  st.nudge_in_flight = true;
  write_nudge(self, std::move(*candidate), nullptr);
}

void on_written(Self* self, const WritingPtr& job) {
  auto& st = self->state;
  if (st.appending) return st.written_waiting.push_back(job);
  auto now = SystemClock::now();
  bool on_demand = job->request != nullptr;
  if (!on_demand && (st.state.erased || !projections::gate_reason(st.state, now).empty())) {
    st.nudge_in_flight = false;  // things changed while it was written (opt-out, cap)
    return schedule_next_check(st);
  }
  auto pending = std::make_shared<PendingAppend>();
  pending->request = job->request;
  pending->triggered_nudge = !on_demand;
  pending->events.push_back(projections::decide_nudge(st.state, job->candidate, job->written,
                                                      on_demand, new_uuid_string(),
                                                      new_uuid_string(), now));
  auto& event = pending->events.back();
  events::stamp_envelope(event, st.user, st.state.version + 1, now);
  st.state.fold(event);
  if (on_demand)
    pending->reply = reply_of(projections::reply_for(st.state, job->request->command(), now));
  append(self, std::move(pending));
}

void nudge_now(Self* self, const RequestPtr& request) {
  auto& st = self->state;
  if (!st.state.profile.registered) return request->reply_error(not_registered());
  auto candidate = projections::on_demand_nudge(st.state, request->command().nudge_now().task_id(),
                                                SystemClock::now());
  if (!candidate) return request->reply_error(candidate.error());
  write_nudge(self, std::move(*candidate), request);
}

// After a restart: notifications stored as queued but maybe never handed
// to JetStream go out again (JetStream drops a repeat of the same id).
void republish_queued(const ActorState& st) {
  auto since = SystemClock::now() - std::chrono::hours(24);
  for (const auto& r : st.state.nudges.recent())
    if (r.notification().status() == v1::NOTIFICATION_STATUS_QUEUED &&
        events::from_timestamp(r.notification().created_at()) > since) {
      v1::NudgeCreated created;
      *created.mutable_nudge() = r.nudge();
      *created.mutable_notification() = r.notification();
      publish(st, created);
    }
}

Status ensure_loaded(ActorState& st) {
  if (st.loaded) return Ok{};
  auto loaded = load_state(*st.context->store, st.user);
  if (!loaded) return loaded.error();
  st.state = std::move(*loaded);
  st.snapshot_version = st.state.version;
  st.loaded = true;
  republish_queued(st);
  schedule_check(st, SystemClock::now() + st.context->options.nudges.check_delay);
  return Ok{};
}

v1::Reply features_reply(const ActorState& st, const v1::GetFeatures& query,
                         SystemClock::time_point now) {
  v1::Reply reply;
  if (query.has_as_of()) {
    auto as_of = events::from_timestamp(query.as_of());
    auto stored = st.context->store->features_as_of(st.user, as_of);
    if (!stored) return error_reply(stored.error());
    if (!*stored)
      return error_reply(make_error(Errc::not_found,
                                    "no features stored as of " + events::format_time(as_of) +
                                        ": the batch job writes them for users with tracking on"));
    *reply.mutable_feature_snapshot() = std::move(**stored);
    return reply;
  }
  if (!st.state.signals)
    return error_reply(make_error(
        Errc::not_found, "behavioral tracking is off for this user: no features are computed"));
  auto modes = stored_modes(*st.context->store);
  auto* out = reply.mutable_feature_snapshot();
  *out = projections::feature_snapshot(st.state, now, projections::ProcrastinationModel::builtin(),
                                       modes ? &*modes : nullptr);
  out->set_id(new_uuid_string());
  out->set_user_id(st.user.to_string());
  return reply;
}

void process(Self* self, const RequestPtr& request) {
  auto& st = self->state;
  if (auto loaded = ensure_loaded(st); !loaded) return request->reply_error(loaded.error());
  if (st.state.erased) return request->reply_error(projections::user_erased(st.user));
  auto now = SystemClock::now();
  const auto& command = request->command();
  if (command.has_export_user())
    return request->reply(
        export_page(*st.context->store, st.user, st.state, command.export_user()));
  if (command.has_delete_user()) return delete_user(self, request);
  if (command.has_get_features())
    return request->reply(features_reply(st, command.get_features(), now));
  if (command.has_nudge_now()) return nudge_now(self, request);
  if (is_read(command))
    return request->reply(reply_of(projections::reply_for(st.state, command, now)));
  auto outcome = projections::run_command(st.state, request->mutable_command(), {st.user, now},
                                          request->idempotency_key());
  if (!outcome) {
    if (outcome.error().code == Errc::internal) st.loaded = false;  // the state may be ahead
    if (answered_as_retry(st, *request)) return;
    return request->reply_error(outcome.error());
  }
  if (outcome->events.empty()) {
    if (answered_as_retry(st, *request)) return;
    return request->reply(outcome->reply);
  }
  auto pending = std::make_shared<PendingAppend>();
  pending->request = request;
  pending->events = std::move(outcome->events);
  pending->reply = std::move(outcome->reply);
  append(self, std::move(pending));
}

void on_appended(Self* self, const PendingPtr& pending) {
  auto& st = self->state;
  st.appending = false;
  auto& result = *pending->result;
  auto* request = pending->request.get();
  if (pending->triggered_nudge) st.nudge_in_flight = false;
  // The events were folded before the append: unless they were stored, the
  // state is ahead of the log and is loaded again on the next message.
  if (!result || result->duplicate) st.loaded = false;
  if (!result) {
    if (!request) {
      schedule_check(st, SystemClock::now() + std::chrono::minutes(1));  // try again later
    } else if (result.error().code == Errc::wrong_expected_version) {
      // Someone else wrote this user's stream (e.g. an import): tell the
      // client to retry; nothing of this command was stored.
      request->reply_error(make_error(Errc::busy, "the user's data changed meanwhile; retry"), 10);
    } else {
      request->reply_error(result.error());
    }
  } else if (result->duplicate) {
    if (request) reply_duplicate(st, *request, *result);
  } else {
    for (const auto& event : pending->events)
      if (event.has_nudge_created()) publish(st, event.nudge_created());
    if (request) request->reply(pending->reply);
    if (st.state.version - st.snapshot_version >= st.context->options.snapshot_every)
      save_snapshot(st);
    if (pending->triggered_nudge)
      schedule_next_check(st);
    else
      schedule_check(st, SystemClock::now() + st.context->options.nudges.check_delay);
  }
  drain(self);
}

caf::behavior user_actor(Self* self, Uuid user, std::shared_ptr<const UserActorContext> context) {
  self->state.user = user;
  self->state.context = std::move(context);
  auto idle_timeout = self->state.context->options.idle_timeout;
  self->delayed_send(self, idle_timeout, idle_atom::value);
  return {
      [=](const RequestPtr& request) {
        handoff_acquire(self);
        auto& st = self->state;
        st.last_active = std::chrono::steady_clock::now();
        if (st.appending)
          st.waiting.push_back(request);
        else
          process(self, request);
      },
      [=](appended_atom, const PendingPtr& pending) {
        handoff_acquire(self);
        on_appended(self, pending);
      },
      [=](nudge_check_atom) {
        handoff_acquire(self);
        if (!self->state.shutting_down) check_nudges(self);
      },
      [=](shutdown_atom) {
        handoff_acquire(self);
        self->state.shutting_down = true;
        stop_if_shutting_down(self);
      },
      [=](written_atom, const WritingPtr& job) {
        handoff_acquire(self);
        on_written(self, job);
      },
      [=](deadline_atom, const WritingPtr& job) {
        handoff_acquire(self);
        on_deadline(self, job);
      },
      [=](idle_atom) {
        handoff_acquire(self);
        auto& st = self->state;
        bool idle = std::chrono::steady_clock::now() - st.last_active >= idle_timeout;
        if (idle && !st.appending && st.waiting.empty() && !st.nudge_in_flight &&
            st.written_waiting.empty() &&
            st.context->registry->try_passivate(st.user, self->address())) {
          if (st.loaded) {
            save_snapshot(st);
            if (!st.state.erased) schedule_next_check(st);
          }
          self->quit();
          return;
        }
        self->delayed_send(self, idle_timeout, idle_atom::value);
      },
  };
}

}  // namespace

caf::actor spawn_user_actor(caf::actor_system& system, const Uuid& user,
                            std::shared_ptr<const UserActorContext> context) {
  return system.spawn(user_actor, user, std::move(context));
}

}  // namespace coach::actors
