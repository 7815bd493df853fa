// coach's plan as an iCalendar (RFC 5545) document, for the calendar people
// already use (issue 21): calendar.get (`coachctl calendar export >
// plan.ics`) and the secret feed URL calendar apps subscribe to
// (calendar.feed.read, served by coach-gateway). Written with libical
// (Debian's libical 3), not by hand, so that what calendar apps parse is
// what libical's own parser reads (tests/calendar_feed_test.cpp).
//
// One VEVENT per block the user accepted (STATUS:CONFIRMED), per block coach
// suggests (STATUS:TENTATIVE, TRANSP:TRANSPARENT: it holds no time yet), and
// per open (pending or snoozed) task with a due date ("Due: <title>", a
// zero-length TRANSPARENT event at the due instant). Those times are UTC
// instants ("...Z"), which every calendar shows in its viewer's own zone.
// An open occurrence of a calendar-fixed series is one VEVENT for the whole
// series instead: DTSTART;TZID=<the series' zone> at the series' first due
// time on that zone's wall clock, its RRULE, and the zone's VTIMEZONE, so
// the calendar app expands it on the right wall clock across DST (an
// occurrence moved by hand still shows at its rule time there).
// Completion-relative series have no fixed dates: their open occurrence is
// a due event as any task. UIDs are stable ("<id>@coach", "<task
// id>.due@coach", "<series id>.series@coach"), so subscribing or importing
// again updates the same events instead of doubling them.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "schema/commands.pb.h"

namespace coach::projections {

// The VCALENDAR text (CRLF line ends) of `plan` and `tasks` (any tasks:
// only open ones with a due date show; the rest give block titles). `now`
// stamps every event (DTSTAMP).
std::string plan_calendar(const v1::Schedule& plan, const std::vector<const v1::Task*>& tasks,
                          std::chrono::sys_seconds now);

}  // namespace coach::projections
