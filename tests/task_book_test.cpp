// The task decider and fold: pure, so tested without actors, storage or I/O.
#include <doctest/doctest.h>

#include <date/date.h>

#include <algorithm>
#include <set>

#include "events/codec.h"
#include "events/envelope.h"
#include "events/upcast.h"
#include "projections/behavior_signals.h"
#include "projections/task_book.h"
#include "projections/task_queries.h"
#include "projections/task_series.h"
#include "tests/support.h"

using namespace coach;
using namespace coach::projections;
using namespace std::chrono_literals;
using coach::test::error_of;

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

  // What passing time does at `now` (decide_missed), stamped and folded.
  std::vector<v1::TaskEvent> pass_time() {
    auto events = decide_missed(book, now);
    for (auto& e : events) {
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

v1::TaskCommand create_tagged(const std::string& id, const std::string& title,
                              std::vector<std::string> tags) {
  auto c = create(id, title);
  for (auto& t : tags) c.mutable_create()->add_tags(t);
  return c;
}
v1::TaskCommand edit_tags(const std::string& id, std::vector<std::string> tags,
                          bool replace = true) {
  return command([&](auto& c) {
    c.mutable_edit()->set_task_id(id);
    for (auto& t : tags) c.mutable_edit()->add_tags(t);
    c.mutable_edit()->set_replace_tags(replace);
  });
}
v1::TaskCommand note(const std::string& id, const std::string& text) {
  return command([&](auto& c) {
    c.mutable_note()->set_task_id(id);
    c.mutable_note()->set_text(text);
  });
}

template <class Message>
std::vector<std::string> tags_of(const Message& message) {
  return {message.tags().begin(), message.tags().end()};
}

// Bytes from hex, for fixtures written by an earlier schema.
std::string from_hex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
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
    check_error(f.run(complete(id)), Errc::conflict, "only pending, snoozed or missed");
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

TEST_CASE("tags: given on create, stored lower-cased, distinct and sorted, replaced by an edit") {
  Fixture f;
  auto id = new_uuid_string();
  using V = std::vector<std::string>;
  // Sorted by bytes: "é" (0xc3 0xa9) after every ASCII letter.
  auto created = f.run(create_tagged(id, "Write report", {"Work", "q3", "work", "Écrire", "q3"}));
  REQUIRE_MESSAGE(created, error_of(created));
  CHECK(tags_of((*created)[0].task_created().fields()) == V{"q3", "work", "écrire"});
  CHECK(tags_of(f.task(id)) == V{"q3", "work", "écrire"});

  // The edit names the whole new set; TaskModified holds both sets.
  auto edited = f.run(edit_tags(id, {"WORK", "urgent"}));
  REQUIRE_MESSAGE(edited, error_of(edited));
  REQUIRE(edited->size() == 1);
  const auto& m = (*edited)[0].task_modified();
  REQUIRE(m.changed_size() == 1);
  CHECK(m.changed(0) == v1::TASK_FIELD_TAGS);
  CHECK(tags_of(m.before()) == V{"q3", "work", "écrire"});
  CHECK(tags_of(m.after()) == V{"urgent", "work"});
  CHECK(tags_of(f.task(id)) == V{"urgent", "work"});
  CHECK(f.task(id).edit_count() == 1);

  // The same set in another order and case changes nothing.
  auto same = f.run(edit_tags(id, {"Urgent", "work", "urgent"}));
  REQUIRE(same);
  CHECK(same->empty());

  // A completed task's tags may change; an empty set removes them all.
  REQUIRE(f.run(complete(id)));
  auto cleared = f.run(edit_tags(id, {}));
  REQUIRE_MESSAGE(cleared, error_of(cleared));
  REQUIRE(cleared->size() == 1);
  CHECK((*cleared)[0].task_modified().after().tags_size() == 0);
  CHECK(f.task(id).tags_size() == 0);

  // A deleted task's tags do not.
  REQUIRE(f.run(remove(id)));
  check_error(f.run(edit_tags(id, {"x"})), Errc::conflict, "restore it");

  // Tags and other fields in one edit: one event naming both.
  auto other = new_uuid_string();
  REQUIRE(f.run(create(other, "x")));
  auto both = edit_tags(other, {"home"});
  both.mutable_edit()->set_title("y");
  auto r = f.run(both);
  REQUIRE(r);
  REQUIRE(r->size() == 1);
  CHECK((*r)[0].task_modified().changed_size() == 2);
  CHECK(f.task(other).title() == "y");
  CHECK(tags_of(f.task(other)) == std::vector<std::string>{"home"});
}

TEST_CASE("tags are lower-cased in Latin, Greek and Cyrillic, other letters kept as written") {
  auto lower = [](const std::string& tag) {
    auto r = normalize_tag("tags", tag);
    REQUIRE_MESSAGE(r, error_of(r));
    return *r;
  };
  CHECK(lower("ABC-xyz_09") == "abc-xyz_09");
  CHECK(lower("Ärger") == "ärger");
  CHECK(lower("×") == "×");  // no letter
  CHECK(lower("ŁÓDŹ") == "łódź");
  CHECK(lower("Ÿ") == "ÿ");
  CHECK(lower("İ") == "İ");  // no simple pair: kept
  CHECK(lower("ΣΟΦΙΑ") == "σοφια");
  CHECK(lower("МИРЁ") == "мирё");
  CHECK(lower("日本") == "日本");
  CHECK(lower("\xf0\x9f\x93\x9d") == "\xf0\x9f\x93\x9d");  // an emoji
}

TEST_CASE("bad tags are refused with a clear invalid_argument and change nothing") {
  Fixture f;
  auto id = new_uuid_string();
  REQUIRE(f.run(create(id, "x")));
  auto version = f.book.version();
  auto refused = [&](std::vector<std::string> tags, const char* words) {
    CAPTURE(words);
    check_error(f.run(create_tagged(new_uuid_string(), "t", tags)), Errc::invalid_argument, words);
    check_error(f.run(edit_tags(id, tags)), Errc::invalid_argument, words);
  };
  refused({""}, "is empty");
  refused({std::string(65, 'a')}, "65 bytes; the limit is 64");
  refused({"to do"}, "holds whitespace");
  refused({"tab\there"}, "holds whitespace");
  refused({"nbsp\xc2\xa0here"}, "holds whitespace");
  refused({"ideographic\xe3\x80\x80space"}, "holds whitespace");
  refused({"a,b"}, "holds a comma");
  refused({std::string("nul\0x", 5)}, "control character");
  refused({"bell\x07"}, "control character");
  refused({"bad\xc3\x28"}, "not valid UTF-8");
  std::vector<std::string> many;
  for (int i = 0; i < 33; ++i) many.push_back("t" + std::to_string(i));
  refused(many, "33 distinct tags; the limit is 32");
  check_error(f.run(edit_tags(id, {"x"}, /*replace=*/false)), Errc::invalid_argument,
              "without replace_tags");
  CHECK(f.book.version() == version);
  CHECK(f.task(id).tags_size() == 0);

  // Exactly 64 bytes and 32 distinct tags pass, duplicates not counted.
  many.pop_back();
  many.push_back("T0");
  many.push_back(std::string(64, 'z'));
  many.erase(many.begin() + 1);
  auto ok = f.run(edit_tags(id, many));
  REQUIRE_MESSAGE(ok, error_of(ok));
  CHECK(f.task(id).tags_size() == 32);
}

TEST_CASE("notes: appended with their times to pending, snoozed and completed tasks") {
  Fixture f;
  auto id = new_uuid_string();
  REQUIRE(f.run(create(id, "Write report")));
  auto first = f.run(note(id, "asked Bob for the Q3 figures"));
  REQUIRE_MESSAGE(first, error_of(first));
  REQUIRE(first->size() == 1);
  CHECK((*first)[0].event_type() == v1::EVENT_TYPE_TASK_NOTE_ADDED);
  CHECK((*first)[0].task_note_added().text() == "asked Bob for the Q3 figures");
  auto first_at = f.now;

  f.now += 90min;
  REQUIRE(f.run(snooze(id, f.now + 1h)));
  REQUIRE(f.run(note(id, "Bob is out until 3pm\nthen call")));            // text as written
  CHECK(effective_status(f.task(id), f.now) == v1::TASK_STATUS_SNOOZED);  // a note keeps it
  f.now += 2h;
  REQUIRE(f.run(complete(id)));
  f.now += 1min;
  REQUIRE(f.run(note(id, "sent \xf0\x9f\x8e\x89")));

  const auto& t = f.task(id);
  REQUIRE(t.notes_size() == 3);
  CHECK(t.notes(0).text() == "asked Bob for the Q3 figures");
  CHECK(coach::from_timestamp(t.notes(0).added_at()) == first_at);
  CHECK(t.notes(1).text() == "Bob is out until 3pm\nthen call");
  CHECK(coach::from_timestamp(t.notes(1).added_at()) == first_at + 90min);
  CHECK(coach::from_timestamp(t.notes(2).added_at()) == f.now);
  CHECK(coach::from_timestamp(t.updated_at()) == f.now);
  CHECK(t.status() == v1::TASK_STATUS_COMPLETED);
  CHECK(t.edit_count() == 0);  // a note is no edit

  // Not on a deleted task; bad text is refused.
  check_error(f.run(note(id, "")), Errc::invalid_argument, "text is required");
  check_error(f.run(note(id, " \n\t ")), Errc::invalid_argument, "blank");
  check_error(f.run(note(id, std::string(4097, 'x'))), Errc::invalid_argument,
              "4097 bytes; the limit is 4096");
  check_error(f.run(note(id, "bad \xc3\x28")), Errc::invalid_argument, "UTF-8");
  REQUIRE(f.run(remove(id)));
  auto version = f.book.version();
  check_error(f.run(note(id, "too late")), Errc::conflict, "deleted; restore it");
  check_error(f.run(note(new_uuid_string(), "who?")), Errc::not_found, "no task");
  check_error(f.run(note("not-a-uuid", "who?")), Errc::invalid_argument, "task_id");
  CHECK(f.book.version() == version);
  REQUIRE(f.run(restore(id)));
  CHECK(f.run(note(id, "back again")));
  CHECK(f.task(id).notes_size() == 4);
}

TEST_CASE("notes are bounded per task: 200 of them, 128 KiB of text in all") {
  Fixture f;
  auto id = new_uuid_string();
  REQUIRE(f.run(create(id, "many notes")));
  for (size_t i = 0; i < kMaxNotes; ++i) REQUIRE(f.run(note(id, "n" + std::to_string(i))));
  check_error(f.run(note(id, "one more")), Errc::conflict, "200 notes, the most a task keeps");
  CHECK(f.task(id).notes_size() == 200);

  auto big = new_uuid_string();
  REQUIRE(f.run(create(big, "long notes")));
  for (int i = 0; i < 32; ++i) REQUIRE(f.run(note(big, std::string(kMaxNoteBytes, 'a'))));
  // 32 x 4096 = 128 KiB exactly: the limit is reached, not passed.
  check_error(f.run(note(big, "x")), Errc::conflict, "131072 bytes of notes");
  CHECK(f.task(big).notes_size() == 32);
}

TEST_CASE("task.list: tags_any and tags_all, case-insensitive, with the other filters") {
  Fixture f;
  auto home = new_uuid_string(), work = new_uuid_string(), both = new_uuid_string(),
       none = new_uuid_string();
  REQUIRE(f.run(create_tagged(home, "home", {"home"})));
  f.now += 1s;
  REQUIRE(f.run(create_tagged(work, "work", {"work", "urgent"})));
  f.now += 1s;
  REQUIRE(f.run(create_tagged(both, "both", {"home", "work"})));
  f.now += 1s;
  REQUIRE(f.run(create(none, "none")));
  REQUIRE(f.run(complete(both)));

  auto list = [&](std::vector<std::string> any, std::vector<std::string> all,
                  bool every_status = true) {
    v1::ListTasks q;
    for (auto& t : any) q.add_tags_any(t);
    for (auto& t : all) q.add_tags_all(t);
    if (every_status)
      for (auto s : {v1::TASK_STATUS_PENDING, v1::TASK_STATUS_SNOOZED, v1::TASK_STATUS_COMPLETED})
        q.add_statuses(s);
    auto r = list_tasks(f.book, q, f.now);
    REQUIRE_MESSAGE(r, error_of(r));
    std::vector<std::string> titles;
    for (const auto& t : r->tasks()) titles.push_back(t.title());
    return titles;
  };
  using V = std::vector<std::string>;
  CHECK(list({}, {}) == V{"none", "both", "work", "home"});
  CHECK(list({"HOME"}, {}) == V{"both", "home"});
  CHECK(list({"home", "urgent"}, {}) == V{"both", "work", "home"});
  CHECK(list({}, {"home", "Work"}) == V{"both"});
  CHECK(list({}, {"work"}) == V{"both", "work"});
  CHECK(list({"home"}, {"work"}) == V{"both"});
  CHECK(list({"nothing"}, {}).empty());
  CHECK(list({}, {"home", "nothing"}).empty());
  CHECK(list({"home", "work"}, {}, /*every_status=*/false) == V{"work", "home"});  // open only

  v1::ListTasks bad;
  bad.add_tags_any("to do");
  auto refused = list_tasks(f.book, bad, f.now);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::invalid_argument);
  CHECK(refused.error().message.find("in tags_any holds whitespace") != std::string::npos);
  v1::ListTasks bad_all;
  bad_all.add_tags_all("");
  refused = list_tasks(f.book, bad_all, f.now);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message.find("in tags_all is empty") != std::string::npos);
}

