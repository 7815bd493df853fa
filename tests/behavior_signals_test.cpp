// Behavioral signals: a pure fold, tested alone with the task book beside it.
#include <doctest/doctest.h>

#include <optional>

#include "events/envelope.h"
#include "projections/behavior_signals.h"
#include "projections/task_book.h"

using namespace coach;
using namespace coach::projections;
using namespace std::chrono_literals;

namespace {

// 2026-03-02 00:00:00 UTC, a Monday.
const Clock::time_point kMonday = Clock::from_time_t(1772409600);

struct User {
  Uuid id = Uuid::random();
  TaskBook book;
  BehaviorSignals signals;
  std::vector<v1::TaskEvent> log;

  void apply(v1::TaskEvent e, Clock::time_point at) {
    events::stamp_envelope(e, id, book.version() + 1, at);
    const v1::Task* before = book.find(e.task_id());
    std::optional<v1::Task> copy;
    if (before) copy = *before;
    evolve(signals, e, copy ? &*copy : nullptr);
    evolve(book, e);
    log.push_back(e);
  }
  std::string create(Clock::time_point at, std::optional<Clock::time_point> due = {},
                     const std::string& category = "work") {
    v1::TaskEvent e;
    e.set_task_id(new_uuid_string());
    e.mutable_task_created()->mutable_fields()->set_title("t");
    e.mutable_task_created()->mutable_fields()->set_category(category);
    if (due)
      *e.mutable_task_created()->mutable_fields()->mutable_due_at() = coach::to_timestamp(*due);
    apply(e, at);
    return e.task_id();
  }
  void complete(const std::string& task, Clock::time_point at) {
    v1::TaskEvent e;
    e.set_task_id(task);
    e.mutable_task_completed();
    apply(e, at);
  }
  void snooze(const std::string& task, Clock::time_point at) {
    v1::TaskEvent e;
    e.set_task_id(task);
    *e.mutable_task_snoozed()->mutable_until() = coach::to_timestamp(at + 1h);
    apply(e, at);
  }
  void move_due(const std::string& task, Clock::time_point from, Clock::time_point to,
                Clock::time_point at) {
    v1::TaskEvent e;
    e.set_task_id(task);
    auto* m = e.mutable_task_modified();
    m->add_changed(v1::TASK_FIELD_DUE_AT);
    *m->mutable_before()->mutable_due_at() = coach::to_timestamp(from);
    *m->mutable_after()->mutable_due_at() = coach::to_timestamp(to);
    apply(e, at);
  }
};

}  // namespace

TEST_CASE("completion timing: lateness, share late, very late, tension") {
  User u;
  auto due = kMonday + 24h;
  auto early = u.create(kMonday, due);
  auto late = u.create(kMonday, due);
  auto very_late = u.create(kMonday, due, "admin");
  auto no_due = u.create(kMonday);
  u.complete(early, kMonday + 12h);   // tension 0.5, lateness -12 h
  u.complete(late, due + 5h);         // lateness +5 h
  u.complete(very_late, due + 100h);  // more than 4 days late
  u.complete(no_due, kMonday + 30h);
  const auto& s = u.signals;
  CHECK(s.tasks_created == 4);
  CHECK(s.completions == 4);
  CHECK(s.completions_with_due == 3);
  CHECK(s.late == 2);
  CHECK(s.very_late == 1);
  CHECK(s.share_late() == doctest::Approx(2.0 / 3));
  CHECK(s.share_very_late() == doctest::Approx(1.0 / 3));
  CHECK(s.lateness_hours.mean == doctest::Approx((-12.0 + 5 + 100) / 3));
  CHECK(s.tension.count == 3);
  CHECK(s.tension.mean == doctest::Approx((0.5 + 29.0 / 24 + 2.0) / 3));  // 124/24 clips to 2
  CHECK(s.categories.at("admin").late == 1);
  CHECK(s.categories.at("work").completed == 3);
}

TEST_CASE("snoozes, edits and postponements per task") {
  User u;
  auto t = u.create(kMonday, kMonday + 48h);
  u.create(kMonday + 1h);
  u.snooze(t, kMonday + 2h);
  u.snooze(t, kMonday + 3h);
  u.move_due(t, kMonday + 48h, kMonday + 72h, kMonday + 4h);  // later: a postponement
  u.move_due(t, kMonday + 72h, kMonday + 60h, kMonday + 5h);  // earlier: an edit only
  CHECK(u.signals.snooze_rate() == doctest::Approx(1.0));
  CHECK(u.signals.edit_rate() == doctest::Approx(1.0));
  CHECK(u.signals.postponements == 1);
}

TEST_CASE("tags and notes teach the signals nothing: no edit, no activity gap") {
  // The same history twice; the second user also files: tags and notes.
  User plain, filing;
  for (User* u : {&plain, &filing}) {
    auto t = u->create(kMonday, kMonday + 48h);
    if (u == &filing) {
      v1::TaskEvent tags;
      tags.set_task_id(t);
      auto* m = tags.mutable_task_modified();
      m->add_changed(v1::TASK_FIELD_TAGS);
      m->mutable_after()->add_tags("work");
      u->apply(tags, kMonday + 30min);
      v1::TaskEvent note;
      note.set_task_id(t);
      note.mutable_task_note_added()->set_text("asked Bob");
      u->apply(note, kMonday + 50h);  // a long gap, were it counted
    }
    u->snooze(t, kMonday + 2h);
    u->complete(t, kMonday + 30h);
  }
  CHECK(filing.signals.to_state().SerializeAsString() ==
        plain.signals.to_state().SerializeAsString());
  CHECK(filing.signals.edits == 0);
  CHECK(filing.signals.gap_hours.count == plain.signals.gap_hours.count);

  // An edit of tags and the title together is an edit like any other.
  User both;
  auto t = both.create(kMonday);
  v1::TaskEvent e;
  e.set_task_id(t);
  auto* m = e.mutable_task_modified();
  m->add_changed(v1::TASK_FIELD_TAGS);
  m->add_changed(v1::TASK_FIELD_TITLE);
  m->mutable_after()->set_title("u");
  both.apply(e, kMonday + 1h);
  CHECK(both.signals.edits == 1);
  CHECK(both.signals.gap_hours.count == 1);
}

