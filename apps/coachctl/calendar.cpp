#include "apps/coachctl/calendar.h"

#include <libical/ical.h>

#include <cstdlib>
#include <map>

namespace coach::ctl {
namespace {

icaltimetype utc_time(int64_t unix_seconds) {
  return icaltime_from_timet_with_zone(static_cast<time_t>(unix_seconds), 0,
                                       icaltimezone_get_utc_timezone());
}

icalcomponent* event(const std::string& uid, const std::string& summary, int64_t start, int64_t end,
                     std::chrono::sys_seconds now) {
  icalcomponent* e = icalcomponent_new_vevent();
  icalcomponent_add_property(e, icalproperty_new_uid(uid.c_str()));
  icalcomponent_add_property(e, icalproperty_new_dtstamp(utc_time(now.time_since_epoch().count())));
  icalcomponent_add_property(e, icalproperty_new_dtstart(utc_time(start)));
  icalcomponent_add_property(e, icalproperty_new_dtend(utc_time(end)));
  icalcomponent_add_property(e, icalproperty_new_summary(summary.c_str()));
  return e;
}

void add_block(icalcomponent* cal, const v1::ScheduleRecommendation& block,
               const std::map<std::string, std::string>& titles, bool accepted,
               std::chrono::sys_seconds now) {
  auto title = titles.count(block.task_id()) ? titles.at(block.task_id()) : std::string("a task");
  icalcomponent* e = event(block.id() + "@coach", title, block.recommended_start().seconds(),
                           block.recommended_due().seconds(), now);
  icalcomponent_add_property(
      e, icalproperty_new_status(accepted ? ICAL_STATUS_CONFIRMED : ICAL_STATUS_TENTATIVE));
  icalcomponent_add_property(
      e, icalproperty_new_transp(accepted ? ICAL_TRANSP_OPAQUE : ICAL_TRANSP_TRANSPARENT));
  icalcomponent_add_property(
      e, icalproperty_new_categories(accepted ? "coach,accepted" : "coach,suggested"));
  icalcomponent_add_component(cal, e);
}

}  // namespace

std::string plan_calendar(const v1::Schedule& plan, const std::vector<v1::Task>& tasks,
                          std::chrono::sys_seconds now) {
  icalcomponent* cal = icalcomponent_new_vcalendar();
  icalcomponent_add_property(cal, icalproperty_new_version("2.0"));
  icalcomponent_add_property(cal, icalproperty_new_prodid("-//coach//coachctl//EN"));
  icalcomponent_add_property(cal, icalproperty_new_calscale("GREGORIAN"));
  std::map<std::string, std::string> titles;
  for (const auto& t : tasks) titles[t.id()] = t.title();
  for (const auto& b : plan.accepted()) add_block(cal, b, titles, true, now);
  for (const auto& b : plan.recommendations()) add_block(cal, b, titles, false, now);
  for (const auto& t : tasks) {
    if (!t.has_due_at() ||
        (t.status() != v1::TASK_STATUS_PENDING && t.status() != v1::TASK_STATUS_SNOOZED))
      continue;
    icalcomponent* e = event(t.id() + ".due@coach", "Due: " + t.title(), t.due_at().seconds(),
                             t.due_at().seconds(), now);
    icalcomponent_add_property(e, icalproperty_new_transp(ICAL_TRANSP_TRANSPARENT));
    icalcomponent_add_property(e, icalproperty_new_categories("coach,due"));
    icalcomponent_add_component(cal, e);
  }
  char* text = icalcomponent_as_ical_string_r(cal);
  std::string out = text ? text : "";
  std::free(text);
  icalcomponent_free(cal);
  return out;
}

}  // namespace coach::ctl