TEST_CASE("a page of tasks full of notes keeps the 256 KiB bound, and every task is listed") {
  Fixture f;
  const int tasks = 12;
  for (int i = 0; i < tasks; ++i) {
    auto id = new_uuid_string();
    auto c = create(id, "task " + std::to_string(i));
    c.mutable_create()->set_description(std::string(kMaxDescriptionBytes, 'd'));
    REQUIRE(f.run(c));
    for (int n = 0; n < 32; ++n) REQUIRE(f.run(note(id, std::string(kMaxNoteBytes, 'n'))));
    f.now += 1s;
  }
  v1::ListTasks q;
  q.set_page_size(500);
  std::set<std::string> seen;
  int pages = 0;
  do {
    auto page = list_tasks(f.book, q, f.now);
    REQUIRE_MESSAGE(page, error_of(page));
    CHECK(page->tasks_size() >= 1);
    CHECK(page->ByteSizeLong() <= kMaxPageBytes);
    for (const auto& t : page->tasks()) {
      CHECK(t.notes_size() == 32);
      CHECK(seen.insert(t.id()).second);
    }
    q.set_page_token(page->next_page_token());
    ++pages;
  } while (!q.page_token().empty() && pages < 20);
  CHECK(seen.size() == tasks);
  CHECK(pages >= 6);  // ~140 KiB a task: one per page
}

