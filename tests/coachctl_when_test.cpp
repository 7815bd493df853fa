// coachctl's pure parts without a process: dates as people type them, in
// their zone and across DST changes (apps/coachctl/when.h), durations, weekly
// windows, short ids, urgency and when to colour (apps/coachctl/views.h).
#include <date/date.h>
#include <date/tz.h>
#include <doctest/doctest.h>

#include <map>

#include "apps/coachctl/views.h"
#include "apps/coachctl/when.h"

using namespace coach;
using namespace std::chrono;
using coach::ctl::Seconds;

namespace {

Seconds at(const std::string& rfc3339) {
  auto t = ctl::parse_when(rfc3339, Seconds{}, date::locate_zone("UTC"));
  REQUIRE_MESSAGE(t, rfc3339);
  return *t;
}

// `text` parsed at `now` in `zone`, as RFC 3339 in UTC.
std::string when(const std::string& text, const std::string& now, const std::string& zone,
                 ctl::DayTime day = ctl::DayTime::end) {
  auto t = ctl::parse_when(text, at(now), date::locate_zone(zone), day);
  if (!t) return "error: " + t.error().message;
  return date::format("%FT%TZ", *t);
}

// Friday 2026-03-27 10:00 in Berlin (CET, +01:00); Europe moves to CEST
// (+02:00) on Sunday 2026-03-29 at 02:00.
constexpr const char* kFriday = "2026-03-27T09:00:00Z";
constexpr const char* kBerlin = "Europe/Berlin";

v1::Task task(const std::string& id, const std::string& title = "t") {
  v1::Task t;
  t.set_id(id);
  t.set_title(title);
  t.set_status(v1::TASK_STATUS_PENDING);
  return t;
}

}  // namespace

TEST_CASE("coachctl when: every day form in Berlin on a Friday before the DST change") {
  CHECK(when("now", kFriday, kBerlin) == "2026-03-27T09:00:00Z");
  CHECK(when("today", kFriday, kBerlin) == "2026-03-27T22:59:59Z");
  CHECK(when("eod", kFriday, kBerlin) == "2026-03-27T22:59:59Z");
  CHECK(when("tomorrow", kFriday, kBerlin) == "2026-03-28T22:59:59Z");
  CHECK(when("yesterday", kFriday, kBerlin) == "2026-03-26T22:59:59Z");
  CHECK(when("tomorrow 17:00", kFriday, kBerlin) == "2026-03-28T16:00:00Z");
  CHECK(when("Tomorrow 5PM", kFriday, kBerlin) == "2026-03-28T16:00:00Z");
  // Sunday is after the change: 17:00 on the clock is 15:00 UTC.
  CHECK(when("sun 17:00", kFriday, kBerlin) == "2026-03-29T15:00:00Z");
  CHECK(when("sunday 5pm", kFriday, kBerlin) == "2026-03-29T15:00:00Z");
  CHECK(when("eow", kFriday, kBerlin) == "2026-03-29T21:59:59Z");
  CHECK(when("eom", kFriday, kBerlin) == "2026-03-31T21:59:59Z");
  CHECK(when("mon 9am", kFriday, kBerlin) == "2026-03-30T07:00:00Z");
  CHECK(when("next monday 9am", kFriday, kBerlin) == "2026-03-30T07:00:00Z");
  CHECK(when("next mon", kFriday, kBerlin) == "2026-03-30T21:59:59Z");
  // Today is Friday: `fri` is next week's.
  CHECK(when("fri", kFriday, kBerlin) == "2026-04-03T21:59:59Z");
  CHECK(when("thu 12am", kFriday, kBerlin) == "2026-04-01T22:00:00Z");
  CHECK(when("today 9:30", kFriday, kBerlin) == "2026-03-27T08:30:00Z");
  // A time alone: the next one to come (10:00 local now).
  CHECK(when("17:00", kFriday, kBerlin) == "2026-03-27T16:00:00Z");
  CHECK(when("9am", kFriday, kBerlin) == "2026-03-28T08:00:00Z");
  // A day alone for a snooze: its start.
  CHECK(when("tomorrow", kFriday, kBerlin, ctl::DayTime::start) == "2026-03-27T23:00:00Z");
  CHECK(when("mon", kFriday, kBerlin, ctl::DayTime::start) == "2026-03-29T22:00:00Z");
  // For an exclusive end: the start of the next day, across the change too.
  CHECK(when("tomorrow", kFriday, kBerlin, ctl::DayTime::after) == "2026-03-28T23:00:00Z");
  CHECK(when("sun", kFriday, kBerlin, ctl::DayTime::after) == "2026-03-29T22:00:00Z");
  CHECK(when("eod", kFriday, kBerlin, ctl::DayTime::after) == "2026-03-27T23:00:00Z");
  CHECK(when("eow", kFriday, kBerlin, ctl::DayTime::after) == "2026-03-29T22:00:00Z");
  CHECK(when("sat 17:00", kFriday, kBerlin, ctl::DayTime::after) == "2026-03-28T16:00:00Z");
}

