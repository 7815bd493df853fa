#include "actors/user_actor.h"

#include <sodium.h>

#include <caf/all.hpp>
#include <deque>
#include <map>

#include "actors/blocking_pool.h"
#include "actors/handoff.h"
#include "actors/registry.h"
#include "actors/request.h"
#include "adapters/notifier.h"
#include "adapters/nudge_writer.h"
#include "events/envelope.h"
#include "projections/behavior_signals.h"
#include "projections/feature_series.h"
#include "projections/metrics_report.h"
#include "projections/nudge_book.h"
#include "projections/nudge_trial.h"
#include "projections/task_queries.h"
#include "projections/user_decider.h"
#include "schema/internal.pb.h"
#include "schema/snapshots.pb.h"
#include "wire/api_codec.h"
#include "wire/log.h"
#include "wire/operations.h"

namespace coach::actors {
namespace {

using appended_atom = caf::atom_constant<caf::atom("appended")>;
using idle_atom = caf::atom_constant<caf::atom("idle")>;
using written_atom = caf::atom_constant<caf::atom("written")>;
using deadline_atom = caf::atom_constant<caf::atom("deadline")>;
using io_atom = caf::atom_constant<caf::atom("io")>;
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

struct ActorState;
using Self = caf::stateful_actor<ActorState>;

// Blocking work done on the pool: what runs back in the actor afterwards.
struct IoDone {
  std::function<void(Self*)> then;
  bool exclusive = false;  // the actor took no command meanwhile
};
using IoDonePtr = std::shared_ptr<IoDone>;

}  // namespace
}  // namespace coach::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(coach::actors::PendingPtr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(coach::actors::WritingPtr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(coach::actors::IoDonePtr)

namespace coach::actors {

std::shared_ptr<const v1::PopulationRatesState> stored_population(const events::EventStore& store) {
  auto bytes = store.get_meta(kPopulationRatesMeta);
  auto rates = std::make_shared<v1::PopulationRatesState>();
  if (!bytes || !*bytes || !rates->ParseFromString(**bytes)) return nullptr;
  return rates;
}

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
  state.population = stored_population(store);
  // A user's first append then finds their data key in memory.
  if (state.version == 0 && up_to == UINT64_MAX)
    if (auto warm = store.warm_data_key(user); !warm) return warm.error();
  return state;
}

constexpr uint32_t kDefaultExportPage = 500, kMaxExportPage = 2000;
// How many of the user's weeks and days user.insights shows
// (Insights.weeks, Insights.days).
constexpr size_t kInsightWeeks = 8, kInsightDays = 7;

// What the pool reads for one export page: the log slice and the feature
// snapshots that may belong to it (as_of_sequence from the page's first).
struct ExportSlice {
  std::vector<v1::TaskEvent> events;
  std::vector<v1::FeatureSnapshot> features;
};

uint32_t export_page_size(const v1::ExportUser& query) {
  return query.max_events() == 0 ? kDefaultExportPage : query.max_events();
}

uint64_t export_from(const v1::ExportUser& query) {
  return std::max<uint64_t>(1, query.from_sequence());
}

// Reads the page's log slice, up to `version`, and the user's feature
// snapshots of that range and after (the first page: all). Blocks.
Result<ExportSlice> read_export_slice(const events::EventStore& store, const Uuid& user,
                                      uint64_t version, const v1::ExportUser& query) {
  ExportSlice slice;
  uint64_t from = export_from(query);
  if (from > version) return slice;
  auto events =
      store.read(user, from, std::min<uint64_t>(export_page_size(query), version - from + 1));
  if (!events) return events.error();
  slice.events = std::move(*events);
  auto features = store.feature_history(user, SystemClock::time_point{}, SystemClock::now());
  if (!features) return features.error();
  uint64_t features_from = from == 1 ? 0 : from;
  for (auto& f : *features)
    if (f.as_of_sequence() >= features_from) slice.features.push_back(std::move(f));
  return slice;
}