namespace {

// An event log and a task snapshot as the schema before tags and notes
// wrote them (schema/*.proto at commit ba98355, `protoc --encode`): task A
// created (due, category, priority, estimate), retitled and moved, snoozed,
// completed; task B created and deleted. User 6f1c2a3b-..., created_at from
// 1800000000 (2027-01-15T08:00:00Z).
const char* const kOldLog[] = {
    "0a2465303030303030302d303030302d343030302d383030302d30303030303030303030"
    "3031122436663163326133622d346435652d346636302d386137622d3963306431653266"
    "336134621a2430623965366331642d326633612d346235632d386436652d376638303931"
    "6132623363342001280132060880a4a7da063801a2012f0a0c5772697465207265706f72"
    "74120a513320666967757265731a0608c0a8e4da06220777726974696e672802305a",
    "0a2465303030303030302d303030302d343030302d383030302d30303030303030303030"
    "3032122436663163326133622d346435652d346636302d386137622d3963306431653266"
    "336134621a2430623965366331642d326633612d346235632d386436652d376638303931"
    "61326233633420022802320608bca4a7da063801aa01370a02010312160a0c5772697465"
    "207265706f72741a0608c0a8e4da061a190a0f5772697465205133207265706f72741a06"
    "08c0cbe9da06",
    "0a2465303030303030302d303030302d343030302d383030302d30303030303030303030"
    "3033122436663163326133622d346435652d346636302d386137622d3963306431653266"
    "336134621a2430623965366331642d326633612d346235632d386436652d376638303931"
    "61326233633420032803320608f8a4a7da063801b201110a0608a0dca7da0612076d6565"
    "74696e67",
    "0a2465303030303030302d303030302d343030302d383030302d30303030303030303030"
    "3034122436663163326133622d346435652d346636302d386137622d3963306431653266"
    "336134621a2430623965366331642d326633612d346235632d386436652d376638303931"
    "6132623363342004280432060890f2a7da063801ba01020850",
    "0a2465303030303030302d303030302d343030302d383030302d30303030303030303030"
    "3035122436663163326133622d346435652d346636302d386137622d3963306431653266"
    "336134621a2431633264336534662d356136622d346337642d396538662d306131623263"
    "33643465356620052801320608ccf2a7da063801a201100a085061792072656e74220468"
    "6f6d65",
    "0a2465303030303030302d303030302d343030302d383030302d30303030303030303030"
    "3036122436663163326133622d346435652d346636302d386137622d3963306431653266"
    "336134621a2431633264336534662d356136622d346337642d396538662d306131623263"
    "3364346535662006280532060888f3a7da063801c201060a0470616964"};
// Task A after sequences 1 to 3, as TaskBookSnapshot bytes of that schema.
const char* const kOldSnapshot =
    "0a9d010a2430623965366331642d326633612d346235632d386436652d37663830393161"
    "3262336334122436663163326133622d346435652d346636302d386137622d3963306431"
    "653266336134621a0f5772697465205133207265706f7274220a51332066696775726573"
    "2803320608c0cbe9da063a0777726974696e674002485a52060880a4a7da065a0608f8a4"
    "a7da066a0608a0dca7da067801800101";

}  // namespace