TEST_CASE("coachctl when: offsets from now are exact durations, across DST too") {
  CHECK(when("+2d", kFriday, kBerlin) == "2026-03-29T09:00:00Z");
  CHECK(when("+3h", kFriday, kBerlin) == "2026-03-27T12:00:00Z");
  CHECK(when("+90m", kFriday, kBerlin) == "2026-03-27T10:30:00Z");
  CHECK(when("+1w", kFriday, kBerlin) == "2026-04-03T09:00:00Z");
  CHECK(when("+1h30m", kFriday, kBerlin) == "2026-03-27T10:30:00Z");
}

TEST_CASE("coachctl when: dates, local date-times and RFC 3339") {
  CHECK(when("2026-12-02", kFriday, kBerlin) == "2026-12-02T22:59:59Z");
  CHECK(when("2026-12-02", kFriday, kBerlin, ctl::DayTime::start) == "2026-12-01T23:00:00Z");
  CHECK(when("2026-12-02 17:00", kFriday, kBerlin) == "2026-12-02T16:00:00Z");
  CHECK(when("2026-12-02T17:00", kFriday, kBerlin) == "2026-12-02T16:00:00Z");
  CHECK(when("2026-07-02 17:00", kFriday, kBerlin) == "2026-07-02T15:00:00Z");
  CHECK(when("2026-12-01T17:00:00Z", kFriday, kBerlin) == "2026-12-01T17:00:00Z");
  CHECK(when("2026-12-01T17:00:00.250+01:00", kFriday, kBerlin) == "2026-12-01T16:00:00Z");
  CHECK(when("2026-12-01t17:00:00-05:30", kFriday, kBerlin) == "2026-12-01T22:30:00Z");
}

TEST_CASE("coachctl when: a skipped local time moves forward, a repeated one is the first") {
  // 02:30 does not exist on 2026-03-29 in Berlin: 03:30 CEST.
  CHECK(when("2026-03-29 02:30", kFriday, kBerlin) == "2026-03-29T01:30:00Z");
  // 02:30 comes twice on 2026-10-25: the first, still CEST.
  CHECK(when("2026-10-25 02:30", kFriday, kBerlin) == "2026-10-25T00:30:00Z");
  CHECK(when("2026-10-25 03:30", kFriday, kBerlin) == "2026-10-25T02:30:00Z");
  // New York moves on 2026-03-08; `tomorrow 9am` from the Saturday before.
  CHECK(when("tomorrow 9am", "2026-03-07T15:00:00Z", "America/New_York") == "2026-03-08T13:00:00Z");
  CHECK(when("today 9am", "2026-03-07T15:00:00Z", "America/New_York") == "2026-03-07T14:00:00Z");
  // Lord Howe changes by 30 minutes (2026-04-05 02:00 -> 01:30).
  CHECK(when("2026-04-05 01:45", "2026-04-01T00:00:00Z", "Australia/Lord_Howe") ==
        "2026-04-04T14:45:00Z");
}

TEST_CASE("coachctl when: far zones see another day than UTC") {
  // 09:00 UTC is 23:00 the same day at +14 and 22:00 the day before at -11.
  CHECK(when("today", kFriday, "Pacific/Kiritimati") == "2026-03-27T09:59:59Z");
  CHECK(when("tomorrow 08:00", kFriday, "Pacific/Kiritimati") == "2026-03-27T18:00:00Z");
  CHECK(when("sat", kFriday, "Pacific/Kiritimati") == "2026-03-28T09:59:59Z");
  CHECK(when("today", kFriday, "Pacific/Pago_Pago") == "2026-03-27T10:59:59Z");
  CHECK(when("fri", kFriday, "Pacific/Pago_Pago") == "2026-03-28T10:59:59Z");  // it is Thursday
  CHECK(when("eow", kFriday, "Pacific/Pago_Pago") == "2026-03-30T10:59:59Z");
  CHECK(ctl::local_time(at(kFriday), date::locate_zone("Pacific/Kiritimati")) ==
        "Fri 2026-03-27 23:00 +14");
  CHECK(ctl::local_time(at(kFriday), date::locate_zone("Pacific/Pago_Pago")) ==
        "Thu 2026-03-26 22:00 SST");
  CHECK(ctl::local_time(at("2026-03-29T15:00:00Z"), date::locate_zone(kBerlin)) ==
        "Sun 2026-03-29 17:00 CEST");
}

