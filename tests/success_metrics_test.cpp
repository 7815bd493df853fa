// Success metrics (issue 23) against figures worked out by hand on small
// logs: a plain UTC week, a DST week in Berlin, far zones, and what counts
// as the user's own doing.
#include "projections/success_metrics.h"

#include "projections/metrics_report.h"

#include <doctest/doctest.h>
#include <google/protobuf/util/message_differencer.h>

#include <algorithm>
#include <random>
#include <vector>

#include "base/ids.h"
#include "events/envelope.h"
#include "simulator.h"
#include "tests/support.h"

using namespace coach;
using namespace coach::projections;
using namespace std::chrono_literals;

namespace {

// One user's log, built event by event.
struct Log {
  Uuid user = Uuid::random();
  std::vector<v1::TaskEvent> events;

  void add(v1::TaskEvent e, const std::string& at, const std::string& task = "") {
    e.set_task_id(task);
    events::stamp_envelope(e, user, events.size() + 1, test::utc(at.c_str()));
    events.push_back(std::move(e));
  }
  void registered(const std::string& zone, const std::string& at) {
    v1::TaskEvent e;
    e.mutable_user_registered()->set_timezone(zone);
    e.mutable_user_registered()->mutable_persona()->set_persona_type(v1::PERSONA_TYPE_COACH);
    add(e, at);
  }
  void created(const std::string& id, const std::string& due, const std::string& at) {
    v1::TaskEvent e;
    e.mutable_task_created()->mutable_fields()->set_title(id);
    *e.mutable_task_created()->mutable_fields()->mutable_due_at() =
        to_timestamp(test::utc(due.c_str()));
    add(e, at, id);
  }
  void snoozed(const std::string& id, const std::string& until, const std::string& at) {
    v1::TaskEvent e;
    *e.mutable_task_snoozed()->mutable_until() = to_timestamp(test::utc(until.c_str()));
    add(e, at, id);
  }
  void completed(const std::string& id, const std::string& at) {
    v1::TaskEvent e;
    e.mutable_task_completed();
    add(e, at, id);
  }
  void deleted(const std::string& id, const std::string& at) {
    v1::TaskEvent e;
    e.mutable_task_deleted();
    add(e, at, id);
  }
  void note(const std::string& id, const std::string& at) {
    v1::TaskEvent e;
    e.mutable_task_note_added()->set_text("note");
    add(e, at, id);
  }
  void missed(const std::string& id, const std::string& at) {
    v1::TaskEvent e;
    e.mutable_task_missed();
    add(e, at, id);
  }
  void nudge(const std::string& id, v1::CoachingMode mode, const std::string& at) {
    v1::TaskEvent e;
    e.mutable_nudge_created()->mutable_nudge()->set_id(id);
    e.mutable_nudge_created()->mutable_nudge()->set_mode(mode);
    add(e, at);
  }
  void delivered(const std::string& at) {
    v1::TaskEvent e;
    e.mutable_nudge_delivered();
    add(e, at);
  }
  // A nudge written with a notification (id "note-" + id) at `at`.
  void pushed(const std::string& id, const std::string& trigger, const std::string& task,
              const std::string& at) {
    v1::TaskEvent e;
    auto* c = e.mutable_nudge_created();
    c->set_cooldown_key(trigger + "/" + task);
    c->mutable_nudge()->set_id(id);
    c->mutable_nudge()->set_trigger(trigger);
    c->mutable_nudge()->set_task_id(task);
    c->mutable_notification()->set_id("note-" + id);
    add(e, at);
  }
  // The report of nudge `id`'s delivery at `delivered_at`, logged at `at`.
  void reported(const std::string& id, const std::string& delivered_at, const std::string& at) {
    v1::TaskEvent e;
    e.mutable_nudge_delivered()->set_notification_id("note-" + id);
    *e.mutable_nudge_delivered()->mutable_delivered_at() =
        to_timestamp(test::utc(delivered_at.c_str()));
    add(e, at);
  }
  void window(int weekday, int start_minute, int end_minute, const std::string& at) {
    v1::TaskEvent e;
    auto* p = e.mutable_preferences_changed();
    p->set_timezone("UTC");
    p->mutable_persona()->set_persona_type(v1::PERSONA_TYPE_ROAST);
    auto* w = p->mutable_preferences()->mutable_notification_window()->add_windows();
    w->set_weekday(static_cast<v1::Weekday>(weekday));
    w->set_start_minute(start_minute);
    w->set_end_minute(end_minute);
    add(e, at);
  }
  void rated(const std::string& id, int usefulness, const std::string& at) {
    v1::TaskEvent e;
    e.mutable_nudge_rated()->set_nudge_id(id);
    e.mutable_nudge_rated()->set_usefulness(usefulness);
    add(e, at);
  }
};

}  // namespace

