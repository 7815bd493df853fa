// The user decider as a pure value: no actor, no store, no clock but the
// one given.
#include "projections/user_decider.h"

#include <doctest/doctest.h>

#include "events/envelope.h"
#include "tests/commands.h"

using namespace coach;
using projections::DecideContext;
using projections::UserState;

namespace {

using namespace std::chrono_literals;
const auto kNow = std::chrono::system_clock::time_point{} + 20000 * 24h;  // 2024-10-04

using test::complete_task;
using test::create_tagged_task;
using test::create_task;
using test::get_task;
using test::note_task;
using test::register_user;

DecideContext context_for(const Uuid& user, int* minted = nullptr) {
  DecideContext context{user, kNow};
  context.new_id = [minted] {
    if (minted) ++*minted;
    return std::string("00000000-0000-4000-8000-00000000000") +
           std::to_string(minted ? *minted : 0);
  };
  return context;
}

}  // namespace

TEST_CASE("an unregistered user may only register: everything else is refused, nothing changes") {
  UserState state;
  auto user = Uuid::random();
  auto context = context_for(user);
  auto command = create_task("first");
  auto refused = projections::run_command(state, command, context);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::not_found);
  CHECK(refused.error().message.find("user.register") != std::string::npos);
  CHECK(state.version == 0);
  CHECK(state.tasks.tasks().empty());

  v1::Command profile;
  profile.mutable_get_profile();
  auto read = projections::reply_for(state, profile, kNow);
  REQUIRE_FALSE(read);
  CHECK(read.error().code == Errc::not_found);

  auto registration = register_user();
  auto registered = projections::run_command(state, registration, context);
  REQUIRE_MESSAGE(registered, registered.error().message);
  CHECK(registered->reply.profile().user().email() == "ada@example.com");
  CHECK(state.profile.registered);
  CHECK(state.version == registered->events.size());
}

TEST_CASE("a create without an id gets the context's id, in its events and its reply") {
  UserState state;
  auto user = Uuid::random();
  int minted = 0;
  auto context = context_for(user, &minted);
  auto registration = register_user();
  REQUIRE(projections::run_command(state, registration, context));
  uint64_t before = state.version;

  auto command = create_task("Write report");
  auto created = projections::run_command(state, command, context, "key-1");
  REQUIRE_MESSAGE(created, created.error().message);
  CHECK(minted == 1);
  const std::string id = "00000000-0000-4000-8000-000000000001";
  CHECK(command.task().create().task_id() == id);  // a retry names the same task
  CHECK(created->reply.task().id() == id);
  CHECK(created->reply.task().title() == "Write report");
  REQUIRE(created->events.size() == 1);
  const auto& event = created->events.front();
  CHECK(event.task_id() == id);
  CHECK(event.user_id() == user.to_string());
  CHECK(event.sequence() == before + 1);
  CHECK(event.idempotency_key() == "key-1");
  CHECK(coach::from_timestamp(event.created_at()) == kNow);
  CHECK(state.version == before + 1);

  // A given id is kept, and nothing is minted for it.
  auto named = create_task("named", "11111111-1111-4111-8111-111111111111");
  REQUIRE(projections::run_command(state, named, context));
  CHECK(minted == 1);

  // The reply of a write is the reply a read gives afterwards.
  auto read = projections::reply_for(state, get_task(id), kNow);
  REQUIRE(read);
  CHECK(read->SerializeAsString() == created->reply.SerializeAsString());
}

TEST_CASE("a refused command leaves the state as it was") {
  UserState state;
  auto context = context_for(Uuid::random());
  auto registration = register_user();
  REQUIRE(projections::run_command(state, registration, context));
  auto before = state.serialize();
  auto version = state.version;

  auto unknown = complete_task("22222222-2222-4222-8222-222222222222");
  auto refused = projections::run_command(state, unknown, context);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::not_found);

  auto malformed = complete_task("not-a-uuid");
  auto bad = projections::run_command(state, malformed, context);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == Errc::invalid_argument);

  v1::Command empty;
  auto nothing = projections::run_command(state, empty, context);
  REQUIRE_FALSE(nothing);
  CHECK(nothing.error().code == Errc::invalid_argument);

  CHECK(state.version == version);
  CHECK(state.serialize() == before);
}

TEST_CASE("a deleted user is refused every command, by id") {
  UserState state;
  state.erased = true;
  auto user = Uuid::random();
  auto context = context_for(user);
  for (auto command : {register_user(), create_task("again")}) {
    auto refused = projections::run_command(state, command, context);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == Errc::not_found);
    CHECK(refused.error().message.find(user.to_string()) != std::string::npos);
  }
  CHECK(state.version == 0);
}