v1::ScheduleRecommendation recommendation_of(const v1::TaskEvent& e, bool accepted) {
  v1::ScheduleRecommendation r;
  const auto& a = e.recommendation_accepted();
  const auto& j = e.recommendation_rejected();
  r.set_id(accepted ? a.recommendation_id() : j.recommendation_id());
  r.set_user_id(e.user_id());
  r.set_task_id(e.task_id());
  *r.mutable_recommended_start() = accepted ? a.start() : j.start();
  *r.mutable_recommended_due() = accepted ? a.end() : j.end();
  r.set_confidence_score(accepted ? a.confidence_score() : j.confidence_score());
  *r.mutable_created_at() = e.created_at();
  r.set_accepted(accepted);
  r.set_rejected(!accepted);
  return r;
}

// Adds to `out` what comes from event `e`: the event, the task it created
// (as it is now), the recommendation it decided, the nudge it wrote with
// its notification (current status from the state's recent records).
// Returns the bytes added.
size_t add_export_event(const UserState& state, const v1::TaskEvent& e, v1::UserExport& out) {
  size_t before = out.ByteSizeLong();
  *out.add_events() = e;
  if (e.has_task_created()) {
    if (const auto* task = state.tasks.find(e.task_id())) *out.add_tasks() = *task;
  } else if (e.has_recommendation_accepted() || e.has_recommendation_rejected()) {
    *out.add_recommendations() = recommendation_of(e, e.has_recommendation_accepted());
  } else if (e.has_nudge_created()) {
    const auto& created = e.nudge_created();
    const auto* recent = projections::find_nudge(state.nudges, created.nudge().id());
    *out.add_nudges() = recent ? recent->nudge() : created.nudge();
    if (recent && recent->has_notification())
      *out.add_notifications() = recent->notification();
    else if (created.has_notification())
      *out.add_notifications() = created.notification();
  }
  return out.ByteSizeLong() - before;
}

// One export page from the slice read on the pool and the current state:
// events in order until max_events or until the page would pass
// kMaxPageBytes (at least one event), each with what comes from it, and
// the feature snapshots whose as_of_sequence the page's range holds.
v1::Reply export_page(const UserState& state, const v1::ExportUser& query, uint64_t version,
                      ExportSlice slice) {
  v1::Reply reply;
  auto* out = reply.mutable_user_export();
  out->set_format("coach.export.v1");
  *out->mutable_exported_at() = coach::to_timestamp(SystemClock::now());
  *out->mutable_profile() = state.profile.profile;
  uint64_t from = export_from(query), last = from - 1;
  size_t bytes = out->ByteSizeLong();
  for (const auto& e : slice.events) {
    if (last >= from && bytes > projections::kMaxPageBytes) break;  // the rest on the next page
    bytes += add_export_event(state, e, *out);
    last = e.sequence();
  }
  bool final_page = last >= version;
  for (auto& f : slice.features)
    if (final_page || f.as_of_sequence() <= last) {
      // Each snapshot's task risks grow with the open tasks and the page
      // bound does not count them: they are derived from the events the
      // export holds, and left out of it.
      f.clear_task_risks();
      *out->add_feature_snapshots() = std::move(f);
    }
  out->set_next_sequence(final_page ? 0 : last + 1);
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
  bool io_busy = false;           // an exclusive pool job (load, erase) is in flight
  int io_pending = 0;             // pool jobs whose continuation is still to run here
  bool check_after_load = false;  // a nudge check came before the state
  std::deque<RequestPtr> waiting;
  bool nudge_in_flight = false;            // a triggered nudge is being written
  std::deque<WritingPtr> written_waiting;  // written while an append was in flight
  std::chrono::steady_clock::time_point last_active = std::chrono::steady_clock::now();
  bool shutting_down = false;
  // next_miss of the book, as of its series_changes (UINT64_MAX: not known).
  uint64_t miss_known_at = UINT64_MAX;
  std::optional<SystemClock::time_point> next_miss;
  static inline const char* name = "coach.user";

  // Commands wait: an append or an exclusive pool job is in flight.
  bool busy() const { return appending || io_busy; }
  // The pool lane of this user: all their blocking work runs in order.
  uint64_t lane() const { return UuidHash{}(user); }
};