TEST_CASE("a week's figures by hand: completion, overdue, snoozes, chains, engagement") {
  Log log;
  log.registered("UTC", "2026-03-02T09:00:00Z");  // Monday of ISO week 10
  auto a = new_uuid_string(), b = new_uuid_string(), c = new_uuid_string(), d = new_uuid_string();
  log.created(a, "2026-03-04T12:00:00Z", "2026-03-02T10:00:00Z");
  log.created(b, "2026-03-05T12:00:00Z", "2026-03-02T10:00:00Z");
  log.created(c, "2026-03-10T12:00:00Z", "2026-03-02T10:00:00Z");  // due next week
  log.created(d, "2026-03-03T12:00:00Z", "2026-03-02T10:00:00Z");
  auto e = new_uuid_string();  // due 12 h before the week ends: open, not yet overdue then
  log.created(e, "2026-03-08T12:00:00Z", "2026-03-02T10:00:00Z");
  log.deleted(d, "2026-03-03T08:00:00Z");  // deleted: in no figure
  log.snoozed(b, "2026-03-04T09:00:00Z", "2026-03-03T09:00:00Z");
  log.snoozed(b, "2026-03-05T09:00:00Z", "2026-03-04T10:00:00Z");
  log.snoozed(b, "2026-03-06T09:00:00Z", "2026-03-05T10:00:00Z");  // a long chain, never done
  log.nudge("n1", v1::COACHING_MODE_ROAST, "2026-03-04T09:00:00Z");
  log.delivered("2026-03-04T09:00:00Z");
  log.completed(a, "2026-03-04T11:00:00Z");  // within 2 h of the nudge: engaged
  log.delivered("2026-03-06T10:00:00Z");
  log.note(c, "2026-03-06T10:00:00Z");    // at the same instant: no response to it
  log.missed(c, "2026-03-06T11:00:00Z");  // coach's doing, no engagement
  log.note(c, "2026-03-06T12:30:00Z");    // after its 2 h
  log.rated("n1", 2, "2026-03-06T13:00:00Z");
  log.rated("n1", 4, "2026-03-06T14:00:00Z");  // the latest rating counts
  log.delivered("2026-03-12T11:00:00Z");       // its 2 h are not over by as_of
  auto as_of = test::utc("2026-03-12T12:00:00Z");

  auto m = user_metrics(log.events, as_of);
  REQUIRE(m.weeks.size() == 2);
  REQUIRE(m.first_active);
  CHECK(*m.first_active == IsoWeek{2026, 10});
  const auto& w10 = m.weeks.at({2026, 10});
  CHECK(w10.active);
  CHECK(w10.due == 3);  // a, b and e; d was deleted
  CHECK(w10.completed == 1);
  CHECK(*w10.completion_rate() == doctest::Approx(1.0 / 3));
  CHECK(w10.created == 5);
  CHECK(w10.snoozes == 3);
  CHECK(*w10.snooze_rate() == 0.6);
  CHECK(w10.open_with_due == 2);  // b and e (c was missed)
  CHECK(w10.overdue == 1);        // b; e is 12 h past due
  CHECK(w10.long_snooze_chains == 1);
  CHECK(w10.nudges_delivered == 2);
  CHECK(w10.nudges_engaged == 1);
  CHECK(*w10.nudge_engagement() == 0.5);

  // Week 11 so far (to as_of): no event of the user's; c was due in it.
  const auto& w11 = m.weeks.at({2026, 11});
  CHECK_FALSE(w11.active);
  CHECK(w11.due == 1);
  CHECK(w11.completed == 0);
  CHECK(w11.open_with_due == 2);
  CHECK(w11.overdue == 2);
  CHECK(w11.nudges_delivered == 0);  // the last one's outcome is not known yet
  CHECK_FALSE(w11.nudge_engagement());
  CHECK_FALSE(w11.snooze_rate());

  REQUIRE(m.ratings.size() == 1);
  auto rating = m.ratings.at({v1::COACHING_MODE_ROAST, v1::PERSONA_TYPE_COACH});
  CHECK(rating.count == 1);
  CHECK(rating.sum == 4);

  // As of an earlier instant, only what was known then.
  auto early = user_metrics(log.events, test::utc("2026-03-04T10:00:00Z"));
  REQUIRE(early.weeks.size() == 1);
  CHECK(early.weeks.at({2026, 10}).completed == 0);
  CHECK(early.weeks.at({2026, 10}).snoozes == 2);  // the second exactly at as_of counts
  CHECK(early.ratings.empty());
  auto earlier = user_metrics(log.events, test::utc("2026-03-03T08:30:00Z"));
  CHECK(earlier.weeks.at({2026, 10}).snoozes == 0);  // the first came at 09:00
}