TEST_CASE("an event log written before tags and notes folds to the same state, none of either") {
  std::vector<v1::TaskEvent> log;
  for (const char* hex : kOldLog) {
    v1::TaskEvent e;
    REQUIRE(e.ParseFromString(from_hex(hex)));
    CHECK(e.GetReflection()->GetUnknownFields(e).empty());  // nothing it does not know
    CHECK(e.schema_version() == 1);
    REQUIRE(events::upcast(e));  // as decode_event does when it reads the store
    CHECK(e.schema_version() == events::kCurrentSchemaVersion);
    log.push_back(e);
  }
  REQUIRE(log.size() == 6);
  TaskBook book;
  for (const auto& e : log) evolve(book, e);
  const std::string a = "0b9e6c1d-2f3a-4b5c-8d6e-7f8091a2b3c4",
                    b = "1c2d3e4f-5a6b-4c7d-9e8f-0a1b2c3d4e5f";
  REQUIRE(book.find(a));
  REQUIRE(book.find(b));
  const auto& t = *book.find(a);
  CHECK(t.title() == "Write Q3 report");
  CHECK(t.description() == "Q3 figures");
  CHECK(t.status() == v1::TASK_STATUS_COMPLETED);
  CHECK(t.due_at().seconds() == 1801086400);
  CHECK(t.category() == "writing");
  CHECK(t.priority() == 2);
  CHECK(t.estimated_minutes() == 90);
  CHECK(t.completed_at().seconds() == 1800010000);
  CHECK(t.snooze_count() == 1);
  CHECK(t.edit_count() == 1);
  CHECK(t.tags_size() == 0);
  CHECK(t.notes_size() == 0);
  CHECK(book.find(b)->status() == v1::TASK_STATUS_DELETED);
  CHECK(book.version() == 6);

  // The same history built by today's code without the new fields is the
  // same bytes as the old log upcast, and folds to the same book.
  auto at = [](int64_t s) { return Clock::from_time_t(s); };
  std::vector<v1::TaskEvent> today(6);
  {
    auto* c = today[0].mutable_task_created()->mutable_fields();
    c->set_title("Write report");
    c->set_description("Q3 figures");
    c->mutable_due_at()->set_seconds(1801000000);
    c->set_category("writing");
    c->set_priority(2);
    c->set_estimated_minutes(90);
    auto* m = today[1].mutable_task_modified();
    m->add_changed(v1::TASK_FIELD_TITLE);
    m->add_changed(v1::TASK_FIELD_DUE_AT);
    m->mutable_before()->set_title("Write report");
    m->mutable_before()->mutable_due_at()->set_seconds(1801000000);
    m->mutable_after()->set_title("Write Q3 report");
    m->mutable_after()->mutable_due_at()->set_seconds(1801086400);
    today[2].mutable_task_snoozed()->mutable_until()->set_seconds(1800007200);
    today[2].mutable_task_snoozed()->set_reason("meeting");
    today[3].mutable_task_completed()->set_actual_minutes(80);
    today[4].mutable_task_created()->mutable_fields()->set_title("Pay rent");
    today[4].mutable_task_created()->mutable_fields()->set_category("home");
    today[5].mutable_task_deleted()->set_reason("paid");
  }
  const int64_t times[] = {1800000000, 1800000060, 1800000120, 1800010000, 1800010060, 1800010120};
  auto user = Uuid::parse("6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b");
  REQUIRE(user);
  TaskBook rebuilt;
  for (size_t i = 0; i < today.size(); ++i) {
    auto& e = today[i];
    e.set_task_id(i < 4 ? a : b);
    events::stamp_envelope(e, *user, i + 1, at(times[i]));
    e.set_event_id("e0000000-0000-4000-8000-00000000000" + std::to_string(i + 1));
    CHECK(e.SerializeAsString() == log[i].SerializeAsString());
    evolve(rebuilt, e);
  }
  for (const auto& id : {a, b})
    CHECK(rebuilt.find(id)->SerializeAsString() == book.find(id)->SerializeAsString());

  // An old snapshot plus the old tail gives the same book too, and the
  // book's new fields then work on old tasks: tags and notes on task A.
  auto restored = TaskBook::parse(from_hex(kOldSnapshot), 3);
  REQUIRE(restored);
  for (size_t i = 3; i < log.size(); ++i) evolve(*restored, log[i]);
  CHECK(restored->find(a)->SerializeAsString() == book.find(a)->SerializeAsString());
  auto tagged = decide(*restored, edit_tags(a, {"old"}), at(1800020000));
  REQUIRE_MESSAGE(tagged, error_of(tagged));
  auto noted = decide(*restored, note(a, "from the old days"), at(1800020000));
  REQUIRE_MESSAGE(noted, error_of(noted));
}

// Recurring series (issue 21): rule styles, one open occurrence, one vs the
// whole series. Expected dates are worked out by hand from the rule.
namespace {

Clock::time_point utc(int y, unsigned m, unsigned d, int h, int min = 0) {
  return Clock::time_point(date::sys_days{date::year{y} / m / d}.time_since_epoch() +
                           std::chrono::hours(h) + std::chrono::minutes(min));
}

v1::TaskCommand create_series(const std::string& id, Clock::time_point due,
                              const std::string& rrule, uint32_t every_days = 0,
                              const std::string& zone = "Europe/Berlin") {
  auto c = create(id, "Pay rent");
  auto* create = c.mutable_create();
  create->set_category("home");
  create->add_tags("money");
  *create->mutable_due_at() = coach::to_timestamp(due);
  create->mutable_recurrence()->set_rrule(rrule);
  create->mutable_recurrence()->set_every_days_after_done(every_days);
  create->mutable_recurrence()->set_zone(zone);
  return c;
}

Clock::time_point due_of(const v1::Task& t) {
  return coach::from_timestamp(t.due_at());
}

// The series' open occurrences at the fixture's now.
std::vector<const v1::Task*> open_of(Fixture& f, const std::string& series) {
  std::vector<const v1::Task*> out;
  for (const auto& [id, t] : f.book.tasks()) {
    auto status = effective_status(t, f.now);
    if (t.recurrence().series_id() == series &&
        (status == v1::TASK_STATUS_PENDING || status == v1::TASK_STATUS_SNOOZED))
      out.push_back(&t);
  }
  return out;
}

// Runs `command`, which must succeed, and returns the occurrence it created
// (the last event is its TaskCreated).
const v1::Task& next_made_by(Fixture& f, const v1::TaskCommand& command) {
  auto events = f.run(command);
  REQUIRE_MESSAGE(events, error_of(events));
  REQUIRE(!events->empty());
  REQUIRE(events->back().has_task_created());
  return f.task(events->back().task_id());
}

}  // namespace