// Runs `work` on the blocking pool (the user's lane); the function it
// returns then runs in the actor. While an exclusive job is in flight the
// actor takes no command: they wait, in order.
void off_scheduler(Self* self, bool exclusive, std::function<std::function<void(Self*)>()> work) {
  auto& st = self->state;
  if (exclusive) st.io_busy = true;
  ++st.io_pending;
  caf::actor me = caf::actor_cast<caf::actor>(self);
  st.context->io->submit(st.lane(), [me, exclusive, work = std::move(work)] {
    auto done = std::make_shared<IoDone>();
    done->then = work();
    done->exclusive = exclusive;
    send_to_actor(me, io_atom::value, done);
  });
}

// Saves the snapshot on the pool; nothing waits for it (a snapshot lost is
// only a longer load: the log is the truth).
void save_snapshot(ActorState& st) {
  if (st.state.erased || st.state.version == st.snapshot_version) return;
  st.snapshot_version = st.state.version;
  st.context->io->submit(
      st.lane(), [store = st.context->store, user = st.user,
                  snapshot = events::Snapshot{st.state.version, st.state.serialize()}] {
        if (auto saved = store->save_snapshot(user, kUserSnapshot, snapshot); !saved)
          log_line(LogLevel::warn, "user", "snapshot not saved; the next load replays more",
                   {{"user", user.to_string()}, {"error", saved.error().message}});
      });
}

// An idle user's data key leaves memory, in the user's lane so after the
// snapshot save that needs it. A new actor for the user that loads before
// this runs reads the key again from RocksDB when it next needs it.
void forget_data_key(ActorState& st) {
  st.context->io->submit(
      st.lane(), [store = st.context->store, user = st.user] { store->forget_data_key(user); });
}

// What is stored beside an idempotency key: a marker byte (0x01: no
// serialized Reply starts with it, field number 0 does not exist), the
// command's fingerprint (Request::fingerprint), the reply. Rows of older
// builds hold the bare reply.
constexpr char kFingerprinted = '\x01';

std::string stored_reply(const Request& request, v1::Reply reply) {
  projections::clear_risk(reply);  // never stored (projections/user_decider.h)
  return kFingerprinted + request.fingerprint() + reply.SerializeAsString();
}

// Answers with a reply stored with an idempotency key, or conflict when the
// key was stored for another command.
void reply_stored(Request& request, std::string_view stored) {
  if (!stored.empty() && stored.front() == kFingerprinted) {
    auto fingerprint = stored.substr(1, crypto_generichash_BYTES);
    if (fingerprint != request.fingerprint())
      return request.reply_error(make_error(
          Errc::conflict, "idempotency key \"" + valid_utf8(request.idempotency_key()) +
                              "\" was used for another command (another operation or body); "
                              "use a new key for each new command"));
    stored.remove_prefix(1 + crypto_generichash_BYTES);
  }
  v1::Reply reply;
  if (!reply.ParseFromArray(stored.data(), static_cast<int>(stored.size())))
    return request.reply_error(make_error(Errc::corrupted, "the stored reply does not parse"));
  request.reply(reply);
}

// Blocks; runs on the pool.
void reply_as_replayed(const events::EventStore& store, const Uuid& user, Request& request,
                       const events::AppendResult& original) {
  auto then = load_state(store, user, original.last_sequence);
  if (!then) return request.reply_error(then.error());
  v1::Command command = request.command();
  if (command.has_task() && command.task().has_create() &&
      command.task().create().task_id().empty()) {
    // The original create got its task id from the stored event.
    auto created = store.read(user, original.first_sequence, 1);
    if (!created || created->empty())
      return request.reply_error(make_error(Errc::internal, "lost create"));
    command.mutable_task()->mutable_create()->set_task_id(created->front().task_id());
  }
  auto reply = reply_of(projections::reply_for(*then, command, SystemClock::now()));
  projections::clear_risk(reply);  // as a stored reply: tracking may be off by now
  request.reply(reply);
}