TEST_CASE("weeks are the user's local ISO weeks, across DST and in far zones") {
  // Berlin's clocks go forward on Sunday 2026-03-29: week 13 is 167 hours,
  // and local Monday 00:00 is 22:00 UTC on Sunday.
  Log log;
  log.registered("Europe/Berlin", "2026-03-23T10:00:00Z");
  auto sunday = new_uuid_string(), monday = new_uuid_string();
  log.created(sunday, "2026-03-29T21:30:00Z", "2026-03-23T10:00:00Z");  // Sun 23:30 local
  log.created(monday, "2026-03-29T22:30:00Z", "2026-03-23T10:00:00Z");  // Mon 00:30 local
  log.snoozed(monday, "2026-03-30T06:00:00Z", "2026-03-29T22:15:00Z");  // Mon 00:15 local
  auto m = user_metrics(log.events, test::utc("2026-03-31T12:00:00Z"));
  REQUIRE(m.weeks.size() == 2);
  CHECK(m.weeks.at({2026, 13}).due == 1);
  CHECK(m.weeks.at({2026, 13}).snoozes == 0);
  CHECK(m.weeks.at({2026, 14}).due == 1);
  CHECK(m.weeks.at({2026, 14}).snoozes == 1);
  CHECK(m.weeks.at({2026, 14}).active);

  auto t = test::utc("2026-03-29T22:15:00Z");
  CHECK(iso_week_of(t, "Europe/Berlin") == IsoWeek{2026, 14});
  CHECK(iso_week_of(t, "UTC") == IsoWeek{2026, 13});
  auto sunday_noon = test::utc("2026-03-08T12:00:00Z");
  CHECK(iso_week_of(sunday_noon, "Pacific/Kiritimati") == IsoWeek{2026, 11});  // UTC+14: Monday
  CHECK(iso_week_of(sunday_noon, "Pacific/Pago_Pago") == IsoWeek{2026, 10});   // UTC-11
  CHECK(iso_week_of(test::utc("2027-01-01T12:00:00Z"), "UTC") == IsoWeek{2026, 53});
  CHECK(iso_week_of(sunday_noon, "No/Such_Zone") == IsoWeek{2026, 10});  // unknown: UTC
}

