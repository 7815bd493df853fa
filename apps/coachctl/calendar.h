// coach's plan as an iCalendar (RFC 5545) document, for the calendar people
// already use (issue 21): `coachctl calendar export > plan.ics`. Written
// with libical (Debian's libical 3), not by hand, so that what calendar
// apps parse is what libical's own parser reads (tests/coachctl_when_test).
//
// One VEVENT per block the user accepted (STATUS:CONFIRMED), per block coach
// suggests (STATUS:TENTATIVE, TRANSP:TRANSPARENT: it holds no time yet), and
// per pending task with a due date ("Due: <title>", a zero-length event at
// the due instant, TRANSPARENT). Times are UTC instants ("...Z"), which
// every calendar shows in its viewer's own zone; UIDs are stable
// ("<id>@coach", "<task id>.due@coach"), so importing again updates the
// same events instead of doubling them.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "schema/commands.pb.h"

namespace coach::ctl {

// The VCALENDAR text (CRLF line ends). `now` stamps every event (DTSTAMP).
std::string plan_calendar(const v1::Schedule& plan, const std::vector<v1::Task>& tasks,
                          std::chrono::sys_seconds now);

}  // namespace coach::ctl