// Answers a command whose idempotency key was already stored: with the
// reply stored with the key. Keys stored by builds before stored replies
// get the state as it was right after that command, replayed on the pool.
void reply_duplicate(const ActorState& st, const RequestPtr& request,
                     const events::AppendResult& original) {
  if (!original.reply.empty()) return reply_stored(*request, original.reply);
  st.context->io->submit(st.lane(), [store = st.context->store, user = st.user, request, original] {
    reply_as_replayed(*store, user, *request, original);
  });
}

// A keyed command that stores nothing now (refused, or a no-op) may be the
// retry of one that did: the pool looks the key up and answers with the
// stored reply, or with `otherwise` (the refusal or the no-op's reply).
// Writes with events are checked by the store's writer instead, once.
void answer_unless_retry(const ActorState& st, const RequestPtr& request, v1::Reply otherwise) {
  if (request->idempotency_key().empty()) return request->reply(otherwise);
  st.context->io->submit(st.lane(), [store = st.context->store, user = st.user, request,
                                     otherwise = std::move(otherwise)] {
    auto found = store->find_idempotency_key(user, request->idempotency_key());
    if (!found) return request->reply_error(found.error());
    if (!*found) return request->reply(otherwise);
    if (!(*found)->reply.empty()) return reply_stored(*request, (*found)->reply);
    reply_as_replayed(*store, user, *request, **found);
  });
}

void process(Self* self, const RequestPtr& request);
void decide(Self* self, const RequestPtr& request);
void on_written(Self* self, const WritingPtr& job);

// Erases the user for good on the pool (the actor takes no command
// meanwhile), answers, and stops this actor when nothing else of the user
// is in flight (otherwise it answers "deleted" until idle).
void delete_user(Self* self, const RequestPtr& request) {
  auto& st = self->state;
  // Nothing to erase, and no tombstone: the id may still register.
  if (!st.state.profile.registered) return request->reply_error(not_registered());
  if (request->command().delete_user().confirm() != st.user.to_string())
    return request->reply_error(make_error(
        Errc::invalid_argument, "confirm must repeat the user's id (" + st.user.to_string() +
                                    ") to delete the user and all their data for good"));
  auto now = SystemClock::now();
  v1::Reply reply;
  *reply.mutable_profile() = st.state.profile.profile;
  *reply.mutable_profile()->mutable_user()->mutable_deleted_at() = coach::to_timestamp(now);
  off_scheduler(self, true, [context = st.context, user = st.user, request, reply, now] {
    auto erased = context->store->erase_user(user, now);
    // Their queued and dead-lettered notifications go too (texts,
    // addresses). The log is erased already: a failed purge is logged, the
    // delete stands.
    if (erased && context->notifier)
      if (auto purged = context->notifier->purge_user(user); !purged)
        log_line(LogLevel::error, "user", "notifications of a deleted user not purged",
                 {{"user", user.to_string()}, {"error", purged.error().message}});
    return std::function<void(Self*)>([erased, request, reply](Self* back) {
      if (!erased) return request->reply_error(erased.error());
      auto& state = back->state;
      state.state = UserState{};
      state.state.erased = true;
      request->reply(reply);
      if (state.context->registry->try_passivate(state.user, back->address())) back->quit();
    });
  });
}

// During a node's shutdown: once nothing is being appended or waiting, the
// actor saves its snapshot and stops (a nudge still being written is
// dropped; its trigger fires again after the restart).
void stop_if_shutting_down(Self* self) {
  auto& st = self->state;
  if (!st.shutting_down || st.busy() || st.io_pending > 0 || !st.waiting.empty()) return;
  if (st.loaded) save_snapshot(st);
  self->quit();
}

void start_load(Self* self);