TEST_CASE("by day: local calendar days, 23 hours on the spring DST day, the last 28") {
  // Berlin's 2026-03-29 runs from 23:00 UTC on the 28th (CET) to 22:00 UTC
  // on the 29th (CEST): 23 hours.
  Log log;
  log.registered("Europe/Berlin", "2026-03-28T08:00:00Z");
  auto sunday = new_uuid_string(), monday = new_uuid_string();
  log.created(sunday, "2026-03-29T21:30:00Z", "2026-03-28T09:00:00Z");  // Sun 23:30 local
  log.created(monday, "2026-03-29T22:30:00Z", "2026-03-28T09:00:00Z");  // Mon 00:30 local
  log.note(sunday, "2026-03-28T22:59:00Z");                             // Sat 23:59 local
  log.note(sunday, "2026-03-28T23:00:00Z");                             // Sun 00:00 local
  log.completed(sunday, "2026-03-29T21:45:00Z");                        // Sun 23:45 local
  log.snoozed(monday, "2026-03-30T06:00:00Z", "2026-03-29T22:00:00Z");  // Mon 00:00 local
  log.pushed("n1", "overdue", monday, "2026-03-31T08:00:00Z");
  log.reported("n1", "2026-03-31T08:00:00Z", "2026-03-31T08:00:00Z");
  log.note(monday, "2026-03-31T09:00:00Z");  // within the nudge's 2 h: engaged
  auto m = user_metrics(log.events, test::utc("2026-04-01T23:00:00Z"));  // Thu 01:00 local

  std::vector<LocalDay> days;
  for (const auto& [day, f] : m.days) days.push_back(day);
  CHECK(
      days ==
      std::vector<LocalDay>{
          {2026, 3, 28}, {2026, 3, 29}, {2026, 3, 30}, {2026, 3, 31}, {2026, 4, 1}, {2026, 4, 2}});
  const auto& sat = m.days.at({2026, 3, 28});
  CHECK(sat.active);
  CHECK(sat.created == 2);
  CHECK(sat.due == 0);
  CHECK(sat.open_with_due == 2);
  const auto& sun = m.days.at({2026, 3, 29});
  CHECK(sun.active);  // the note at local midnight
  CHECK(sun.created == 0);
  CHECK(sun.due == 1);  // 23:30 local is inside the short day
  CHECK(sun.completed == 1);
  CHECK(*sun.completion_rate() == 1.0);
  CHECK(sun.snoozes == 0);  // 22:00 UTC is Monday already
  CHECK(sun.open_with_due == 1);
  const auto& mon = m.days.at({2026, 3, 30});
  CHECK(mon.due == 1);
  CHECK(mon.completed == 0);
  CHECK(mon.snoozes == 1);
  CHECK(mon.overdue == 0);  // 23.5 h past due at the day's end
  const auto& tue = m.days.at({2026, 3, 31});
  CHECK(tue.overdue == 1);  // 47.5 h past due
  CHECK(tue.nudges_delivered == 1);
  CHECK(tue.nudges_engaged == 1);
  CHECK_FALSE(m.days.at({2026, 4, 1}).active);
  CHECK(m.days.at({2026, 4, 2}).open_with_due == 1);  // the day so far
  // The days' counts add up to the week's (W13 is Saturday and Sunday
  // here); figures at a period's end (active, open, overdue, chains) do not.
  WeekFigures w13;
  w13.add(sat);
  w13.add(sun);
  w13.active = m.weeks.at({2026, 13}).active;
  w13.open_with_due = m.weeks.at({2026, 13}).open_with_due;
  CHECK(w13 == m.weeks.at({2026, 13}));

  // Weeks later: the last 28 days only, as_of's the last, days without
  // events too; the short day is gone.
  auto later = user_metrics(log.events, test::utc("2026-05-10T12:00:00Z"));
  REQUIRE(later.days.size() == kMetricDays);
  CHECK(later.days.begin()->first == LocalDay{2026, 4, 13});
  CHECK(later.days.rbegin()->first == LocalDay{2026, 5, 10});
  CHECK(later.days.begin()->second.open_with_due == 1);
  CHECK(later.weeks.size() == 7);  // W13 to W19: weeks are all kept

  auto t = test::utc("2026-03-10T11:00:00Z");
  CHECK(local_day_of(t, "Pacific/Kiritimati") == LocalDay{2026, 3, 11});  // UTC+14
  CHECK(local_day_of(t, "Pacific/Pago_Pago") == LocalDay{2026, 3, 10});   // UTC-11: 00:00
  CHECK(local_day_of(t - 1s, "Pacific/Pago_Pago") == LocalDay{2026, 3, 9});
  CHECK(local_day_of(t, "No/Such_Zone") == LocalDay{2026, 3, 10});

  // In the report: day rows from `from`'s day, named by the local day.
  ReportOptions options;
  options.from = test::utc("2026-03-29T00:00:00Z");
  options.to = test::utc("2026-04-01T23:00:00Z");
  options.min_users = 1;
  MetricsReportBuilder builder(options);
  builder.add("u", log.events);
  auto report = builder.build();
  std::vector<std::string> names;
  for (const auto& d : report.days()) names.push_back(d.day());
  // 04-01 and 04-02 had no active user: fewer than min_users.
  CHECK(names == std::vector<std::string>{"2026-03-29", "2026-03-30", "2026-03-31"});
  CHECK(report.suppressed_days() == 2);  // counted apart: the 28th is before `from`
  CHECK(report.suppressed() == 0);
  CHECK(report.days(0).week().empty());
  CHECK(report.days(0).completion_rate() == 1.0);
  CHECK(report.days(2).nudge_engagement() == 1.0);
}

TEST_CASE("a move to another zone leaves no due in no period, nor in two") {
  // In UTC until Monday 2026-03-02 20:00 UTC, then in Pago Pago (UTC-11).
  // Sunday and W09 end at Monday 00:00 UTC (an event at 01:00 closes them);
  // Monday and W10 then end at Pago Pago's midnights. A task due Monday
  // 05:00 UTC is Monday's and W10's: Pago Pago's Monday begins at 11:00
  // UTC, but this Monday began when Sunday ended.
  Log log;
  log.registered("UTC", "2026-03-01T08:00:00Z");
  auto early = new_uuid_string(), late = new_uuid_string();
  log.created(early, "2026-03-02T05:00:00Z", "2026-03-01T09:00:00Z");
  log.created(late, "2026-03-03T10:30:00Z", "2026-03-01T09:00:00Z");  // Mon 23:30 in Pago Pago
  log.note(early, "2026-03-02T01:00:00Z");
  v1::TaskEvent move;
  move.mutable_preferences_changed()->set_timezone("Pacific/Pago_Pago");
  log.add(move, "2026-03-02T20:00:00Z");
  auto m = user_metrics(log.events, test::utc("2026-03-12T00:00:00Z"));
  CHECK(m.days.at({2026, 3, 1}).due == 0);
  CHECK(m.days.at({2026, 3, 2}).due == 2);  // 00:00 UTC to 11:00 UTC the next day
  CHECK(m.days.at({2026, 3, 3}).due == 0);
  CHECK(m.weeks.at({2026, 9}).due == 0);
  CHECK(m.weeks.at({2026, 10}).due == 2);
  uint32_t days_due = 0, weeks_due = 0;
  for (const auto& [day, f] : m.days) days_due += f.due;
  for (const auto& [week, f] : m.weeks) weeks_due += f.due;
  CHECK(days_due == 2);
  CHECK(weeks_due == 2);
  // The carry keeps where the open periods began.
  auto carry = metrics_carry(log.events, test::utc("2026-03-02T21:00:00Z"));
  CHECK(carry.day_started == test::utc("2026-03-02T00:00:00Z"));
  CHECK(carry.week_started == test::utc("2026-03-02T00:00:00Z"));
  CHECK(user_metrics(carry, test::utc("2026-03-12T00:00:00Z")) == m);
}

