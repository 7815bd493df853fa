// Dates, durations and weekly windows as people type them into coachctl, in
// their own time zone. Pure functions: "now" and the zone are arguments, so
// everything here is tested without a clock or a process
// (tests/coachctl_when_test.cpp).
//
// Instants (parse_when), case-insensitive, `now` and `zone` given:
//
//   now                      now
//   today, tomorrow, yesterday        that day (see DayTime below)
//   mon .. sun, monday .. sunday      the next such day after today (on a
//                                     Friday, `fri` is in 7 days)
//   next monday              the same as `monday`
//   eod, eow, eom            end of today, of this week (Sunday), of this
//                            month: 23:59:59 local
//   +2d, +3h, +90m, +1w, +1h30m       now plus a duration (below)
//   2026-12-02               that day
//   2026-12-02 17:00, 2026-12-02T17:00   that local time
//   RFC 3339 with Z or an offset      exactly that instant
//   17:00, 9am, 5:30pm       the next such local time (today if still to
//                            come, else tomorrow)
//
// A day form may be followed by a time: `tomorrow 17:00`, `fri 5pm`, `next
// monday 9am`, `today 9:30`. A day form without a time means the end of that
// day (23:59:59) for a due date, the start of it (00:00) for a snooze's end,
// and the start of the next day for an exclusive bound such as --due-to, so
// that the whole day is inside (DayTime; eod, eow and eom alike). Local times follow the zone's
// rules on that day: across a DST change `tomorrow 17:00` is 17:00 on the clock, whatever the
// offset; a local time skipped by a spring-forward change moves forward by the gap (02:30
// -> 03:30), one repeated by a fall-back change is the first (the earlier
// instant).
//
// Durations (parse_duration): a sum of <n><unit>, units w (7 days), d, h, m:
// `90m`, `1h30m`, `2d`, `1w`; a bare number is minutes (`45`). Positive,
// at most 366 days.
//
// Weekly windows (parse_windows), for work hours and notification windows:
// groups separated by `;`, each `[days] HH:MM-HH:MM[,HH:MM-HH:MM...]`, days
// a name (`mon`), a range (`mon-fri`) or a list (`mon,wed`), `daily` or none
// for every day: `mon-fri 09:00-12:00,13:00-17:00; sat 10:00-12:00`,
// `08:00-21:00`. `24:00` ends a day; a window that ends before it starts
// crosses midnight and is split in two (`22:00-02:00`).
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace date {
class time_zone;
}

namespace coach::ctl {

using Seconds = std::chrono::sys_seconds;

// What a day without a time stands for: its last second, its first, or the
// first of the next day (an exclusive end).
enum class DayTime { end, start, after };

// The forms above, one line each, for error messages and --help.
std::string accepted_date_forms();

// `text` as an instant; invalid_argument listing the accepted forms when it
// is none of them.
Result<Seconds> parse_when(std::string_view text, Seconds now, const date::time_zone* zone,
                           DayTime day_time = DayTime::end);

// A duration in minutes, or invalid_argument saying what is accepted.
Result<std::chrono::minutes> parse_duration(std::string_view text);

// "1 h 30 min", "45 min", "2 d", "1 w 2 d"; "-" for zero.
std::string show_duration(std::chrono::minutes m);

// "Fri 2026-12-04 17:00 CET", in `zone`.
std::string local_time(Seconds t, const date::time_zone* zone);
// "17:00" and "Fri 2026-12-04", in `zone`.
std::string local_clock(Seconds t, const date::time_zone* zone);
std::string local_day(Seconds t, const date::time_zone* zone);

// How far `t` is from `now`, for a due date: "now", "in 45 min", "in 2 h",
// "in 3 d", "20 min overdue", "5 h overdue", "3 d overdue". Minutes below an
// hour, hours below 48 hours, days beyond; rounded down.
std::string relative_due(Seconds t, Seconds now);

// One window of local time on an ISO weekday (1 Monday .. 7 Sunday),
// minutes since midnight, start < end <= 1440.
struct Window {
  int weekday;
  int start_minute;
  int end_minute;
  bool operator==(const Window&) const = default;
};

// The window syntax above; invalid_argument saying what is accepted.
Result<std::vector<Window>> parse_windows(std::string_view text);
// Windows back in that syntax, days with the same hours grouped:
// "mon-fri 09:00-17:00; sat 10:00-12:00"; "" when there are none.
std::string show_windows(std::vector<Window> windows);

}  // namespace coach::ctl