void drain(Self* self) {
  auto& st = self->state;
  if (!st.busy() && !st.loaded && !st.written_waiting.empty()) start_load(self);
  while (!st.busy() && st.loaded && !st.written_waiting.empty()) {
    auto next = std::move(st.written_waiting.front());
    st.written_waiting.pop_front();
    on_written(self, next);
  }
  while (!st.busy() && !st.waiting.empty()) {
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
                          ? stored_reply(*pending->request, pending->reply)
                          : std::string();
  st.context->store->append_async(
      st.user, expected, pending->events,
      [me, pending](Result<events::AppendResult> r) {
        // Stored: answered here, on the writer's thread, one handoff
        // sooner; the actor's on_appended finds it answered. Everything
        // else (a duplicate, a failure) is answered by the actor.
        if (r && !r->duplicate && pending->request) pending->request->reply(pending->reply);
        pending->result = std::move(r);
        send_to_actor(me, appended_atom::value, pending);
      },
      reply);
}

// ---- nudges

void schedule_check(ActorState& st, SystemClock::time_point when) {
  if (st.context->clock) st.context->registry->schedule_check(st.user, when);
}

// When the next open occurrence of a series will be missed; recomputed
// only when an event touched a series (expanding rules costs).
std::optional<SystemClock::time_point> next_miss(ActorState& st) {
  if (st.miss_known_at != st.state.tasks.series_changes()) {
    st.next_miss = projections::next_miss(st.state.tasks);
    st.miss_known_at = st.state.tasks.series_changes();
  }
  return st.next_miss;
}

// Checks again when the triggers say (nothing when nudges are off), or
// when a series' occurrence will be missed, whichever comes first.
void schedule_next_check(ActorState& st) {
  auto now = SystemClock::now();
  auto next = projections::next_check(st.state, now);
  if (auto miss = next_miss(st); miss && !st.state.erased && st.state.profile.registered)
    next = std::max(std::min(next.value_or(*miss), *miss), now + std::chrono::seconds(1));
  if (next) schedule_check(st, *next);
}

// Occurrences missed by `now` (projections::decide_missed): appended as
// coach's own events, with no request. False when none is due.
bool roll_missed(Self* self, SystemClock::time_point now) {
  auto& st = self->state;
  if (!next_miss(st) || *next_miss(st) > now) return false;
  auto rolled = projections::decide_missed(st.state.tasks, now);
  if (rolled.empty()) return false;
  auto pending = std::make_shared<PendingAppend>();
  for (auto& event : rolled) {
    events::stamp_envelope(event, st.user, st.state.version + 1, now);
    st.state.fold(event);
    pending->events.push_back(std::move(event));
  }
  append(self, std::move(pending));
  return true;
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

// A stored nudge, as its record in the book (with its position), on the
// user's live feed, with the position of the nudge before it.
void publish_live(const ActorState& st, const std::string& nudge_id) {
  if (!st.context->notifier) return;
  const auto& recent = st.state.nudges.recent();
  for (int i = recent.size() - 1; i >= 0; --i)
    if (recent[i].nudge().id() == nudge_id) {
      v1::LiveNotification live;
      *live.mutable_record() = recent[i];
      if (i > 0) live.set_previous_position(recent[i - 1].position());
      return st.context->notifier->publish_live(st.user, live);
    }
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

// Uniform in [0, 1), from the system's CSPRNG (no seed to share or guess).
double uniform_draw() {
  return randombytes_random() / 4294967296.0;
}

// The trial's decision, stored at the draw in both arms (so that what
// happens while a nudge is written cannot select which decisions count).
// One held back ends the nudge in flight; one sent leaves it to the writer.
void record_decision(Self* self, v1::TaskEvent decided, Clock::time_point now) {
  auto& st = self->state;
  auto pending = std::make_shared<PendingAppend>();
  pending->triggered_nudge = !decided.nudge_decided().sent();
  pending->events.push_back(std::move(decided));
  auto& event = pending->events.back();
  events::stamp_envelope(event, st.user, st.state.version + 1, now);
  st.state.fold(event);
  append(self, std::move(pending));
}

void check_nudges(Self* self) {
  auto& st = self->state;
  if (!st.loaded) {
    st.check_after_load = true;
    return start_load(self);
  }
  if (st.state.erased || !st.state.profile.registered) return;
  auto now = SystemClock::now();
  if (st.nudge_in_flight) return;  // its end schedules the next check
  if (st.busy()) return schedule_check(st, now + std::chrono::seconds(1));
  if (roll_missed(self, now)) return;  // its append checks again
  // Due dates that passed since the last event count now, once, rather
  // than on every read of the risk until the next event.
  if (st.state.risk) st.state.risk->advance(now);
  auto candidate = projections::next_nudge(st.state, now);
  if (!candidate) return schedule_next_check(st);
  st.nudge_in_flight = true;
  double hold_back = st.context->options.nudges.hold_back;
  if (projections::in_trial(st.state, *candidate, hold_back, now)) {
    auto decided = projections::decide_trial(st.state, *candidate, hold_back, uniform_draw(),
                                             new_uuid_string(), now);
    bool sent = decided.nudge_decided().sent();
    candidate->decision_id = decided.nudge_decided().decision_id();
    record_decision(self, std::move(decided), now);
    if (!sent) return;
  }
  write_nudge(self, std::move(*candidate), nullptr);
}

void on_written(Self* self, const WritingPtr& job) {
  auto& st = self->state;
  if (st.busy() || !st.loaded) {
    st.written_waiting.push_back(job);
    return drain(self);  // loads the state if need be
  }
  auto now = SystemClock::now();
  bool on_demand = job->request != nullptr;
  // A nudge the trial decided to send passed the gate at its draw, and its
  // decision took the slot: only an opt-out since stops it now.
  bool decided = !job->candidate.decision_id.empty();
  bool stopped = decided ? !st.state.profile.profile.preferences().nudges_enabled()
                         : !projections::gate_reason(st.state, now).empty();
  if (!on_demand && (st.state.erased || stopped)) {
    st.nudge_in_flight = false;  // things changed while it was written (opt-out, cap)
    return schedule_next_check(st);
  }
  auto pending = std::make_shared<PendingAppend>();
  pending->request = job->request;
  pending->triggered_nudge = !on_demand;
  pending->events.push_back(projections::decide_nudge(st.state, job->candidate, job->written,
                                                      on_demand, new_uuid_string(),
                                                      new_uuid_string(), now));
  for (auto& event : pending->events) {
    events::stamp_envelope(event, st.user, st.state.version + 1, now);
    st.state.fold(event);
  }
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
        coach::from_timestamp(r.notification().created_at()) > since) {
      v1::NudgeCreated created;
      *created.mutable_nudge() = r.nudge();
      *created.mutable_notification() = r.notification();
      publish(st, created);
    }
}

void on_loaded(Self* self, Result<UserState> loaded) {
  auto& st = self->state;
  if (!loaded) {
    // Whatever waited for the state learns why; the next message tries again.
    auto waiting = std::move(st.waiting);
    st.waiting.clear();
    for (auto& request : waiting) request->reply_error(loaded.error());
    auto written = std::move(st.written_waiting);
    st.written_waiting.clear();
    for (auto& job : written)
      if (job->request) job->request->reply_error(loaded.error());
    st.nudge_in_flight = false;
    return;
  }
  st.state = std::move(*loaded);
  st.miss_known_at = UINT64_MAX;
  st.snapshot_version = st.state.version;
  st.loaded = true;
  republish_queued(st);
  schedule_check(st, SystemClock::now() + st.context->options.nudges.check_delay);
  if (st.check_after_load) {
    st.check_after_load = false;
    check_nudges(self);
  }
}

// Loads the user's state (snapshot plus the log's tail) on the pool;
// commands wait meanwhile.
void start_load(Self* self) {
  auto& st = self->state;
  if (st.loaded || st.io_busy) return;
  off_scheduler(self, true, [store = st.context->store, user = st.user] {
    auto loaded = std::make_shared<Result<UserState>>(load_state(*store, user));
    return std::function<void(Self*)>(
        [loaded](Self* back) { on_loaded(back, std::move(*loaded)); });
  });
}

Error tracking_off() {
  return make_error(Errc::not_found,
                    "behavioral tracking is off for this user: no features are computed");
}

// user.features: stored snapshots (as_of) are read and answered on the pool;
// live features need the stored behavior modes, read there too, and the
// state, folded here.
void features(Self* self, const RequestPtr& request) {
  auto& st = self->state;
  const auto& query = request->command().get_features();
  if (query.has_as_of()) {
    if (auto valid = projections::check_instant("as_of", query.as_of()); !valid)
      return request->reply_error(valid.error());
    // Tracking off: nothing learned is shown, stored snapshots included.
    if (!st.state.signals) return request->reply_error(tracking_off());
    return st.context->io->submit(st.lane(), [store = st.context->store, user = st.user, request] {
      auto as_of = coach::from_timestamp(request->command().get_features().as_of());
      auto stored = store->features_as_of(user, as_of);
      if (!stored) return request->reply_error(stored.error());
      if (!*stored)
        return request->reply_error(make_error(
            Errc::not_found, "no features stored as of " + coach::format_time(as_of) +
                                 ": the batch job writes them for users with tracking on"));
      v1::Reply reply;
      *reply.mutable_feature_snapshot() = std::move(**stored);
      request->reply(reply);
    });
  }
  if (!st.state.signals) return request->reply_error(tracking_off());
  off_scheduler(self, false, [store = st.context->store, request] {
    auto modes = std::make_shared<std::optional<projections::ClusterModel>>(stored_modes(*store));
    return std::function<void(Self*)>([request, modes](Self* back) {
      const auto& actor = back->state;
      if (!actor.loaded || !actor.state.signals) return request->reply_error(tracking_off());
      v1::Reply reply;
      auto* out = reply.mutable_feature_snapshot();
      *out = projections::feature_snapshot(actor.state, SystemClock::now(),
                                           projections::ProcrastinationModel::builtin(),
                                           *modes ? &**modes : nullptr);
      out->set_id(new_uuid_string());
      out->set_user_id(actor.user.to_string());
      request->reply(reply);
    });
  });
}

// user.export: the log slice on the pool, the page put together here from
// the state as it is then.
void export_user(Self* self, const RequestPtr& request) {
  auto& st = self->state;
  if (!st.state.profile.registered) return request->reply_error(not_registered());
  const auto& query = request->command().export_user();
  if (export_page_size(query) > kMaxExportPage)
    return request->reply_error(make_error(Errc::invalid_argument, "max_events must be 1 to 2000"));
  off_scheduler(self, false,
                [store = st.context->store, user = st.user, version = st.state.version,
                 request]() -> std::function<void(Self*)> {
                  auto slice =
                      read_export_slice(*store, user, version, request->command().export_user());
                  return [request, version, slice = std::move(slice)](Self* me) mutable {
                    if (!slice) return request->reply_error(slice.error());
                    if (me->state.state.erased)
                      return request->reply_error(projections::user_erased(me->state.user));
                    request->reply(export_page(me->state.state, request->command().export_user(),
                                               version, std::move(*slice)));
                  };
                });
}

// user.insights: what the state says and, for the user's own token, their
// success metrics (projections/success_metrics.h), folded from their log on
// the pool: a long log must not hold up the actor's other commands.
void insights(Self* self, const RequestPtr& request) {
  auto& st = self->state;
  auto now = SystemClock::now();
  auto answer = projections::reply_for(st.state, request->command(), now);
  if (!answer) return request->reply_error(answer.error());
  // The weeks are the user's alone (an analyst's view of a user stays what
  // it was), and like all insights only while tracking is on.
  if (!request->from_user() || !st.state.tracking()) return request->reply(*answer);
  off_scheduler(self, false,
                [store = st.context->store, user = st.user, version = st.state.version, now,
                 reply = std::move(*answer), request]() mutable -> std::function<void(Self*)> {
                  auto log = store->read(user, 1, version);
                  if (!log)
                    return [request, error = log.error()](Self*) { request->reply_error(error); };
                  auto metrics = projections::user_metrics(*log, now);
                  auto* insights = reply.mutable_insights();
                  for (auto& week : projections::own_weeks(metrics, kInsightWeeks))
                    *insights->add_weeks() = std::move(week);
                  for (auto& day : projections::own_days(metrics, kInsightDays))
                    *insights->add_days() = std::move(day);
                  return [request, reply = std::move(reply)](Self* me) {
                    if (me->state.state.erased)
                      return request->reply_error(projections::user_erased(me->state.user));
                    request->reply(reply);
                  };
                });
}

void process(Self* self, const RequestPtr& request) {
  auto& st = self->state;
  if (!st.loaded) {
    st.waiting.push_front(request);  // first in line once the state is here
    return start_load(self);
  }
  if (st.state.erased) return request->reply_error(projections::user_erased(st.user));
  // Its caller stopped waiting while it queued: not started at all.
  if (request->expired(std::chrono::system_clock::now()))
    return request->reply_error(deadline_passed());
  const auto* operation = request->operation();
  if (!operation) return request->reply_error(make_error(Errc::invalid_argument, "no command"));
  // The operation table's handler column says what answers it.
  switch (operation->handler) {
    case Handler::decide:
      return decide(self, request);
    case Handler::state_reply:
      return request->reply(
          reply_of(projections::reply_for(st.state, request->command(), SystemClock::now())));
    case Handler::export_page:
      return export_user(self, request);
    case Handler::features:
      return features(self, request);
    case Handler::insights:
      return insights(self, request);
    case Handler::nudge_now:
      return nudge_now(self, request);
    case Handler::erase:
      return delete_user(self, request);
    case Handler::node_stats:
    case Handler::ops_snapshot:
    case Handler::list_actors:
    case Handler::stop_actor:
    case Handler::batch:
    case Handler::metrics:
      return request->reply_error(
          make_error(Errc::internal, "a node operation reached a user actor"));
  }
}

// A write: decide, fold, append; answered once the append is stored.
void decide(Self* self, const RequestPtr& request) {
  auto& st = self->state;
  auto now = SystemClock::now();
  auto outcome = projections::run_command(st.state, request->mutable_command(), {st.user, now},
                                          request->idempotency_key());
  if (!outcome) {
    if (outcome.error().code == Errc::internal) st.loaded = false;  // the state may be ahead
    return answer_unless_retry(st, request, error_reply(outcome.error()));
  }
  if (outcome->events.empty()) return answer_unless_retry(st, request, std::move(outcome->reply));
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
    if (pending->request) reply_duplicate(st, pending->request, *result);
  } else {
    for (const auto& event : pending->events)
      if (event.has_nudge_created()) {
        publish(st, event.nudge_created());
        publish_live(st, event.nudge_created().nudge().id());
      }
    // Tracking turned off: what the batch job stored goes at once, not at
    // its next run.
    bool preferences_changed =
        std::any_of(pending->events.begin(), pending->events.end(),
                    [](const auto& e) { return e.has_preferences_changed(); });
    if (preferences_changed && !st.state.signals)
      st.context->io->submit(st.lane(), [store = st.context->store, user = st.user] {
        if (auto cleared = store->clear_features(user); !cleared)
          log_line(LogLevel::warn, "user", "stored features not cleared after tracking off",
                   {{"user", user.to_string()}, {"error", cleared.error().message}});
      });
    if (request) request->reply(pending->reply);  // answered by the writer already: a no-op
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
        if (st.busy())
          st.waiting.push_back(request);
        else
          process(self, request);
      },
      [=](io_atom, const IoDonePtr& done) {
        handoff_acquire(self);
        if (done->exclusive) self->state.io_busy = false;
        --self->state.io_pending;
        if (done->then) done->then(self);
        drain(self);
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
        if (idle && !st.busy() && st.io_pending == 0 && st.waiting.empty() && !st.nudge_in_flight &&
            st.written_waiting.empty() &&
            st.context->registry->try_passivate(st.user, self->address())) {
          if (st.loaded) {
            save_snapshot(st);
            if (!st.state.erased) schedule_next_check(st);
          }
          forget_data_key(st);
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