TEST_CASE("only the user's own doing makes a week active") {
  v1::TaskEvent e;
  e.mutable_task_completed();
  CHECK(user_initiated(e));
  e.mutable_task_missed();
  CHECK_FALSE(user_initiated(e));
  e.mutable_nudge_delivered();
  CHECK_FALSE(user_initiated(e));
  e.mutable_nudge_created();
  CHECK_FALSE(user_initiated(e));
  e.mutable_notification_failed();
  CHECK_FALSE(user_initiated(e));
  e.mutable_preferences_changed()->set_reason("adaptation: roasts rated unhelpful");
  CHECK_FALSE(user_initiated(e));
  e.mutable_preferences_changed()->clear_reason();
  CHECK(user_initiated(e));
  e.mutable_task_created()->mutable_recurrence()->set_made_on_miss(true);
  CHECK_FALSE(user_initiated(e));
  e.mutable_task_created()->mutable_recurrence()->set_made_on_miss(false);
  CHECK(user_initiated(e));
  e.mutable_nudge_rated();
  CHECK(user_initiated(e));

  // A week with only coach's sends is not active.
  Log log;
  log.registered("UTC", "2026-03-02T09:00:00Z");
  log.delivered("2026-03-10T09:00:00Z");
  auto m = user_metrics(log.events, test::utc("2026-03-11T00:00:00Z"));
  CHECK(m.weeks.at({2026, 10}).active);
  CHECK_FALSE(m.weeks.at({2026, 11}).active);
}