TEST_CASE("a calendar series: the next occurrence by the rule, late ones skip, never two open") {
  Fixture f;
  auto id = new_uuid_string();
  // The last Friday of each month at 09:00 in Berlin; January 2027's is the 29th.
  REQUIRE(f.run(create_series(id, utc(2027, 1, 29, 8), "FREQ=MONTHLY;BYDAY=-1FR")));
  const auto& first = f.task(id);
  CHECK(first.recurrence().series_id() == id);
  CHECK(first.recurrence().occurrence() == 1);
  CHECK(first.recurrence().zone() == "Europe/Berlin");
  CHECK(open_of(f, id).size() == 1);

  f.now = utc(2027, 1, 28, 12);  // done a day early
  const auto& second = next_made_by(f, complete(id));
  CHECK(f.task(id).status() == v1::TASK_STATUS_COMPLETED);
  CHECK(due_of(second) == utc(2027, 2, 26, 8));  // CET, UTC+1
  CHECK(second.recurrence().occurrence() == 2);
  CHECK(second.recurrence().series_id() == id);
  CHECK(second.title() == "Pay rent");
  CHECK(second.category() == "home");
  CHECK(tags_of(second) == std::vector<std::string>{"money"});
  CHECK(open_of(f, id).size() == 1);

  // Done late, in May: March and April passed, the next is May's, in CEST.
  f.now = utc(2027, 5, 10, 12);
  auto second_id = second.id();
  const auto& third = next_made_by(f, complete(second_id));
  CHECK(due_of(third) == utc(2027, 5, 28, 7));  // CEST, UTC+2
  CHECK(third.recurrence().occurrence() == 3);
  CHECK(open_of(f, id).size() == 1);

  // A completed earlier occurrence cannot be completed again to pile up.
  auto again = f.run(complete(second_id));
  REQUIRE_FALSE(again);
  CHECK(again.error().code == Errc::conflict);
}

TEST_CASE("a series repeated after completion: N days after done, at its time of day") {
  Fixture f;
  auto id = new_uuid_string();
  // Water the plants every 3 days after done, at 08:00 in New York.
  REQUIRE(f.run(create_series(id, utc(2027, 3, 1, 13), "", 3, "America/New_York")));
  f.now = utc(2027, 3, 14, 1);  // 2027-03-13 20:00 EST, hours before DST starts
  const auto& next = next_made_by(f, complete(id));
  CHECK(due_of(next) == utc(2027, 3, 16, 12));  // 08:00 EDT
  CHECK(next.recurrence().every_days_after_done() == 3);
  CHECK(next.recurrence().zone() == "America/New_York");
}

TEST_CASE("snoozing or editing one occurrence keeps the pattern, whole_series edits the rest") {
  Fixture f;
  auto id = new_uuid_string();
  f.now = utc(2027, 1, 10, 12);
  // Every Monday at 09:00 Berlin, from 2027-01-11.
  REQUIRE(f.run(create_series(id, utc(2027, 1, 11, 8), "FREQ=WEEKLY;BYDAY=MO")));
  // Snoozed and moved to Wednesday: still Monday's occurrence.
  REQUIRE(f.run(snooze(id, utc(2027, 1, 12, 8))));
  REQUIRE(f.run(edit_due(id, utc(2027, 1, 13, 8))));
  REQUIRE(f.run(command([&](auto& c) {
    c.mutable_edit()->set_task_id(id);
    c.mutable_edit()->set_title("Pay rent (late this week)");
  })));
  f.now = utc(2027, 1, 13, 9);
  const auto& second = next_made_by(f, complete(id));
  CHECK(due_of(second) == utc(2027, 1, 18, 8));  // the next Monday
  CHECK(second.title() == "Pay rent");           // the edit was this occurrence's only

  auto whole = [&](const std::string& task, auto set) {
    return f.run(command([&](auto& c) {
      c.mutable_edit()->set_task_id(task);
      c.mutable_edit()->set_whole_series(true);
      set(*c.mutable_edit());
    }));
  };
  auto second_id = second.id();
  REQUIRE(whole(second_id, [](auto& e) { e.set_category("bills"); }));
  CHECK(f.task(second_id).category() == "bills");
  // The occurrence already has the title; the series' template does not yet.
  REQUIRE(f.run(command([&](auto& c) {
    c.mutable_edit()->set_task_id(second_id);
    c.mutable_edit()->set_title("Rent");
  })));
  auto same = whole(second_id, [](auto& e) { e.set_title("Rent"); });
  REQUIRE(same);
  CHECK(same->size() == 1);
  auto due_for_all = whole(
      second_id, [](auto& e) { *e.mutable_due_at() = coach::to_timestamp(utc(2027, 1, 19, 8)); });
  REQUIRE_FALSE(due_for_all);
  CHECK(due_for_all.error().code == Errc::invalid_argument);

  f.now = utc(2027, 1, 18, 9);
  const auto& third = next_made_by(f, complete(second_id));
  CHECK(third.category() == "bills");
  CHECK(third.title() == "Rent");
  CHECK(due_of(third) == utc(2027, 1, 25, 8));
}

