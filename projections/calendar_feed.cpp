#include "projections/calendar_feed.h"

#include <libical/ical.h>

#include <cstdlib>
#include <map>
#include <set>

#include "projections/recurrence.h"

namespace coach::projections {
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

bool open(const v1::Task& t) {
  return t.status() == v1::TASK_STATUS_PENDING || t.status() == v1::TASK_STATUS_SNOOZED;
}

void add_due(icalcomponent* cal, const v1::Task& t, std::chrono::sys_seconds now) {
  icalcomponent* e = event(t.id() + ".due@coach", "Due: " + t.title(), t.due_at().seconds(),
                           t.due_at().seconds(), now);
  icalcomponent_add_property(e, icalproperty_new_transp(ICAL_TRANSP_TRANSPARENT));
  icalcomponent_add_property(e, icalproperty_new_categories("coach,due"));
  icalcomponent_add_component(cal, e);
}

// The zone's wall-clock time `local` as a DATE-TIME with TZID.
icalproperty* local_dtstart(date::local_seconds local, const std::string& zone, icaltimezone* tz) {
  auto day = date::floor<date::days>(local);
  date::year_month_day ymd{day};
  date::hh_mm_ss<std::chrono::seconds> hms{local - day};
  icaltimetype t = icaltime_null_time();
  t.year = static_cast<int>(ymd.year());
  t.month = static_cast<int>(static_cast<unsigned>(ymd.month()));
  t.day = static_cast<int>(static_cast<unsigned>(ymd.day()));
  t.hour = static_cast<int>(hms.hours().count());
  t.minute = static_cast<int>(hms.minutes().count());
  t.second = static_cast<int>(hms.seconds().count());
  t.zone = tz;
  icalproperty* p = icalproperty_new_dtstart(t);
  if (!icalproperty_get_first_parameter(p, ICAL_TZID_PARAMETER))
    icalproperty_add_parameter(p, icalparameter_new_tzid(zone.c_str()));
  return p;
}

// The whole calendar-fixed series of open occurrence `t`, with its zone's
// VTIMEZONE (once per zone); false when the zone is unknown to libical
// (then the caller shows the occurrence as a due event).
bool add_series(icalcomponent* cal, const v1::Task& t, std::set<std::string>& zones,
                std::chrono::sys_seconds now) {
  const auto& r = t.recurrence();
  icaltimezone* tz = icaltimezone_get_builtin_timezone(r.zone().c_str());
  auto local =
      wall_clock(Clock::time_point(std::chrono::seconds(r.series_start().seconds())), r.zone());
  if (!tz || !local) return false;
  if (zones.insert(r.zone()).second) {
    // libical names its zones "/freeassociation.sourceforge.net/<IANA>";
    // the VTIMEZONE must carry the TZID that DTSTART names (RFC 5545 3.2.19).
    icalcomponent* vtimezone = icalcomponent_new_clone(icaltimezone_get_component(tz));
    if (auto* id = icalcomponent_get_first_property(vtimezone, ICAL_TZID_PROPERTY))
      icalproperty_set_tzid(id, r.zone().c_str());
    icalcomponent_add_component(cal, vtimezone);
  }
  icalcomponent* e = icalcomponent_new_vevent();
  icalcomponent_add_property(e, icalproperty_new_uid((r.series_id() + ".series@coach").c_str()));
  icalcomponent_add_property(e, icalproperty_new_dtstamp(utc_time(now.time_since_epoch().count())));
  icalcomponent_add_property(e, local_dtstart(*local, r.zone(), tz));
  icalcomponent_add_property(e, icalproperty_new_summary(("Due: " + t.title()).c_str()));
  icalcomponent_add_property(
      e, icalproperty_new_rrule(icalrecurrencetype_from_string(r.rrule().c_str())));
  icalcomponent_add_property(e, icalproperty_new_transp(ICAL_TRANSP_TRANSPARENT));
  icalcomponent_add_property(e, icalproperty_new_categories("coach,due,recurring"));
  icalcomponent_add_component(cal, e);
  return true;
}

}  // namespace

std::string plan_calendar(const v1::Schedule& plan, const std::vector<const v1::Task*>& tasks,
                          std::chrono::sys_seconds now) {
  icalcomponent* cal = icalcomponent_new_vcalendar();
  icalcomponent_add_property(cal, icalproperty_new_version("2.0"));
  icalcomponent_add_property(cal, icalproperty_new_prodid("-//coach//coach plan//EN"));
  icalcomponent_add_property(cal, icalproperty_new_calscale("GREGORIAN"));
  std::map<std::string, std::string> titles;
  for (const auto* t : tasks) titles[t->id()] = t->title();
  for (const auto& b : plan.accepted()) add_block(cal, b, titles, true, now);
  for (const auto& b : plan.recommendations()) add_block(cal, b, titles, false, now);
  std::set<std::string> zones;
  for (const auto* t : tasks) {
    if (!t->has_due_at() || !open(*t)) continue;
    if (!t->recurrence().rrule().empty() && add_series(cal, *t, zones, now)) continue;
    add_due(cal, *t, now);
  }
  char* text = icalcomponent_as_ical_string_r(cal);
  std::string out = text ? text : "";
  std::free(text);
  icalcomponent_free(cal);
  return out;
}

}  // namespace coach::projections
