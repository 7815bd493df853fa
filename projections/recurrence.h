// Recurrence rules of recurring tasks (issue 21): RFC 5545 RRULEs, parsed
// and expanded by libical (Debian's libical 3, not by hand), in the wall
// clock of the user's time zone, as RFC 5545 wants for a DTSTART with a
// TZID. Each local occurrence then becomes an instant by the zone's rules
// (the tz database, as everywhere in coach): a local time that a
// spring-forward change skips moves on by the gap (02:30 -> 03:30, RFC 5545
// section 3.3.5), one that a fall-back change repeats is the first, earlier
// instant. So "every day at 09:00" stays 09:00 on the clock across DST, and
// "BYMONTHDAY=31" skips the months without a 31st (RFC 5545: invalid dates
// are ignored), while "BYMONTHDAY=-1" is every month's last day.
//
// UNTIL in UTC ("...Z") is compared as that instant: turned into the zone's
// wall clock before expanding.
//
// What coach refuses (invalid_argument, saying why), so that a task cannot
// turn into a flood and expanding one is bounded:
//   - anything libical cannot parse, and an unknown zone;
//   - FREQ=SECONDLY or MINUTELY, and any rule whose first occurrences come
//     less than an hour apart (BYMINUTE=0,15,30,45, say): a task is not a
//     timer;
//   - COUNT above 10000, INTERVAL above 1000;
//   - a rule with no occurrence in 100 years from its start (Feb 30).
// Pure functions of their arguments; thread-safe (libical keeps its error
// state per thread).
#pragma once

#include <date/date.h>

#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/time.h"

namespace coach::projections {

struct RecurrenceRule {
  std::string rrule;          // the RRULE value, e.g. "FREQ=MONTHLY;BYDAY=-1FR" (no "RRULE:")
  date::local_seconds start;  // DTSTART: the first occurrence, on the zone's wall clock
  std::string zone;           // IANA name, e.g. "Europe/Berlin"
};

// Most occurrences one call hands out.
inline constexpr size_t kMaxOccurrences = 1000;

// Ok for a rule coach takes, else invalid_argument with why.
Status check_rule(const RecurrenceRule& rule);

// The rule's occurrences on the wall clock, from its start, at most `limit`
// (1 to kMaxOccurrences): what libical expands. invalid_argument as
// check_rule.
Result<std::vector<date::local_seconds>> local_occurrences(const RecurrenceRule& rule,
                                                           size_t limit);

// The rule's occurrences at or after `from`, as instants, in order, at most
// `limit` (1 to kMaxOccurrences); fewer when the rule ends (COUNT, UNTIL)
// or when 100 years from the rule's start have been looked through.
// invalid_argument as check_rule.
Result<std::vector<Clock::time_point>> occurrences(const RecurrenceRule& rule,
                                                   Clock::time_point from, size_t limit);

// The rule's last instant in (after, until], or nullopt when it has none
// there (looked through as `occurrences` looks). invalid_argument as
// check_rule.
Result<std::optional<Clock::time_point>> last_between(const RecurrenceRule& rule,
                                                      Clock::time_point after,
                                                      Clock::time_point until);

// The wall clock of instant `t` in `zone`, to the second; invalid_argument
// for an unknown zone.
Result<date::local_seconds> wall_clock(Clock::time_point t, const std::string& zone);

// The instant of wall-clock time `t` in `zone`, by the DST rules above (a
// skipped time moves on by the gap, a repeated one is the earlier instant);
// invalid_argument for an unknown zone.
Result<Clock::time_point> instant_of(date::local_seconds t, const std::string& zone);

}  // namespace coach::projections