TEST_CASE("deleting one occurrence skips it, deleting the whole series ends it, restore resumes") {
  Fixture f;
  auto id = new_uuid_string();
  f.now = utc(2027, 1, 1, 12);
  REQUIRE(f.run(create_series(id, utc(2027, 1, 4, 8), "FREQ=WEEKLY;BYDAY=MO")));
  const auto& second = next_made_by(f, remove(id));
  CHECK(f.task(id).status() == v1::TASK_STATUS_DELETED);
  CHECK(due_of(second) == utc(2027, 1, 11, 8));

  auto second_id = second.id();
  auto ended = f.run(command([&](auto& c) {
    c.mutable_delete_()->set_task_id(second_id);
    c.mutable_delete_()->set_whole_series(true);
  }));
  REQUIRE_MESSAGE(ended, error_of(ended));
  REQUIRE(ended->size() == 1);  // no next occurrence
  CHECK(ended->front().task_deleted().whole_series());
  CHECK(open_of(f, id).empty());
  CHECK(f.book.series(id)->ended_by() == second_id);

  REQUIRE(f.run(restore(second_id)));
  CHECK(f.book.series(id)->ended_by().empty());
  f.now = utc(2027, 1, 11, 9);
  const auto& third = next_made_by(f, complete(second_id));
  CHECK(due_of(third) == utc(2027, 1, 18, 8));

  // A one-off task is not a series.
  auto plain = new_uuid_string();
  REQUIRE(f.run(create(plain, "once")));
  auto not_series = f.run(command([&](auto& c) {
    c.mutable_delete_()->set_task_id(plain);
    c.mutable_delete_()->set_whole_series(true);
  }));
  REQUIRE_FALSE(not_series);
  CHECK(not_series.error().code == Errc::invalid_argument);
  CHECK(f.task(plain).status() == v1::TASK_STATUS_PENDING);
}

TEST_CASE("reopening an earlier occurrence replaces an untouched later one, else conflicts") {
  Fixture f;
  auto id = new_uuid_string();
  f.now = utc(2027, 1, 1, 12);
  REQUIRE(f.run(create_series(id, utc(2027, 1, 4, 8), "FREQ=DAILY;COUNT=3")));
  auto second_id = next_made_by(f, complete(id)).id();

  auto reopened = f.run(reopen(id));  // completed by mistake
  REQUIRE_MESSAGE(reopened, error_of(reopened));
  REQUIRE(reopened->size() == 2);
  CHECK(reopened->front().task_id() == second_id);
  CHECK(f.task(second_id).status() == v1::TASK_STATUS_DELETED);
  CHECK(open_of(f, id).size() == 1);
  CHECK(f.book.series(id)->latest_task_id() == id);

  // Done again: a new occurrence with a new id (the replaced one stays deleted).
  auto again_id = next_made_by(f, complete(id)).id();
  CHECK(again_id != second_id);
  REQUIRE(f.run(snooze(again_id, f.now + 1h)));  // worked on
  auto version = f.book.version();
  auto refused = f.run(reopen(id));
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::conflict);
  CHECK(refused.error().message.find("complete or delete it first") != std::string::npos);
  CHECK(f.book.version() == version);

  // COUNT=3: the third occurrence is the last.
  auto third_id = next_made_by(f, complete(again_id)).id();
  auto last = f.run(complete(third_id));
  REQUIRE(last);
  CHECK(last->size() == 1);
  CHECK(open_of(f, id).empty());
}

TEST_CASE("bad recurrences are invalid_argument and append nothing") {
  Fixture f;
  const auto due = utc(2027, 2, 1, 8);
  auto refused = [&](v1::TaskCommand c, const char* words) {
    auto r = f.run(c);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::invalid_argument);
    CHECK_MESSAGE(r.error().message.find(words) != std::string::npos, r.error().message);
    CHECK(f.book.version() == 0);
  };
  refused(create_series(new_uuid_string(), due, "FREQ=SOMETIMES"), "not an RRULE");
  refused(create_series(new_uuid_string(), due, "FREQ=SECONDLY"), "at most hourly");
  refused(create_series(new_uuid_string(), due, "FREQ=DAILY", 0, "Mars/Olympus"),
          "unknown time zone");
  refused(create_series(new_uuid_string(), due, "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"),
          "never happens");
  refused(create_series(new_uuid_string(), due, "FREQ=DAILY", 3), "either rrule or");
  refused(create_series(new_uuid_string(), due, ""), "either rrule or");
  refused(create_series(new_uuid_string(), due, "", 3651), "every_days_after_done is 1 to 3650");
  auto no_due = create_series(new_uuid_string(), due, "FREQ=DAILY");
  no_due.mutable_create()->clear_due_at();
  refused(no_due, "needs due_at");
  auto claims = create_series(new_uuid_string(), due, "FREQ=DAILY");
  claims.mutable_create()->mutable_recurrence()->set_series_id(new_uuid_string());
  refused(claims, "set by coach");
  auto as_if_missed = create_series(new_uuid_string(), due, "FREQ=DAILY");
  as_if_missed.mutable_create()->mutable_recurrence()->set_made_on_miss(true);
  refused(as_if_missed, "set by coach");
  auto as_if_reopened = create_series(new_uuid_string(), due, "FREQ=DAILY");
  *as_if_reopened.mutable_create()->mutable_recurrence()->mutable_reopened_at() =
      coach::to_timestamp(due);
  refused(as_if_reopened, "set by coach");
}

TEST_CASE("a series survives a snapshot: the same next occurrence after parse") {
  Fixture f;
  auto id = new_uuid_string();
  f.now = utc(2027, 1, 1, 12);
  REQUIRE(f.run(create_series(id, utc(2027, 1, 31, 8), "FREQ=MONTHLY;BYMONTHDAY=-1")));
  auto parsed = TaskBook::parse(f.book.serialize(), f.book.version());
  REQUIRE(parsed);
  REQUIRE(parsed->series(id));
  CHECK(parsed->series(id)->SerializeAsString() == f.book.series(id)->SerializeAsString());
  auto from_snapshot = decide(*parsed, complete(id), f.now);
  auto from_log = decide(f.book, complete(id), f.now);
  REQUIRE(from_snapshot);
  REQUIRE(from_log);
  REQUIRE(from_log->size() == 2);
  CHECK(from_snapshot->back().SerializeAsString() == from_log->back().SerializeAsString());
  // The month's last day: February 28th, 09:00 in Berlin.
  CHECK(coach::from_timestamp(from_log->back().task_created().fields().due_at()) ==
        utc(2027, 2, 28, 8));
}