TEST_CASE(
    "misfires, rule by rule: done, deleted, snoozed past, outside the window, duplicate, late") {
  Log log;
  log.registered("UTC", "2026-03-02T08:00:00Z");  // Monday, ISO week 10
  auto done = new_uuid_string(), gone = new_uuid_string(), later = new_uuid_string(),
       fine = new_uuid_string(), after = new_uuid_string(), twice = new_uuid_string();
  for (const auto& t : {done, gone, later, fine, after, twice})
    log.created(t, "2026-03-06T12:00:00Z", "2026-03-02T08:00:00Z");
  log.completed(done, "2026-03-02T09:00:00Z");
  log.pushed("n1", "deadline_approaching", done, "2026-03-02T08:59:00Z");
  log.reported("n1", "2026-03-02T09:00:00Z", "2026-03-02T09:01:00Z");  // done at that second
  log.deleted(gone, "2026-03-02T09:30:00Z");
  log.pushed("n2", "deadline_approaching", gone, "2026-03-02T09:20:00Z");
  log.reported("n2", "2026-03-02T09:40:00Z", "2026-03-02T09:41:00Z");
  log.snoozed(later, "2026-03-03T09:00:00Z", "2026-03-02T10:00:00Z");
  log.pushed("n3", "deadline_approaching", later, "2026-03-02T09:50:00Z");
  log.reported("n3", "2026-03-02T10:10:00Z", "2026-03-02T10:11:00Z");
  // Fine when delivered; the user completing it right after is no misfire
  // (the report is logged after the completion).
  log.pushed("n4", "deadline_approaching", fine, "2026-03-02T11:00:00Z");
  log.completed(fine, "2026-03-02T11:05:00Z");
  log.reported("n4", "2026-03-02T11:01:00Z", "2026-03-02T11:06:00Z");
  // The same trigger and task again within 12 h: a duplicate; then the
  // same notification reported twice.
  log.pushed("n4b", "deadline_approaching", twice, "2026-03-02T11:30:00Z");
  log.reported("n4b", "2026-03-02T11:30:10Z", "2026-03-02T11:31:00Z");
  log.pushed("n5", "deadline_approaching", twice, "2026-03-02T12:00:00Z");
  log.reported("n5", "2026-03-02T12:00:30Z", "2026-03-02T12:01:00Z");
  log.reported("n5", "2026-03-02T12:02:00Z", "2026-03-02T12:03:00Z");
  // Late: written at 13:00, delivered at 14:01 (tolerance 1 h).
  log.pushed("n6", "overdue", after, "2026-03-02T13:00:00Z");
  log.reported("n6", "2026-03-02T14:01:00Z", "2026-03-02T14:02:00Z");
  // Outside the window: only Tuesdays 09:00-10:00 from now on.
  log.window(2, 9 * 60, 10 * 60, "2026-03-02T15:00:00Z");
  log.pushed("n7", "inactivity", "", "2026-03-02T16:00:00Z");
  log.reported("n7", "2026-03-02T16:00:10Z", "2026-03-02T16:01:00Z");
  log.pushed("n8", "overdue", after, "2026-03-03T09:10:00Z");  // in the window, 19 h later
  log.reported("n8", "2026-03-03T09:10:10Z", "2026-03-03T09:11:00Z");

  // Not a misfire: a completion nudge about the task just done.
  log.pushed("n9", "completion", fine, "2026-03-03T09:20:00Z");
  log.reported("n9", "2026-03-03T09:20:10Z", "2026-03-03T09:21:00Z");

  auto m = user_metrics(log.events, test::utc("2026-03-04T00:00:00Z"));
  const auto& w = m.weeks.at({2026, 10});
  CHECK(w.nudges_delivered == 11);
  CHECK(w.misfires == 7);
  auto reasons = w.misfires_by_reason;
  CHECK(reasons["task_done"] == 1);
  CHECK(reasons["task_deleted"] == 1);
  CHECK(reasons["task_snoozed"] == 1);
  CHECK(reasons["duplicate"] == 2);
  CHECK(reasons["late"] == 1);
  CHECK(reasons["outside_window"] == 1);
  REQUIRE(w.misfire_rate());
  CHECK(*w.misfire_rate() == doctest::Approx(7.0 / 11));
  // Persona engagement: n4 was followed within 2 h (the completion), under
  // the persona of the time (coach until the change to roast).
  CHECK(m.persona_engagement[v1::PERSONA_TYPE_COACH].delivered == 8);
  CHECK(m.persona_engagement[v1::PERSONA_TYPE_ROAST].delivered == 3);
  CHECK(m.persona_engagement[v1::PERSONA_TYPE_COACH].engaged >= 1);
}

TEST_CASE("aggregates over users: weekly sums, active users, retention cohorts, drop-off") {
  // Three users first active in week 10 (2026-03-02), one in week 11.
  auto user = [](const std::vector<std::string>& active_days,
                 const char* as_of = "2026-03-31T00:00:00Z") {  // in week 14
    Log log;
    log.registered("UTC", active_days.front());
    for (const auto& day : active_days) log.created(new_uuid_string(), "2026-06-01T00:00:00Z", day);
    return user_metrics(log.events, test::utc(as_of));
  };
  MetricsTally tally;
  tally.add(user({"2026-03-02T10:00:00Z", "2026-03-10T10:00:00Z"}));  // weeks 10, 11
  tally.add(user({"2026-03-03T10:00:00Z"}));                          // 10 only: dropped off
  tally.add(user({"2026-03-04T10:00:00Z", "2026-03-18T10:00:00Z"}));  // 10, 12
  tally.add(user({"2026-03-09T10:00:00Z", "2026-03-30T10:00:00Z"}));  // 11, 14
  CHECK(tally.users() == 4);
  const auto& weeks = tally.weeks();
  CHECK(weeks.at({2026, 10}).active_users == 3);
  CHECK(weeks.at({2026, 11}).active_users == 2);
  CHECK(weeks.at({2026, 12}).active_users == 1);
  CHECK(weeks.at({2026, 13}).active_users == 0);
  CHECK(weeks.at({2026, 13}).users == 4);
  CHECK(weeks.at({2026, 10}).sums.created == 3);
  const auto& c10 = tally.cohorts().at({2026, 10});
  CHECK(c10.users == 3);
  // Weeks 10 to 13: week 14, as_of's, is not over, so no column yet.
  REQUIRE(c10.active.size() == 4);
  CHECK(c10.active[0] == 3);
  CHECK(c10.active[1] == 1);
  CHECK(c10.active[2] == 1);
  CHECK(c10.active[3] == 0);
  CHECK(c10.dropoff_known == 3);
  CHECK(c10.dropped_off == 1);
  const auto& c11 = tally.cohorts().at({2026, 11});
  CHECK(c11.users == 1);
  CHECK(c11.dropoff_known == 1);  // weeks 12 and 13 are over by week 14
  CHECK(c11.dropped_off == 1);
  REQUIRE(c11.active.size() == 3);  // weeks 11 to 13; the user's week 14 is not over
  CHECK(c11.active[0] == 1);
  CHECK(c11.active[2] == 0);
  MetricsTally later;  // once week 14 is over, it counts
  later.add(user({"2026-03-09T10:00:00Z", "2026-03-30T10:00:00Z"}, "2026-04-06T00:00:00Z"));
  REQUIRE(later.cohorts().at({2026, 11}).active.size() == 4);
  CHECK(later.cohorts().at({2026, 11}).active[3] == 1);
  // A cohort of this week has its week 0 at once.
  MetricsTally fresh;
  fresh.add(user({"2026-03-30T10:00:00Z"}));
  CHECK(fresh.cohorts().at({2026, 14}).active == std::vector<uint32_t>{1});
  CHECK(weeks_between({2026, 10}, {2027, 1}) == 44);  // 2026 has 53 weeks
  CHECK(weeks_after({2026, 53}, 1) == IsoWeek{2027, 1});
}