TEST_CASE("coachctl when: a wrong date says which forms are accepted") {
  for (const char* bad : {"frday", "tomorrow 25:00", "2026-02-30", "+2x", "", "next", "fri 5",
                          "today at 5pm", "13pm", "2026-12-02T17:00:00"}) {
    CAPTURE(bad);
    auto t = ctl::parse_when(bad, at(kFriday), date::locate_zone(kBerlin));
    REQUIRE_FALSE(t);
    CHECK(t.error().code == Errc::invalid_argument);
    CHECK(t.error().message.find("is not a date; accepted forms:") != std::string::npos);
    CHECK(t.error().message.find("tomorrow 17:00") != std::string::npos);
    CHECK(t.error().message.find("+1h30m") != std::string::npos);
  }
}

TEST_CASE("coachctl when: durations and how they are shown") {
  CHECK(ctl::parse_duration("90m")->count() == 90);
  CHECK(ctl::parse_duration("1h30m")->count() == 90);
  CHECK(ctl::parse_duration("1w")->count() == 10080);
  CHECK(ctl::parse_duration("2d")->count() == 2880);
  CHECK(ctl::parse_duration("45")->count() == 45);
  CHECK(ctl::parse_duration("2H")->count() == 120);
  for (const char* bad : {"", "0m", "1y", "h", "1h30", "-5m", "400d"}) {
    CAPTURE(bad);
    auto d = ctl::parse_duration(bad);
    REQUIRE_FALSE(d);
    CHECK(d.error().message.find("90m, 1h30m, 2d, 1w") != std::string::npos);
  }
  CHECK(ctl::show_duration(minutes(90)) == "1 h 30 min");
  CHECK(ctl::show_duration(minutes(45)) == "45 min");
  CHECK(ctl::show_duration(minutes(0)) == "-");
  CHECK(ctl::show_duration(minutes(10080 + 1440)) == "1 w 1 d");
}

TEST_CASE("coachctl when: due dates relative to now") {
  auto now = at(kFriday);
  CHECK(ctl::relative_due(now + seconds(30), now) == "now");
  CHECK(ctl::relative_due(now + minutes(45), now) == "in 45 min");
  CHECK(ctl::relative_due(now + hours(2), now) == "in 2 h");
  CHECK(ctl::relative_due(now + hours(47) + minutes(59), now) == "in 47 h");
  CHECK(ctl::relative_due(now + hours(49), now) == "in 2 d");
  CHECK(ctl::relative_due(now - minutes(20), now) == "20 min overdue");
  CHECK(ctl::relative_due(now - hours(5), now) == "5 h overdue");
  CHECK(ctl::relative_due(now - hours(24 * 3 + 1), now) == "3 d overdue");
}

TEST_CASE("coachctl when: weekly windows as people write them") {
  auto w = ctl::parse_windows("mon-fri 09:00-17:00");
  REQUIRE(w);
  REQUIRE(w->size() == 5);
  CHECK((*w)[0] == ctl::Window{1, 540, 1020});
  CHECK((*w)[4] == ctl::Window{5, 540, 1020});
  CHECK(ctl::show_windows(*w) == "mon-fri 09:00-17:00");
  auto daily = ctl::parse_windows("08:00-21:00");
  REQUIRE(daily);
  CHECK(daily->size() == 7);
  CHECK(ctl::show_windows(*daily) == "daily 08:00-21:00");
  auto split = ctl::parse_windows("Mon-Thu 08:00-12:00,13:00-16:00; fri 8:00-12:00; sat,sun 10-24");
  REQUIRE(split);
  CHECK(ctl::show_windows(*split) ==
        "mon-thu 08:00-12:00,13:00-16:00; fri 08:00-12:00; sat-sun 10:00-24:00");
  // Across midnight: split in two, the second part on the next day.
  auto night = ctl::parse_windows("sun 22:00-02:00");
  REQUIRE(night);
  REQUIRE(night->size() == 2);
  CHECK((*night)[0] == ctl::Window{1, 0, 120});
  CHECK((*night)[1] == ctl::Window{7, 1320, 1440});
  CHECK(ctl::show_windows(*ctl::parse_windows("mon,wed 09:00-10:00")) == "mon,wed 09:00-10:00");
  for (const char* bad :
       {"mon-fry 09:00-17:00", "mon-fri", "09:00", "9-9", "mon 25:00-26:00", ""}) {
    CAPTURE(bad);
    auto b = ctl::parse_windows(bad);
    REQUIRE_FALSE(b);
    CHECK(b.error().message.find("mon-fri 09:00-17:00") != std::string::npos);
  }
}