TEST_CASE("snoozing the whole series pauses it: the next occurrence comes after the pause") {
  Fixture f;
  auto id = new_uuid_string();
  f.now = utc(2027, 1, 10, 12);
  // Every Monday at 09:00 Berlin from 2027-01-11; a holiday until the 27th.
  REQUIRE(f.run(create_series(id, utc(2027, 1, 11, 8), "FREQ=WEEKLY;BYDAY=MO")));
  auto paused = f.run(command([&](auto& c) {
    c.mutable_snooze()->set_task_id(id);
    *c.mutable_snooze()->mutable_until() = coach::to_timestamp(utc(2027, 1, 27, 8));
    c.mutable_snooze()->set_whole_series(true);
  }));
  REQUIRE_MESSAGE(paused, error_of(paused));
  CHECK(paused->front().task_snoozed().whole_series());
  f.now = utc(2027, 1, 12, 9);  // done early, during the pause
  const auto& next = next_made_by(f, complete(id));
  CHECK(due_of(next) == utc(2027, 2, 1, 8));  // not the 18th or the 25th

  // A one-off task has no series to pause.
  auto plain = new_uuid_string();
  REQUIRE(f.run(create(plain, "once")));
  auto version = f.book.version();
  auto refused = f.run(command([&](auto& c) {
    c.mutable_snooze()->set_task_id(plain);
    *c.mutable_snooze()->mutable_until() = coach::to_timestamp(f.now + 24h);
    c.mutable_snooze()->set_whole_series(true);
  }));
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::invalid_argument);
  CHECK(f.book.version() == version);
}

TEST_CASE("passing a calendar occurrence: missed when the next date comes, the next made") {
  Fixture f;
  auto id = new_uuid_string();
  f.now = utc(2027, 1, 10, 12);
  // Every Monday at 09:00 in Berlin (08:00 UTC in winter) from 2027-01-11.
  REQUIRE(f.run(create_series(id, utc(2027, 1, 11, 8), "FREQ=WEEKLY;BYDAY=MO")));
  REQUIRE(next_miss(f.book));
  CHECK(*next_miss(f.book) == utc(2027, 1, 18, 8));

  // Overdue but not missed until the next Monday comes.
  f.now = utc(2027, 1, 18, 7, 59);
  CHECK(f.pass_time().empty());
  f.now = utc(2027, 1, 18, 8);
  auto rolled = f.pass_time();
  REQUIRE(rolled.size() == 2);
  CHECK(rolled[0].task_id() == id);
  REQUIRE(rolled[0].has_task_missed());
  CHECK(coach::from_timestamp(rolled[0].task_missed().next_due_at()) == utc(2027, 1, 18, 8));
  REQUIRE(rolled[1].has_task_created());
  CHECK(rolled[1].task_created().recurrence().made_on_miss());
  CHECK(made_by_miss(rolled[0]));
  CHECK(made_by_miss(rolled[1]));
  CHECK(f.task(id).status() == v1::TASK_STATUS_MISSED);
  CHECK(coach::from_timestamp(f.task(id).missed_at()) == f.now);
  const auto& second = f.task(rolled[1].task_id());
  CHECK(due_of(second) == utc(2027, 1, 18, 8));
  CHECK(second.recurrence().occurrence() == 2);
  CHECK(second.title() == "Pay rent");
  CHECK(open_of(f, id).size() == 1);
  CHECK(f.pass_time().empty());  // once only
  CHECK(*next_miss(f.book) == utc(2027, 1, 25, 8));

  // Coach was down for two weeks: the dates passed meanwhile are not made;
  // the new occurrence is the latest that has come (February 1st).
  auto second_id = second.id();
  f.now = utc(2027, 2, 3, 12);
  rolled = f.pass_time();
  REQUIRE(rolled.size() == 2);
  CHECK(f.task(second_id).status() == v1::TASK_STATUS_MISSED);
  const auto& third = f.task(rolled[1].task_id());
  CHECK(due_of(third) == utc(2027, 2, 1, 8));
  CHECK(third.recurrence().occurrence() == 3);
  CHECK(open_of(f, id).size() == 1);

  // A missed occurrence may be completed, late; the series is unchanged.
  auto done = f.run(complete(id));
  REQUIRE_MESSAGE(done, error_of(done));
  CHECK(done->size() == 1);
  CHECK(f.task(id).status() == v1::TASK_STATUS_COMPLETED);
  CHECK(f.task(id).has_missed_at());
  CHECK(open_of(f, id).size() == 1);
  // Its due date stays; it cannot be snoozed; deleted and restored it is
  // missed again, not a second open occurrence.
  check_error(f.run(edit_due(second_id, f.now + 24h)), Errc::conflict, "was missed");
  check_error(f.run(snooze(second_id, f.now + 24h)), Errc::conflict, "is missed");
  REQUIRE(f.run(remove(second_id)));
  auto back = f.run(restore(second_id));
  REQUIRE_MESSAGE(back, error_of(back));
  CHECK(back->size() == 1);
  CHECK(f.task(second_id).status() == v1::TASK_STATUS_MISSED);
  CHECK(open_of(f, id).size() == 1);

  // Snoozed past its next date, an occurrence is missed when the snooze ends.
  auto third_id = third.id();
  REQUIRE(f.run(snooze(third_id, utc(2027, 2, 10, 12))));
  CHECK(*next_miss(f.book) == utc(2027, 2, 10, 12));
  f.now = utc(2027, 2, 9, 12);
  CHECK(f.pass_time().empty());
  f.now = utc(2027, 2, 10, 12);
  rolled = f.pass_time();
  REQUIRE(rolled.size() == 2);
  CHECK(due_of(f.task(rolled[1].task_id())) == utc(2027, 2, 8, 8));

  // The log folds to the same book, and a snapshot knows the same next miss.
  TaskBook replayed;
  for (const auto& e : f.log) evolve(replayed, e);
  CHECK(replayed.serialize() == f.book.serialize());
  auto parsed = TaskBook::parse(f.book.serialize(), f.book.version());
  REQUIRE(parsed);
  CHECK(next_miss(*parsed) == next_miss(f.book));
  auto later = f.now + 24h * 30;
  auto from_parsed = decide_missed(*parsed, later), from_log = decide_missed(f.book, later);
  REQUIRE(from_log.size() == 2);
  REQUIRE(from_parsed.size() == 2);
  for (size_t i = 0; i < 2; ++i)
    CHECK(from_parsed[i].SerializeAsString() == from_log[i].SerializeAsString());

  // Reopened, the first occurrence is open again (the untouched later one
  // goes) and is missed no sooner than the rule's next date after that.
  auto reopened = f.run(reopen(id));
  REQUIRE_MESSAGE(reopened, error_of(reopened));
  CHECK(f.task(id).status() == v1::TASK_STATUS_PENDING);
  CHECK_FALSE(f.task(id).has_missed_at());
  CHECK(open_of(f, id).size() == 1);
  CHECK(*next_miss(f.book) == utc(2027, 2, 15, 8));
  CHECK(f.pass_time().empty());

  // Occurrence numbers follow what the series has made (four so far), so
  // the one after the reopened first is the fifth, never a second "2".
  const auto& fifth = next_made_by(f, complete(id));
  CHECK(fifth.recurrence().occurrence() == 5);
  // A reopened occurrence is not "untouched": reopening an earlier one
  // then is a conflict, not a silent deletion of the reopened one.
  auto fifth_id = fifth.id();
  REQUIRE(f.run(complete(fifth_id)));
  REQUIRE(f.run(reopen(fifth_id)));
  check_error(f.run(reopen(id)), Errc::conflict, "was worked on");
  CHECK(f.task(fifth_id).status() == v1::TASK_STATUS_PENDING);

  // Ending the series ends the misses.
  auto open = open_of(f, id);
  REQUIRE(open.size() == 1);
  REQUIRE(f.run(command([&](auto& c) {
    c.mutable_delete_()->set_task_id(open[0]->id());
    c.mutable_delete_()->set_whole_series(true);
  })));
  CHECK_FALSE(next_miss(f.book));
  f.now += 24h * 365;
  CHECK(f.pass_time().empty());
}

