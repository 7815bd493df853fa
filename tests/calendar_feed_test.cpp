// The plan as iCalendar (projections/calendar_feed.h), read back by
// libical's own parser as calendar apps read it.
#include <doctest/doctest.h>
#include <libical/ical.h>

#include <map>
#include <string>
#include <vector>

#include "projections/calendar_feed.h"

using namespace coach;
using namespace coach::projections;

namespace {

const std::chrono::sys_seconds kStamp{std::chrono::seconds(1796600000)};

std::vector<const v1::Task*> pointers(const std::vector<v1::Task>& tasks) {
  std::vector<const v1::Task*> out;
  for (const auto& t : tasks) out.push_back(&t);
  return out;
}

std::map<std::string, icalcomponent*> events_of(icalcomponent* cal) {
  std::map<std::string, icalcomponent*> events;
  for (auto* e = icalcomponent_get_first_component(cal, ICAL_VEVENT_COMPONENT); e;
       e = icalcomponent_get_next_component(cal, ICAL_VEVENT_COMPONENT))
    events[icalcomponent_get_uid(e)] = e;
  return events;
}

}  // namespace

TEST_CASE("the plan as iCalendar: what libical's own parser reads back") {
  v1::Schedule plan;
  auto block = [](const char* id, const char* task, int64_t start, int64_t end) {
    v1::ScheduleRecommendation r;
    r.set_id(id);
    r.set_task_id(task);
    r.mutable_recommended_start()->set_seconds(start);
    r.mutable_recommended_due()->set_seconds(end);
    return r;
  };
  // 2026-12-07 09:00-10:30 and 14:00-15:00 UTC; Europe/Berlin shows 10:00 and 15:00.
  *plan.add_accepted() = block("b-accepted", "t-report", 1796634000, 1796639400);
  *plan.add_recommendations() = block("b-suggested", "t-report", 1796652000, 1796655600);
  std::vector<v1::Task> owned(3);
  auto& tasks = owned;
  tasks[0].set_id("t-report");
  tasks[0].set_title("Write the report; then, rest");  // RFC 5545 escapes ; and ,
  tasks[0].set_status(v1::TASK_STATUS_PENDING);
  tasks[0].mutable_due_at()->set_seconds(1796662800);  // 2026-12-07T17:00:00Z
  tasks[1].set_id("t-done");
  tasks[1].set_title("Done already");
  tasks[1].set_status(v1::TASK_STATUS_COMPLETED);
  tasks[1].mutable_due_at()->set_seconds(1796662800);
  tasks[2].set_id("t-undated");
  tasks[2].set_title("Someday");
  tasks[2].set_status(v1::TASK_STATUS_PENDING);
  auto text = plan_calendar(plan, pointers(owned), kStamp);
  CHECK(text.rfind("BEGIN:VCALENDAR\r\n", 0) == 0);

  icalcomponent* cal = icalparser_parse_string(text.c_str());
  REQUIRE(cal != nullptr);
  CHECK(icalcomponent_isa(cal) == ICAL_VCALENDAR_COMPONENT);
  CHECK(icalcomponent_count_errors(cal) == 0);
  std::map<std::string, icalcomponent*> events;
  for (auto* e = icalcomponent_get_first_component(cal, ICAL_VEVENT_COMPONENT); e;
       e = icalcomponent_get_next_component(cal, ICAL_VEVENT_COMPONENT))
    events[icalcomponent_get_uid(e)] = e;
  REQUIRE(events.size() == 3);  // two blocks, one due task (not the done one, not the undated)
  auto* accepted = events.at("b-accepted@coach");
  CHECK(icaltime_as_timet(icalcomponent_get_dtstart(accepted)) == 1796634000);
  CHECK(icaltime_as_timet(icalcomponent_get_dtend(accepted)) == 1796639400);
  CHECK(icaltime_is_utc(icalcomponent_get_dtstart(accepted)));
  CHECK(std::string(icalcomponent_get_summary(accepted)) == "Write the report; then, rest");
  CHECK(icalcomponent_get_status(accepted) == ICAL_STATUS_CONFIRMED);
  CHECK(icalcomponent_get_status(events.at("b-suggested@coach")) == ICAL_STATUS_TENTATIVE);
  auto* due = events.at("t-report.due@coach");
  CHECK(std::string(icalcomponent_get_summary(due)) == "Due: Write the report; then, rest");
  CHECK(icaltime_as_timet(icalcomponent_get_dtstart(due)) == 1796662800);
  // Seen from Berlin, the accepted block starts at 10:00.
  auto berlin = icaltime_convert_to_zone(icalcomponent_get_dtstart(accepted),
                                         icaltimezone_get_builtin_timezone("Europe/Berlin"));
  CHECK(berlin.hour == 10);
  CHECK(berlin.minute == 0);
  icalcomponent_free(cal);
}