TEST_CASE("activity gaps: regular work has burstiness -1, bursts approach +1") {
  User regular;
  for (int i = 0; i < 10; ++i) regular.create(kMonday + i * 2h);
  CHECK(regular.signals.gap_hours.mean == doctest::Approx(2.0));
  CHECK(regular.signals.burstiness() == doctest::Approx(-1.0));
  CHECK(regular.signals.longest_gap_hours == doctest::Approx(2.0));

  User bursty;
  auto t = kMonday;
  for (int burst = 0; burst < 5; ++burst) {
    for (int i = 0; i < 10; ++i) bursty.create(t += 1min);
    t += 24h * 7;
  }
  CHECK(bursty.signals.burstiness() > 0.5);
  CHECK(bursty.signals.longest_gap_hours > 24 * 7 - 1);
}

TEST_CASE("rhythm counts completions in local time, across DST and far time zones") {
  // Europe/Berlin switches to summer time on 2026-03-29 at 01:00 UTC.
  User berlin;
  berlin.signals.set_time_zone("Europe/Berlin");
  auto sunday = Clock::from_time_t(1774742400);            // 2026-03-29 00:00 UTC
  berlin.complete(berlin.create(sunday), sunday + 30min);  // 01:30 CET
  berlin.complete(berlin.create(sunday), sunday + 90min);  // 03:30 CEST
  CHECK(berlin.signals.completions_by_hour[1] == 1);
  CHECK(berlin.signals.completions_by_hour[3] == 1);
  CHECK(berlin.signals.completions_by_weekday[6] == 2);  // Sunday

  User kiritimati;  // UTC+14: Monday 00:00 UTC is Monday 14:00 there
  kiritimati.signals.set_time_zone("Pacific/Kiritimati");
  kiritimati.complete(kiritimati.create(kMonday), kMonday);
  CHECK(kiritimati.signals.completions_by_hour[14] == 1);
  CHECK(kiritimati.signals.completions_by_weekday[0] == 1);

  User baker;  // UTC-12: Monday 00:00 UTC is Sunday 12:00 there
  baker.signals.set_time_zone("Etc/GMT+12");
  baker.complete(baker.create(kMonday), kMonday);
  CHECK(baker.signals.completions_by_hour[12] == 1);
  CHECK(baker.signals.completions_by_weekday[6] == 1);

  User utc;  // no zone set: UTC
  utc.complete(utc.create(kMonday), kMonday + 9h);
  CHECK(utc.signals.completions_by_hour[9] == 1);
}

TEST_CASE("replaying the log gives the same signals") {
  User u;
  u.signals.set_time_zone("America/New_York");
  for (int i = 0; i < 50; ++i) {
    auto t = u.create(kMonday + i * 3h, kMonday + i * 3h + 24h, i % 3 ? "a" : "b");
    if (i % 4 == 0) u.snooze(t, kMonday + i * 3h + 1h);
    if (i % 2 == 0) u.complete(t, kMonday + i * 3h + (i % 5) * 10h);
  }
  BehaviorSignals again;
  again.set_time_zone("America/New_York");
  TaskBook book;
  for (const auto& e : u.log) {
    const v1::Task* before = book.find(e.task_id());
    std::optional<v1::Task> copy;
    if (before) copy = *before;
    evolve(again, e, copy ? &*copy : nullptr);
    evolve(book, e);
  }
  CHECK(again.late == u.signals.late);
  CHECK(again.lateness_hours.mean == u.signals.lateness_hours.mean);
  CHECK(again.gap_hours.m2 == u.signals.gap_hours.m2);
  CHECK(again.completions_by_hour == u.signals.completions_by_hour);
  CHECK(again.burstiness() == u.signals.burstiness());
}

TEST_CASE("occurrences of a recurring series count as tasks, grouped by their series") {
  User u;
  auto occurrence = [&](const std::string& series, Clock::time_point due) {
    v1::TaskEvent e;
    e.set_task_id(new_uuid_string());
    e.mutable_task_created()->mutable_fields()->set_title("review");
    e.mutable_task_created()->mutable_fields()->set_category("work");
    *e.mutable_task_created()->mutable_fields()->mutable_due_at() = coach::to_timestamp(due);
    e.mutable_task_created()->mutable_recurrence()->set_series_id(series);
    u.apply(e, kMonday);
    return e.task_id();
  };
  auto series = new_uuid_string();
  u.complete(occurrence(series, kMonday + 24h), kMonday + 30h);  // late
  u.complete(occurrence(series, kMonday + 48h), kMonday + 40h);  // early
  occurrence(series, kMonday + 72h);
  u.complete(u.create(kMonday, kMonday + 24h), kMonday + 25h);  // late, no series
  const auto& s = u.signals;
  CHECK(s.tasks_created == 4);
  CHECK(s.late == 2);
  CHECK(s.categories.at("work").late == 2);
  REQUIRE(s.series.size() == 1);
  CHECK(s.series.at(series).created == 3);
  CHECK(s.series.at(series).completed == 2);
  CHECK(s.series.at(series).late == 1);
  auto back = BehaviorSignals::from_state(s.to_state());
  CHECK(back.series.at(series).late == 1);
  CHECK(back.series.at(series).created == 3);
}
