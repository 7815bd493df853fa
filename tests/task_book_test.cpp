// The task decider and fold: pure, so tested without actors, storage or I/O.
#include <doctest/doctest.h>

#include "events/envelope.h"
#include "projections/task_book.h"
#include "tests/support.h"

using namespace coach;
using namespace coach::projections;
using namespace std::chrono_literals;

namespace {

const Clock::time_point kStart = Clock::from_time_t(1'800'000'000);  // 2027-01-15

// A user's book plus the log that built it, advanced command by command.
struct Fixture {
  Uuid user = Uuid::random();
  TaskBook book;
  std::vector<v1::TaskEvent> log;
  Clock::time_point now = kStart;

  // Decides and, on success, stamps and folds the events.
  Result<std::vector<v1::TaskEvent>> run(const v1::TaskCommand& command) {
    auto events = decide(book, command, now);
    if (!events) return events;
    for (auto& e : *events) {
      events::stamp_envelope(e, user, book.version() + 1, now);
      evolve(book, e);
      log.push_back(e);
    }
    return events;
  }

  const v1::Task& task(const std::string& id) {
    const auto* t = book.find(id);
    REQUIRE(t);
    return *t;
  }
};

v1::TaskCommand create(const std::string& id, const std::string& title) {
  v1::TaskCommand c;
  c.mutable_create()->set_task_id(id);
  c.mutable_create()->set_title(title);
  return c;
}

template <class Set>
v1::TaskCommand command(Set set) {
  v1::TaskCommand c;
  set(c);
  return c;
}

v1::TaskCommand complete(const std::string& id) {
  return command([&](auto& c) { c.mutable_complete()->set_task_id(id); });
}
v1::TaskCommand remove(const std::string& id) {
  return command([&](auto& c) { c.mutable_delete_()->set_task_id(id); });
}
v1::TaskCommand reopen(const std::string& id) {
  return command([&](auto& c) { c.mutable_reopen()->set_task_id(id); });
}
v1::TaskCommand restore(const std::string& id) {
  return command([&](auto& c) { c.mutable_restore()->set_task_id(id); });
}
v1::TaskCommand snooze(const std::string& id, Clock::time_point until) {
  return command([&](auto& c) {
    c.mutable_snooze()->set_task_id(id);
    *c.mutable_snooze()->mutable_until() = coach::to_timestamp(until);
  });
}
v1::TaskCommand edit_due(const std::string& id, Clock::time_point due) {
  return command([&](auto& c) {
    c.mutable_edit()->set_task_id(id);
    *c.mutable_edit()->mutable_due_at() = coach::to_timestamp(due);
  });
}

void check_error(const Result<std::vector<v1::TaskEvent>>& r, Errc code, const char* words) {
  REQUIRE_FALSE(r);
  CHECK(r.error().code == code);
  CHECK_MESSAGE(r.error().message.find(words) != std::string::npos, r.error().message);
}

}  // namespace

TEST_CASE("a task's whole life: create, edit, snooze, wake, complete, reopen, delete, restore") {
  Fixture f;
  auto id = new_uuid_string();
  REQUIRE(f.run(create(id, "Write report")));
  CHECK(f.task(id).status() == v1::TASK_STATUS_PENDING);
  CHECK(f.task(id).title() == "Write report");
  CHECK(f.task(id).user_id() == f.user.to_string());

  auto retitle = command([&](auto& c) {
    c.mutable_edit()->set_task_id(id);
    c.mutable_edit()->set_title("Write Q3 report");
    c.mutable_edit()->set_priority(3);
  });
  auto edited = f.run(retitle);
  REQUIRE(edited);
  REQUIRE(edited->size() == 1);
  const auto& m = (*edited)[0].task_modified();
  CHECK(m.changed_size() == 2);
  CHECK(m.before().title() == "Write report");
  CHECK(m.after().title() == "Write Q3 report");
  CHECK(f.task(id).priority() == 3);
  CHECK(f.task(id).edit_count() == 1);

  REQUIRE(f.run(snooze(id, f.now + 2h)));
  CHECK(effective_status(f.task(id), f.now) == v1::TASK_STATUS_SNOOZED);
  f.now += 3h;  // the snooze runs out: pending again, no event needed
  CHECK(effective_status(f.task(id), f.now) == v1::TASK_STATUS_PENDING);
  CHECK(f.task(id).snooze_count() == 1);

  REQUIRE(f.run(complete(id)));
  CHECK(f.task(id).status() == v1::TASK_STATUS_COMPLETED);
  CHECK(coach::from_timestamp(f.task(id).completed_at()) == f.now);
  REQUIRE(f.run(reopen(id)));
  CHECK(f.task(id).status() == v1::TASK_STATUS_PENDING);
  CHECK_FALSE(f.task(id).has_completed_at());

  REQUIRE(f.run(remove(id)));
  CHECK(f.task(id).status() == v1::TASK_STATUS_DELETED);
  CHECK(f.task(id).has_deleted_at());
  REQUIRE(f.run(restore(id)));
  CHECK(f.task(id).status() == v1::TASK_STATUS_PENDING);
  CHECK(f.book.version() == f.log.size());
}

TEST_CASE("restore brings back the status a task had before deletion") {
  Fixture f;
  auto done = new_uuid_string(), later = new_uuid_string();
  REQUIRE(f.run(create(done, "done")));
  REQUIRE(f.run(complete(done)));
  REQUIRE(f.run(create(later, "later")));
  REQUIRE(f.run(snooze(later, f.now + 1h)));
  REQUIRE(f.run(remove(done)));
  REQUIRE(f.run(remove(later)));
  REQUIRE(f.run(restore(done)));
  REQUIRE(f.run(restore(later)));
  CHECK(f.task(done).status() == v1::TASK_STATUS_COMPLETED);
  CHECK(effective_status(f.task(later), f.now) == v1::TASK_STATUS_SNOOZED);
  f.now += 2h;
  CHECK(effective_status(f.task(later), f.now) == v1::TASK_STATUS_PENDING);
}

TEST_CASE("illegal commands are refused with a clear error and change nothing") {
  Fixture f;
  auto id = new_uuid_string();
  REQUIRE(f.run(create(id, "Pay rent")));
  auto version = f.book.version();

  SUBCASE("complete a deleted task") {
    REQUIRE(f.run(remove(id)));
    version = f.book.version();
    check_error(f.run(complete(id)), Errc::conflict, "only pending or snoozed");
  }
  SUBCASE("snooze into the past is a bad value, like the others") {
    check_error(f.run(snooze(id, f.now - 1min)), Errc::invalid_argument, "in the future");
    check_error(f.run(snooze(id, f.now)), Errc::invalid_argument, "in the future");
  }
  SUBCASE("snooze more than a year ahead") {
    check_error(f.run(snooze(id, f.now + 24h * 400)), Errc::invalid_argument, "a year");
    check_error(f.run(snooze(id, f.now + 24h * 366 + 1s)), Errc::invalid_argument, "a year");
  }
  SUBCASE("due dates outside 1970 to 2200 are refused, not wrapped around") {
    for (int64_t seconds : {int64_t{-1}, kEndInstantSeconds, int64_t{10'413'792'000} /* 2300 */,
                            int64_t{253'402'300'799} /* 9999-12-31 */}) {
      CAPTURE(seconds);
      auto edit = command([&](auto& c) {
        c.mutable_edit()->set_task_id(id);
        c.mutable_edit()->mutable_due_at()->set_seconds(seconds);
      });
      check_error(f.run(edit), Errc::invalid_argument, "2200-01-01");
    }
  }
  SUBCASE("change a completed task's due date without reopening") {
    REQUIRE(f.run(complete(id)));
    version = f.book.version();
    check_error(f.run(edit_due(id, f.now + 24h)), Errc::conflict, "reopen it");
  }
  SUBCASE("edit a deleted task") {
    REQUIRE(f.run(remove(id)));
    version = f.book.version();
    check_error(f.run(edit_due(id, f.now + 24h)), Errc::conflict, "restore it");
  }
  SUBCASE("reopen a pending task") {
    check_error(f.run(reopen(id)), Errc::conflict, "only completed");
  }
  SUBCASE("restore a task that is not deleted") {
    check_error(f.run(restore(id)), Errc::conflict, "not deleted");
  }
  SUBCASE("delete twice") {
    REQUIRE(f.run(remove(id)));
    version = f.book.version();
    check_error(f.run(remove(id)), Errc::conflict, "already deleted");
  }
  SUBCASE("create a task id twice") {
    check_error(f.run(create(id, "again")), Errc::conflict, "already exists");
  }
  SUBCASE("unknown task") {
    check_error(f.run(complete(new_uuid_string())), Errc::not_found, "no task");
  }
  SUBCASE("task id that is not a UUID, or a subject wildcard") {
    check_error(f.run(complete(">")), Errc::invalid_argument, "task_id must be a UUID");
  }
  SUBCASE("empty command") {
    check_error(f.run(v1::TaskCommand()), Errc::invalid_argument, "empty");
  }
  CHECK(f.book.version() == version);
}

TEST_CASE("task fields are checked on create and edit") {
  Fixture f;
  auto with = [&](auto set) {
    auto c = create(new_uuid_string(), "ok");
    set(*c.mutable_create());
    return f.run(c);
  };
  check_error(with([](auto& c) { c.set_title(""); }), Errc::invalid_argument, "title is required");
  check_error(with([](auto& c) { c.set_title(std::string(501, 'x')); }), Errc::invalid_argument,
              "limit is 500");
  check_error(with([](auto& c) { c.set_title("bad \xc3\x28 utf8"); }), Errc::invalid_argument,
              "UTF-8");
  check_error(with([](auto& c) { c.set_title("overlong \xc0\xaf"); }), Errc::invalid_argument,
              "UTF-8");
  check_error(with([](auto& c) { c.set_title("cut \xe2\x82"); }), Errc::invalid_argument, "UTF-8");
  check_error(with([](auto& c) { c.set_priority(5); }), Errc::invalid_argument, "priority");
  check_error(with([](auto& c) { c.set_estimated_minutes(-1); }), Errc::invalid_argument,
              "estimated_minutes");
  check_error(with([](auto& c) { c.mutable_due_at()->set_nanos(-5); }), Errc::invalid_argument,
              "due_at");
  // Unicode that is valid passes untouched: emoji, combining marks, RTL.
  auto ok =
      with([](auto& c) { c.set_title("Steuer \xf0\x9f\x93\x9d e\xcc\x81 \xd7\xa9\xd7\x9c"); });
  REQUIRE(ok);
  CHECK(f.book.version() == 1);
}

TEST_CASE("an edit that changes nothing appends nothing") {
  Fixture f;
  auto id = new_uuid_string();
  REQUIRE(f.run(create(id, "Same")));
  auto same = command([&](auto& c) {
    c.mutable_edit()->set_task_id(id);
    c.mutable_edit()->set_title("Same");
  });
  auto r = f.run(same);
  REQUIRE(r);
  CHECK(r->empty());
  auto nothing = command([&](auto& c) { c.mutable_edit()->set_task_id(id); });
  check_error(f.run(nothing), Errc::invalid_argument, "names no field");
}

TEST_CASE("clearing a due date is an edit recorded as changed and unset") {
  Fixture f;
  auto id = new_uuid_string();
  REQUIRE(f.run(create(id, "x")));
  REQUIRE(f.run(edit_due(id, f.now + 48h)));
  CHECK(f.task(id).has_due_at());
  auto clear = command([&](auto& c) {
    c.mutable_edit()->set_task_id(id);
    c.mutable_edit()->set_clear_due_at(true);
  });
  auto r = f.run(clear);
  REQUIRE(r);
  REQUIRE(r->size() == 1);
  CHECK((*r)[0].task_modified().before().has_due_at());
  CHECK_FALSE((*r)[0].task_modified().after().has_due_at());
  CHECK_FALSE(f.task(id).has_due_at());
}

TEST_CASE("replaying the log, or a snapshot plus the tail, gives the same book") {
  Fixture f;
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) {
    ids.push_back(new_uuid_string());
    REQUIRE(f.run(create(ids.back(), "task " + std::to_string(i))));
    if (i % 3 == 0) REQUIRE(f.run(snooze(ids.back(), f.now + 1h)));
    if (i % 4 == 0) REQUIRE(f.run(complete(ids.back())));
    if (i % 5 == 0) REQUIRE(f.run(remove(ids.back())));
    f.now += 10min;
  }
  auto same_book = [&](const TaskBook& other) {
    CHECK(other.version() == f.book.version());
    REQUIRE(other.tasks().size() == f.book.tasks().size());
    for (const auto& [id, task] : f.book.tasks())
      CHECK(other.find(id)->SerializeAsString() == task.SerializeAsString());
  };
  TaskBook replayed;
  for (const auto& e : f.log) evolve(replayed, e);
  same_book(replayed);

  size_t half = f.log.size() / 2;
  TaskBook first_half;
  for (size_t i = 0; i < half; ++i) evolve(first_half, f.log[i]);
  auto restored = TaskBook::parse(first_half.serialize(), first_half.version());
  REQUIRE(restored);
  for (size_t i = half; i < f.log.size(); ++i) evolve(*restored, f.log[i]);
  same_book(*restored);

  CHECK_FALSE(TaskBook::parse("\xff\xff garbage", 3));
}

TEST_CASE("the snooze limit holds exactly: 366 days ahead is accepted, and so is 2199") {
  Fixture f;
  auto id = new_uuid_string();
  REQUIRE(f.run(create(id, "Renew passport")));
  CHECK(f.run(snooze(id, f.now + 24h * 366)));
  auto late = command([&](auto& c) {
    c.mutable_edit()->set_task_id(id);
    c.mutable_edit()->mutable_due_at()->set_seconds(kEndInstantSeconds - 1);  // 2199-12-31
  });
  CHECK(f.run(late));
}