TEST_CASE("coachctl views: short ids are unique prefixes of at least 4 characters") {
  std::vector<v1::Task> tasks = {task("abcd1234-0000-4000-8000-000000000001", "one"),
                                 task("abcd5678-0000-4000-8000-000000000002", "two"),
                                 task("f00d0000-0000-4000-8000-000000000003", "three"),
                                 task("abcd-bad0-0000-4000-8000-000000000004", "four")};
  auto ids = ctl::short_ids(tasks);
  CHECK(ids["abcd1234-0000-4000-8000-000000000001"] == "abcd1");
  CHECK(ids["abcd5678-0000-4000-8000-000000000002"] == "abcd5");
  CHECK(ids["f00d0000-0000-4000-8000-000000000003"] == "f00d");
  CHECK(ids["abcd-bad0-0000-4000-8000-000000000004"] == "abcd-b");  // never ends on a dash
  CHECK(*ctl::resolve_handle("F00D", tasks) == "f00d0000-0000-4000-8000-000000000003");
  CHECK(*ctl::resolve_handle("abcd5", tasks) == "abcd5678-0000-4000-8000-000000000002");
  auto ambiguous = ctl::resolve_handle("abcd", tasks);
  REQUIRE_FALSE(ambiguous);
  CHECK(ambiguous.error().code == Errc::invalid_argument);
  CHECK(ambiguous.error().message ==
        "\"abcd\" is ambiguous: 3 tasks start with it; type more of one:\n  abcd-b  four\n  "
        "abcd1  one\n  abcd5  two");
  auto missing = ctl::resolve_handle("beef", tasks);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == Errc::not_found);
  auto short_one = ctl::resolve_handle("f00", tasks);
  REQUIRE_FALSE(short_one);
  CHECK(short_one.error().message.find("at least 4 characters") != std::string::npos);
}

TEST_CASE("coachctl views: urgency adds due, priority, age, snoozes and risk") {
  auto now = at(kFriday);
  auto t = task("a0000000-0000-4000-8000-000000000000");
  CHECK(ctl::urgency(t, now, 0).total() == doctest::Approx(0));
  t.mutable_due_at()->set_seconds(now.time_since_epoch().count());  // due now: d = 0.2 + 0.8 * 2/3
  CHECK(ctl::urgency(t, now, 0).due == doctest::Approx(12 * (0.2 + 0.8 * 14.0 / 21.0)));
  t.mutable_due_at()->set_seconds((now - date::days(10)).time_since_epoch().count());
  CHECK(ctl::urgency(t, now, 0).due == doctest::Approx(12));
  CHECK(ctl::urgency(t, now, 0.5).risk == doctest::Approx(2));
  t.mutable_due_at()->set_seconds((now + date::days(30)).time_since_epoch().count());
  CHECK(ctl::urgency(t, now, 0).due == doctest::Approx(2.4));
  t.set_priority(4);
  CHECK(ctl::urgency(t, now, 0).priority == doctest::Approx(6));
  t.mutable_created_at()->set_seconds((now - date::days(73)).time_since_epoch().count());
  CHECK(ctl::urgency(t, now, 0).age == doctest::Approx(0.4));
  t.mutable_created_at()->set_seconds((now + hours(1)).time_since_epoch().count());
  CHECK(ctl::urgency(t, now, 0).age == doctest::Approx(0));  // created "after" now: no age
  t.set_snooze_count(3);
  CHECK(ctl::urgency(t, now, 0).snoozes == doctest::Approx(1.5));
  t.set_snooze_count(9);
  CHECK(ctl::urgency(t, now, 0).snoozes == doctest::Approx(2));

  // Order: overdue high first; ties by earlier due.
  auto a = task("a1000000-0000-4000-8000-000000000000", "later"),
       b = task("b2000000-0000-4000-8000-000000000000", "overdue"),
       c = task("c3000000-0000-4000-8000-000000000000", "no due, priority 4");
  a.mutable_due_at()->set_seconds((now + date::days(3)).time_since_epoch().count());
  b.mutable_due_at()->set_seconds((now - date::days(1)).time_since_epoch().count());
  c.set_priority(4);
  std::vector<v1::Task> rows = {c, a, b};
  ctl::sort_by_urgency(rows, now, 0);
  CHECK(rows[0].title() == "overdue");
  CHECK(rows[1].title() == "later");
  CHECK(rows[2].title() == "no due, priority 4");
}

TEST_CASE("coachctl views: colour only on a terminal and never with NO_COLOR") {
  CHECK(ctl::use_colour("auto", true, nullptr, "xterm"));
  CHECK_FALSE(ctl::use_colour("auto", false, nullptr, "xterm"));
  CHECK_FALSE(ctl::use_colour("auto", true, "1", "xterm"));
  CHECK(ctl::use_colour("auto", true, "", "xterm"));  // NO_COLOR empty counts as unset
  CHECK_FALSE(ctl::use_colour("auto", true, nullptr, "dumb"));
  CHECK(ctl::use_colour("always", false, "1", nullptr));
  CHECK_FALSE(ctl::use_colour("never", true, nullptr, "xterm"));
}