TEST_CASE("a user's own weeks for insights: the last 8, oldest first, as report rows") {
  Log log;
  log.registered("UTC", "2026-01-05T08:00:00Z");  // Monday of 2026-W02
  // A task each Monday of W02 to W11, due that evening, never done.
  const char* mondays[] = {"2026-01-05", "2026-01-12", "2026-01-19", "2026-01-26", "2026-02-02",
                           "2026-02-09", "2026-02-16", "2026-02-23", "2026-03-02", "2026-03-09"};
  for (const std::string day : mondays)
    log.created("t" + day, day + "T18:00:00Z", day + "T09:00:00Z");
  auto m = user_metrics(log.events, test::utc("2026-03-11T12:00:00Z"));  // in W11
  auto rows = own_weeks(m, 8);
  REQUIRE(rows.size() == 8);
  CHECK(rows.front().week() == "2026-W04");
  CHECK(rows.back().week() == "2026-W11");
  for (const auto& r : rows) {
    CAPTURE(r.week());
    CHECK(r.users() == 1);
    CHECK(r.active_users() == 1);
    CHECK(r.created() == 1);
    CHECK(r.due() == 1);
    CHECK(r.completed() == 0);
  }
  CHECK(own_weeks(m, 20).size() == 10);
  CHECK(own_weeks(UserMetrics{}, 8).empty());
  // And days: the last 7, the 5th to the 11th of March; a task was created
  // and fell due on the Monday, the 9th.
  auto days = own_days(m, 7);
  REQUIRE(days.size() == 7);
  CHECK(days.front().day() == "2026-03-05");
  CHECK(days.back().day() == "2026-03-11");
  CHECK(days.back().week().empty());
  CHECK(days[4].day() == "2026-03-09");
  CHECK(days[4].created() == 1);
  CHECK(days[4].due() == 1);
  CHECK(days[4].active_users() == 1);
  CHECK(days[4].overdue() == 9);  // the 9th's own task is 6 h past due at its end
  CHECK(days[5].active_users() == 0);
  CHECK(days[5].overdue() == 10);  // and 30 h at the 10th's end
  CHECK(own_days(m, 40).size() == kMetricDays);
}

namespace {

// A simulated user's log in `zone`: the trial's users (nudges written,
// decided, delivered; their days from `start`) and the archetypes' (due
// dates, snoozes, lateness), each registered in that zone.
std::vector<v1::TaskEvent> simulated_log(uint64_t seed, const std::string& zone,
                                         Clock::time_point start) {
  std::vector<v1::TaskEvent> events;
  if (seed % 2) {
    sim::TrialSimOptions options;
    options.days = 28;
    options.start = start;
    events = sim::simulate_trial_user(seed, options).events;
  } else {
    sim::SimOptions options;
    options.days = 30;
    options.registered = true;
    events =
        sim::simulate(static_cast<int>(seed / 2 % sim::kArchetypes.size()), seed, options).events;
  }
  for (auto& e : events)
    if (e.has_user_registered()) e.mutable_user_registered()->set_timezone(zone);
  return events;
}

}  // namespace