TEST_CASE("passing makes nothing for a series repeated after completion, or a one-off task") {
  Fixture f;
  auto series = new_uuid_string(), plain = new_uuid_string();
  REQUIRE(f.run(create_series(series, utc(2027, 3, 1, 13), "", 3, "America/New_York")));
  auto c = create(plain, "once");
  *c.mutable_create()->mutable_due_at() = coach::to_timestamp(utc(2027, 3, 1, 13));
  REQUIRE(f.run(c));
  CHECK_FALSE(next_miss(f.book));
  f.now = utc(2028, 3, 1, 13);
  CHECK(f.pass_time().empty());
  CHECK(f.task(series).status() == v1::TASK_STATUS_PENDING);
}

TEST_CASE("a miss is counted as missed in the signals and is no activity of the user's") {
  Fixture f;
  auto id = new_uuid_string();
  f.now = utc(2027, 1, 10, 12);
  REQUIRE(f.run(create_series(id, utc(2027, 1, 11, 8), "FREQ=WEEKLY;BYDAY=MO")));
  f.now = utc(2027, 1, 25, 8);
  REQUIRE(f.pass_time().size() == 2);
  BehaviorSignals signals;
  TaskBook book;
  for (const auto& e : f.log) {
    evolve(signals, e, book.find(e.task_id()));
    evolve(book, e);
  }
  CHECK(signals.missed == 1);
  CHECK(signals.tasks_created == 2);
  CHECK(signals.series[id].missed == 1);
  CHECK(signals.series[id].created == 2);
  CHECK(signals.categories["home"].missed == 1);
  // The user was last active when they created the series.
  CHECK(signals.last_event_seconds == coach::to_timestamp(utc(2027, 1, 10, 12)).seconds());
  CHECK(signals.gap_hours.count == 0);
  auto restored = BehaviorSignals::from_state(signals.to_state());
  CHECK(restored.missed == 1);
  CHECK(restored.series[id].missed == 1);
}

TEST_CASE("a due date moved later, or a pause, puts the miss after it") {
  Fixture f;
  auto id = new_uuid_string();
  f.now = utc(2027, 1, 11, 10);
  // Daily at 09:00 UTC; today's is moved to tomorrow 17:00.
  REQUIRE(f.run(create_series(id, utc(2027, 1, 11, 9), "FREQ=DAILY", 0, "UTC")));
  REQUIRE(f.run(edit_due(id, utc(2027, 1, 12, 17))));
  CHECK(*next_miss(f.book) == utc(2027, 1, 13, 9));
  f.now = utc(2027, 1, 12, 9);
  CHECK(f.pass_time().empty());
  f.now = utc(2027, 1, 13, 9);
  auto rolled = f.pass_time();
  REQUIRE(rolled.size() == 2);
  CHECK(due_of(f.task(rolled[1].task_id())) == utc(2027, 1, 13, 9));

  // A pause that ends right at a rule instant: that instant is the next
  // occurrence, whether the open one is completed during the pause or
  // left to be missed.
  auto weekly = [](Fixture& g, const std::string& series) {
    g.now = utc(2027, 1, 10, 12);
    REQUIRE(g.run(create_series(series, utc(2027, 1, 11, 8), "FREQ=WEEKLY;BYDAY=MO")));
    REQUIRE(g.run(command([&](auto& c) {
      c.mutable_snooze()->set_task_id(series);
      *c.mutable_snooze()->mutable_until() = coach::to_timestamp(utc(2027, 1, 25, 8));
      c.mutable_snooze()->set_whole_series(true);
    })));
  };
  Fixture done, left;
  auto a = new_uuid_string(), b = new_uuid_string();
  weekly(done, a);
  weekly(left, b);
  done.now = utc(2027, 1, 12, 9);
  CHECK(due_of(next_made_by(done, complete(a))) == utc(2027, 1, 25, 8));
  CHECK(*next_miss(left.book) == utc(2027, 1, 25, 8));
  left.now = utc(2027, 1, 25, 8);
  rolled = left.pass_time();
  REQUIRE(rolled.size() == 2);
  CHECK(due_of(left.task(rolled[1].task_id())) == utc(2027, 1, 25, 8));
}
