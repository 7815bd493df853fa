// Person: one user's state driven through the real deciders, for tests of
// the pure parts (nudges, the nudge trial).
#pragma once

#include <doctest/doctest.h>

#include <optional>
#include <string>

#include "events/envelope.h"
#include "projections/nudge_book.h"
#include "projections/nudge_text.h"
#include "projections/user_decider.h"
#include "projections/user_state.h"
#include "support.h"

namespace coach::test {

using projections::UserState;
using TimePoint = Clock::time_point;

// One user's state, driven through the real deciders.
struct Person {
  Uuid user = Uuid::random();
  UserState state;
  uint64_t sequence = 0;

  void fold(v1::TaskEvent e, TimePoint when) {
    events::stamp_envelope(e, user, ++sequence, when);
    state.fold(e);
  }
  void fold_all(Result<std::vector<v1::TaskEvent>> events, TimePoint when) {
    REQUIRE_MESSAGE(events, test::error_of(events));
    for (auto& e : *events) fold(e, when);
  }
  explicit Person(const std::string& zone = "UTC", TimePoint when = utc("2026-03-01T00:00:00Z")) {
    v1::RegisterUser r;
    r.set_email("p@example.com");
    r.set_timezone(zone);
    fold_all(projections::decide_register(state.profile, r), when);
  }
  void set(const v1::SetPreferences& p, TimePoint when) {
    fold_all(projections::decide_preferences(state.profile, p), when);
  }
  std::string task(const std::string& title, std::optional<TimePoint> due, TimePoint when) {
    v1::TaskCommand c;
    c.mutable_create()->set_task_id(new_uuid_string());
    c.mutable_create()->set_title(title);
    c.mutable_create()->set_estimated_minutes(60);
    if (due) *c.mutable_create()->mutable_due_at() = coach::to_timestamp(*due);
    fold_all(projections::decide(state.tasks, c, when), when);
    return c.create().task_id();
  }
  void run(const v1::TaskCommand& c, TimePoint when) {
    fold_all(projections::decide(state.tasks, c, when), when);
  }
  void complete(const std::string& id, TimePoint when) {
    v1::TaskCommand c;
    c.mutable_complete()->set_task_id(id);
    run(c, when);
  }
  void snooze(const std::string& id, TimePoint until, TimePoint when) {
    v1::TaskCommand c;
    c.mutable_snooze()->set_task_id(id);
    *c.mutable_snooze()->mutable_until() = coach::to_timestamp(until);
    run(c, when);
  }
  // Writes and folds the nudge a check finds now; returns it (or nothing).
  std::optional<v1::CoachingNudge> check(TimePoint now) {
    auto n = projections::next_nudge(state, now);
    if (!n) return std::nullopt;
    auto e = projections::decide_nudge(
        state, *n, {projections::render_template(n->context), v1::NUDGE_SOURCE_TEMPLATE, ""}, false,
        new_uuid_string(), new_uuid_string(), now);
    fold(e, now);
    return e.nudge_created().nudge();
  }
};

}  // namespace coach::test