TEST_CASE("a calendar-fixed series is one RRULE event on its zone's wall clock, across DST") {
  std::vector<v1::Task> owned(3);
  // Occurrence 2 of "last Friday of the month, 09:00 Berlin" from 2027-01-29.
  auto& review = owned[0];
  review.set_id("t-occurrence-2");
  review.set_title("Monthly review");
  review.set_status(v1::TASK_STATUS_PENDING);
  review.mutable_due_at()->set_seconds(1803628800);  // 2027-02-26T08:00:00Z
  auto* r = review.mutable_recurrence();
  r->set_rrule("FREQ=MONTHLY;BYDAY=-1FR");
  r->set_zone("Europe/Berlin");
  r->set_series_id("s-review");
  r->set_occurrence(2);
  r->mutable_series_start()->set_seconds(1801209600);  // 2027-01-29T08:00:00Z
  *r->mutable_scheduled_at() = review.due_at();
  // A completed earlier occurrence shows nothing of its own.
  owned[1] = review;
  owned[1].set_id("t-occurrence-1");
  owned[1].set_status(v1::TASK_STATUS_COMPLETED);
  // A completion-relative series has no fixed dates: a plain due event.
  auto& plants = owned[2];
  plants.set_id("t-plants");
  plants.set_title("Water plants");
  plants.set_status(v1::TASK_STATUS_PENDING);
  plants.mutable_due_at()->set_seconds(1803628800);
  plants.mutable_recurrence()->set_every_days_after_done(3);
  plants.mutable_recurrence()->set_zone("America/New_York");
  plants.mutable_recurrence()->set_series_id("s-plants");

  auto text = plan_calendar(v1::Schedule{}, pointers(owned), kStamp);
  CAPTURE(text);
  CHECK(text.find("DTSTART;TZID=Europe/Berlin:20270129T090000") != std::string::npos);
  CHECK(text.find("RRULE:FREQ=MONTHLY;BYDAY=-1FR") != std::string::npos);
  icalcomponent* cal = icalparser_parse_string(text.c_str());
  REQUIRE(cal != nullptr);
  CHECK(icalcomponent_count_errors(cal) == 0);
  auto* vtimezone = icalcomponent_get_first_component(cal, ICAL_VTIMEZONE_COMPONENT);
  REQUIRE(vtimezone != nullptr);
  // The TZID that DTSTART names (RFC 5545 3.2.19), not libical's own prefix.
  CHECK(std::string(icalproperty_get_tzid(
            icalcomponent_get_first_property(vtimezone, ICAL_TZID_PROPERTY))) == "Europe/Berlin");
  auto events = events_of(cal);
  REQUIRE(events.size() == 2);
  REQUIRE(events.count("s-review.series@coach"));
  REQUIRE(events.count("t-plants.due@coach"));
  CHECK(icaltime_as_timet(icalcomponent_get_dtstart(events.at("t-plants.due@coach"))) ==
        1803628800);

  // Expanded by libical from what the file says (its own VTIMEZONE): the
  // last Fridays at 09:00 in Berlin, CET in winter and CEST from April.
  auto* series = events.at("s-review.series@coach");
  CHECK(std::string(icalcomponent_get_summary(series)) == "Due: Monthly review");
  auto start = icalcomponent_get_dtstart(series);
  REQUIRE(start.zone != nullptr);
  auto rule = icalproperty_get_rrule(icalcomponent_get_first_property(series, ICAL_RRULE_PROPERTY));
  icalrecur_iterator* it = icalrecur_iterator_new(rule, start);
  REQUIRE(it != nullptr);
  std::vector<time_t> got;
  for (int i = 0; i < 5; ++i) {
    auto next = icalrecur_iterator_next(it);
    REQUIRE(!icaltime_is_null_time(next));
    next.zone = start.zone;
    got.push_back(icaltime_as_timet_with_zone(
        next, static_cast<icaltimezone*>(const_cast<icaltimezone*>(start.zone))));
  }
  icalrecur_iterator_free(it);
  // 2027-01-29, 02-26, 03-26 at 08:00Z (CET); 04-30, 05-28 at 07:00Z (CEST).
  CHECK(got == std::vector<time_t>{1801209600, 1803628800, 1806048000, 1809068400, 1811487600});
  icalcomponent_free(cal);
}