TEST_CASE("commands that need the store or the node are not answered by the decider") {
  UserState state;
  auto context = context_for(Uuid::random());
  auto registration = register_user();
  REQUIRE(projections::run_command(state, registration, context));
  for (auto set : {+[](v1::Command& c) { c.mutable_export_user(); },
                   +[](v1::Command& c) { c.mutable_delete_user(); },
                   +[](v1::Command& c) { c.mutable_get_features(); },
                   +[](v1::Command& c) { c.mutable_get_node_stats(); }}) {
    v1::Command command;
    set(command);
    auto decided = projections::decide(state, command, context);
    CHECK_FALSE(decided);
    auto reply = projections::reply_for(state, command, kNow);
    REQUIRE_FALSE(reply);
    CHECK(reply.error().code == Errc::invalid_argument);
  }
}

TEST_CASE("the evolved state equals the fold of the events the commands produced") {
  UserState live;
  auto user = Uuid::random();
  int minted = 0;
  auto context = context_for(user, &minted);
  std::vector<v1::TaskEvent> log;
  auto run = [&](v1::Command command) {
    auto outcome = projections::run_command(live, command, context);
    REQUIRE_MESSAGE(outcome, outcome.error().message);
    for (auto& e : outcome->events) log.push_back(e);
    return *outcome;
  };
  run(register_user());
  auto a = run(create_task("a")).reply.task().id();
  auto b = run(create_task("b")).reply.task().id();
  run(complete_task(a));
  v1::Command snooze;
  snooze.mutable_task()->mutable_snooze()->set_task_id(b);
  *snooze.mutable_task()->mutable_snooze()->mutable_until() = coach::to_timestamp(kNow + 3h);
  run(snooze);

  UserState replayed;
  for (const auto& e : log) replayed.fold(e);
  CHECK(replayed.version == log.size());
  CHECK(replayed.serialize() == live.serialize());
  for (size_t i = 0; i < log.size(); ++i) CHECK(log[i].sequence() == i + 1);
}

TEST_CASE("an importer's history: a task with tags and notes at their own past times") {
  // coach-import decides each row with the row's instant as `now`, so the
  // events, and the notes' added_at, carry the times the history says.
  UserState state;
  auto user = Uuid::random();
  auto context = context_for(user);
  const auto created_at = kNow - 400 * 24h, noted_at = created_at + 36h;
  context.now = created_at;
  auto registration = register_user();
  REQUIRE(projections::run_command(state, registration, context));
  auto create = create_tagged_task("Renew passport", {"Admin", "travel"},
                                   "33333333-3333-4333-8333-333333333333");
  auto created = projections::run_command(state, create, context);
  REQUIRE_MESSAGE(created, created.error().message);
  const auto& id = created->reply.task().id();
  CHECK(created->reply.task().tags_size() == 2);
  CHECK(created->reply.task().tags(0) == "admin");

  context.now = noted_at;
  auto note = note_task(id, "photos taken");
  auto noted = projections::run_command(state, note, context, "import:note-1");
  REQUIRE_MESSAGE(noted, noted.error().message);
  REQUIRE(noted->events.size() == 1);
  CHECK(noted->events[0].event_type() == v1::EVENT_TYPE_TASK_NOTE_ADDED);
  CHECK(noted->events[0].idempotency_key() == "import:note-1");
  CHECK(coach::from_timestamp(noted->events[0].created_at()) == noted_at);
  const auto& task = noted->reply.task();
  REQUIRE(task.notes_size() == 1);
  CHECK(task.notes(0).text() == "photos taken");
  CHECK(coach::from_timestamp(task.notes(0).added_at()) == noted_at);
  CHECK(coach::from_timestamp(task.created_at()) == created_at);

  // The reply of task.note is what task.get reads afterwards.
  auto read = projections::reply_for(state, get_task(id), kNow);
  REQUIRE(read);
  CHECK(read->SerializeAsString() == noted->reply.SerializeAsString());

  // A refused note stores nothing and says why.
  auto blank = note_task(id, "");
  auto refused = projections::run_command(state, blank, context);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::invalid_argument);
  CHECK(state.tasks.find(id)->notes_size() == 1);
}

namespace {

// A user (tracking on or off) whose tasks a and b, due on days 2 and 4, are
// completed on `done_a` and `done_b` (0: left open); c is due on day 10, d
// has no due date. The state is at day 5.
struct RiskUser {
  UserState state;
  Uuid user = Uuid::random();
  int minted = 0;
  std::string a, b, c, d;