TEST_CASE("the carry: an unchanged user's figures later equal a fold of the whole log") {
  // The incremental update stands on this: the carry made at t1 from the
  // log then, asked at t2, gives what folding that same log at t2 gives, in
  // DST weeks and far zones, mid-week and across weeks, with deliveries
  // whose 2 h and decisions whose window end in between.
  const std::vector<std::string> zones = {"Europe/Berlin", "America/New_York", "Pacific/Kiritimati",
                                          "Pacific/Pago_Pago"};
  auto start = test::utc("2026-03-02T00:00:00Z");  // both DST changes of 2026 inside
  std::mt19937_64 rng(23);
  int compared = 0, with_open_deliveries = 0, with_open_decisions = 0;
  for (uint64_t seed = 1; seed <= 24; ++seed) {
    auto log = simulated_log(seed, zones[seed % zones.size()], start);
    REQUIRE(log.size() > 20);
    auto first = from_timestamp(log.front().created_at());
    auto last = from_timestamp(log.back().created_at());
    for (int round = 0; round < 6; ++round) {
      // t1 anywhere in the log's span (the last round: after it), t2 up to
      // 60 days after t1 (past the 28 days kept: the carry drops days); or t1 at a delivery's
      // report (round 0) or a decision (round 1) and t2 exactly when its 2 h end.
      auto span = std::chrono::duration_cast<std::chrono::minutes>(last - first).count();
      auto t1 = round == 5 ? last + 1h : first + std::chrono::minutes(rng() % span);
      auto t2 = t1 + std::chrono::minutes(rng() % (60 * 24 * 60));
      if (round < 2) {
        std::vector<Clock::time_point> at;
        for (const auto& e : log)
          if (round == 0 ? e.has_nudge_delivered() : e.has_nudge_decided())
            at.push_back(from_timestamp(e.created_at()));
        if (!at.empty()) {
          t1 = at[rng() % at.size()];
          t2 = t1 + 2h;
        }
      }
      auto carry = metrics_carry(log, t1);
      std::span<const v1::TaskEvent> then(log.data(), carry.events);
      REQUIRE(std::all_of(then.begin(), then.end(),
                          [&](const auto& e) { return from_timestamp(e.created_at()) <= t1; }));
      REQUIRE((carry.events == log.size() || from_timestamp(log[carry.events].created_at()) > t1));
      CAPTURE(seed);
      CAPTURE(round);
      CHECK(user_metrics(carry, t1) == user_metrics(then, t1));
      CHECK(user_metrics(carry, t2) == user_metrics(then, t2));
      with_open_deliveries += !carry.deliveries.empty();

      // The report's part: metrics and the trial's decisions.
      auto report_part = report_carry(then, t1);
      with_open_decisions +=
          std::any_of(report_part.decisions.begin(), report_part.decisions.end(),
                      [&](const TrialDecision& d) { return d.at + kProximalWindow > t1; });
      ReportOptions options;
      options.from = start;
      options.to = t2;
      options.min_users = 1;
      MetricsReportBuilder from_carry(options), from_log(options);
      from_carry.add("u", report_part);
      from_log.add("u", then);
      auto a = from_carry.build(), b = from_log.build();
      CHECK(google::protobuf::util::MessageDifferencer::Equals(a, b));
      ++compared;
    }
  }
  CHECK(compared == 24 * 6);
  // The cases that make the carry more than a copy came up.
  CHECK(with_open_deliveries > 5);
  CHECK(with_open_decisions > 5);
}

TEST_CASE("the carry keeps only what later weeks can count") {
  Log log;
  log.registered("UTC", "2026-03-02T09:00:00Z");
  auto done_early = new_uuid_string(), done_later = new_uuid_string(), open = new_uuid_string(),
       gone = new_uuid_string();
  log.created(done_early, "2026-03-03T12:00:00Z", "2026-03-02T09:00:00Z");  // due in W10
  log.created(done_later, "2026-03-30T12:00:00Z", "2026-03-02T09:00:00Z");  // due in W14
  log.created(open, "2026-03-04T12:00:00Z", "2026-03-02T09:00:00Z");        // overdue
  log.created(gone, "2026-03-30T12:00:00Z", "2026-03-02T09:00:00Z");
  log.completed(done_early, "2026-03-03T10:00:00Z");
  log.completed(done_later, "2026-03-10T10:00:00Z");
  log.deleted(gone, "2026-03-10T11:00:00Z");
  auto carry = metrics_carry(log.events, test::utc("2026-03-11T00:00:00Z"));  // in W11
  CHECK(carry.events == log.events.size());
  REQUIRE(carry.current == IsoWeek{2026, 11});
  REQUIRE(carry.tasks.size() == 2);  // the open one and the one due in W14
  auto later = user_metrics(carry, test::utc("2026-04-01T00:00:00Z"));
  CHECK(later.weeks.at({2026, 14}).due == 1);
  CHECK(later.weeks.at({2026, 14}).completed == 1);
  CHECK(later.weeks.at({2026, 14}).overdue == 1);
  CHECK(later.weeks.size() == 5);  // W10 to W14
  // Asked for an instant before its own, a carry answers as of its own.
  CHECK(user_metrics(carry, test::utc("2026-03-05T00:00:00Z")) == user_metrics(carry, carry.as_of));
}