  RiskUser(bool tracking, int done_a, int done_b) {
    auto registration = register_user();
    registration.mutable_register_user()->mutable_preferences()->set_behavioral_tracking_enabled(
        tracking);
    run(registration, 0);
    a = create(2), b = create(4), c = create(10), d = create(-1);
    if (done_a) complete(a, done_a);
    if (done_b) complete(b, done_b);
  }
  projections::CommandOutcome run(v1::Command command, int day) {
    auto context = context_for(user, &minted);
    context.now = kNow + day * 24h;
    auto outcome = projections::run_command(state, command, context);
    REQUIRE_MESSAGE(outcome, outcome.error().message);
    return std::move(*outcome);
  }
  std::string create(int due_day, int day = 0) {
    auto command = test::create_task("task due on day " + std::to_string(due_day));
    if (due_day >= 0)
      *command.mutable_task()->mutable_create()->mutable_due_at() =
          coach::to_timestamp(kNow + due_day * 24h);
    return run(command, day).reply.task().id();
  }
  void complete(const std::string& id, int day) { run(complete_task(id), day); }
  v1::Task view(const std::string& id, int day = 5) const {
    auto reply = projections::reply_for(state, get_task(id), kNow + day * 24h);
    REQUIRE_MESSAGE(reply, reply.error().message);
    return reply->task();
  }
};

}  // namespace

TEST_CASE("task views carry the lateness risk of open dated tasks, for tracked users only") {
  RiskUser tardy(true, 3, 0);  // a done a day late, b overdue and open
  auto c = tardy.view(tardy.c);
  REQUIRE(c.has_lateness_risk());
  CHECK(c.lateness_risk() > 0);
  CHECK(c.lateness_risk() < 1);
  REQUIRE(c.lateness_reasons_size() > 0);
  CHECK(c.lateness_reasons(0).find("the risk)") != std::string::npos);
  auto b = tardy.view(tardy.b);
  CHECK(b.lateness_risk() == 1);  // past due and open: late for certain
  REQUIRE(b.lateness_reasons_size() == 1);
  CHECK(b.lateness_reasons(0) == "it is past its due date");
  CHECK_FALSE(tardy.view(tardy.a).has_lateness_risk());  // done
  CHECK_FALSE(tardy.view(tardy.d).has_lateness_risk());  // no due date
  CHECK(tardy.view(tardy.a).lateness_reasons().empty());

  // task.list carries the same, as of its own instant.
  v1::Command list;
  list.mutable_list_tasks();
  auto listed = projections::reply_for(tardy.state, list, kNow + 5 * 24h);
  REQUIRE(listed);
  int with_risk = 0;
  for (const auto& task : listed->task_list().tasks()) {
    if (task.id() == tardy.c) CHECK(task.lateness_risk() == doctest::Approx(c.lateness_risk()));
    with_risk += task.has_lateness_risk();
  }
  CHECK(with_risk == 2);  // b and c; d has no due date

  // A punctual history gives the same task a lower risk.
  RiskUser punctual(true, 1, 3);
  CHECK(punctual.view(punctual.c).lateness_risk() < c.lateness_risk() - 0.05);

  // The risk survives a snapshot: parse builds the tracker from the book.
  auto reloaded = UserState::parse(tardy.state.serialize(), tardy.state.version);
  REQUIRE(reloaded);
  auto again = projections::reply_for(*reloaded, get_task(tardy.c), kNow + 5 * 24h);
  REQUIRE(again);
  CHECK(again->task().lateness_risk() == doctest::Approx(c.lateness_risk()));

  // Untracked: nothing is learned, nothing is shown.
  RiskUser untracked(false, 3, 0);
  CHECK_FALSE(untracked.view(untracked.c).has_lateness_risk());
  CHECK(untracked.view(untracked.c).lateness_reasons().empty());
  CHECK_FALSE(untracked.view(untracked.b).has_lateness_risk());
}

TEST_CASE("the risk learns nothing from before tracking was turned on") {
  RiskUser user(false, 3, 0);  // tracking off: a late, b overdue
  CHECK_FALSE(user.state.risk);
  v1::Command on;
  on.mutable_set_preferences()->set_behavioral_tracking_enabled(true);
  user.run(on, 4);
  REQUIRE(user.state.risk);
  CHECK(user.state.risk->size() == 0);  // a, b, c, d are from before
  auto fresh = user.create(12, 4);
  CHECK(user.state.risk->size() == 1);
  auto view = user.view(fresh, 5);
  REQUIRE(view.has_lateness_risk());
  // b, overdue since before tracking, is not known to the risk either.
  auto reloaded = UserState::parse(user.state.serialize(), user.state.version);
  REQUIRE(reloaded);
  REQUIRE(reloaded->risk);
  CHECK(reloaded->risk->size() == 1);
  auto again = projections::reply_for(*reloaded, get_task(fresh), kNow + 5 * 24h);
  REQUIRE(again);
  CHECK(again->task().lateness_risk() == doctest::Approx(view.lateness_risk()));
  // A task from before that changes after is known from then on.
  user.complete(user.b, 5);
  CHECK(user.state.risk->size() == 2);
}
