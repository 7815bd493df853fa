// Recurrence rules (projections/recurrence.h) against the examples of
// RFC 5545 section 3.8.5.3 (their DTSTART 1997-09-02 09:00 America/New_York
// unless said), the shapes people ask for (third Friday, last Friday,
// quarterly on the 15th, month ends), DST on both sides, and the refusals.
#include "projections/recurrence.h"

#include <date/tz.h>
#include <doctest/doctest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "tests/support.h"

using namespace coach;
using namespace coach::projections;

namespace {

date::local_seconds local(const std::string& text) {  // "19970902T090000"
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  REQUIRE_MESSAGE(std::sscanf(text.c_str(), "%4d%2d%2dT%2d%2d%2d", &y, &mo, &d, &h, &mi, &sec) == 6,
                  text);
  return date::local_days{date::year{y} / mo / d} + std::chrono::hours(h) +
         std::chrono::minutes(mi) + std::chrono::seconds(sec);
}

std::string show(date::local_seconds t) {
  return date::format("%Y%m%dT%H%M%S", t);
}

std::vector<std::string> expand(const std::string& rrule, const std::string& start, size_t limit,
                                const std::string& zone = "America/New_York") {
  auto got = local_occurrences({rrule, local(start), zone}, limit);
  REQUIRE_MESSAGE(got, rrule << ": " << test::error_of(got));
  std::vector<std::string> out;
  for (auto t : *got) out.push_back(show(t));
  return out;
}

// "19970902T090000" for each day given as "MMDD" in `year` at 09:00.
std::vector<std::string> at_nine(int year, std::vector<std::string> days) {
  for (auto& d : days) d = std::to_string(year) + d + "T090000";
  return days;
}

std::vector<std::string> join(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::string utc(Clock::time_point t) {
  return date::format("%FT%TZ", date::floor<std::chrono::seconds>(t));
}

}  // namespace

TEST_CASE("RFC 5545's examples expand to the occurrences the RFC lists") {
  SUBCASE("daily for 10 occurrences") {
    CHECK(expand("FREQ=DAILY;COUNT=10", "19970902T090000", 100) ==
          at_nine(1997, {"0902", "0903", "0904", "0905", "0906", "0907", "0908", "0909", "0910",
                         "0911"}));
  }
  SUBCASE("daily until December 24, 1997 (UNTIL in UTC)") {
    auto all = expand("FREQ=DAILY;UNTIL=19971224T000000Z", "19970902T090000", 1000);
    CHECK(all.size() == 113);
    CHECK(all.front() == "19970902T090000");
    CHECK(all.back() == "19971223T090000");
  }
  SUBCASE("every other day, and every 10 days for 5 occurrences") {
    CHECK(expand("FREQ=DAILY;INTERVAL=2", "19970902T090000", 4) ==
          at_nine(1997, {"0902", "0904", "0906", "0908"}));
    CHECK(expand("FREQ=DAILY;INTERVAL=10;COUNT=5", "19970902T090000", 100) ==
          at_nine(1997, {"0902", "0912", "0922", "1002", "1012"}));
  }
  SUBCASE("every day in January, for 3 years") {
    auto all = expand("FREQ=YEARLY;UNTIL=20000131T140000Z;BYMONTH=1;BYDAY=SU,MO,TU,WE,TH,FR,SA",
                      "19980101T090000", 1000);
    CHECK(all.size() == 93);
    CHECK(all.back() == "20000131T090000");
  }
  SUBCASE("weekly for 10 occurrences, across the end of DST") {
    CHECK(expand("FREQ=WEEKLY;COUNT=10", "19970902T090000", 100) ==
          at_nine(1997, {"0902", "0909", "0916", "0923", "0930", "1007", "1014", "1021", "1028",
                         "1104"}));
  }
  SUBCASE("weekly on Tuesday and Thursday for five weeks") {
    CHECK(expand("FREQ=WEEKLY;UNTIL=19971007T000000Z;WKST=SU;BYDAY=TU,TH", "19970902T090000",
                 100) == at_nine(1997, {"0902", "0904", "0909", "0911", "0916", "0918", "0923",
                                        "0925", "0930", "1002"}));
  }
  SUBCASE("every other week on Monday, Wednesday and Friday until December 24") {
    auto all = expand("FREQ=WEEKLY;INTERVAL=2;UNTIL=19971224T000000Z;WKST=SU;BYDAY=MO,WE,FR",
                      "19970901T090000", 1000);
    CHECK(all.size() == 25);
    CHECK(std::vector<std::string>(all.begin(), all.begin() + 6) ==
          at_nine(1997, {"0901", "0903", "0905", "0915", "0917", "0919"}));
    CHECK(all.back() == "19971222T090000");
  }
  SUBCASE("monthly on the first Friday for 10 occurrences") {
    CHECK(expand("FREQ=MONTHLY;COUNT=10;BYDAY=1FR", "19970905T090000", 100) ==
          join(at_nine(1997, {"0905", "1003", "1107", "1205"}),
               at_nine(1998, {"0102", "0206", "0306", "0403", "0501", "0605"})));
  }
  SUBCASE("monthly on the second-to-last Monday for 6 months") {
    CHECK(expand("FREQ=MONTHLY;COUNT=6;BYDAY=-2MO", "19970922T090000", 100) ==
          join(at_nine(1997, {"0922", "1020", "1117", "1222"}), at_nine(1998, {"0119", "0216"})));
  }
  SUBCASE("monthly on the third-to-the-last day of the month") {
    CHECK(expand("FREQ=MONTHLY;BYMONTHDAY=-3", "19970928T090000", 6) ==
          join(at_nine(1997, {"0928", "1029", "1128", "1229"}), at_nine(1998, {"0129", "0226"})));
  }
  SUBCASE("monthly on the 2nd and 15th for 10 occurrences") {
    CHECK(expand("FREQ=MONTHLY;COUNT=10;BYMONTHDAY=2,15", "19970902T090000", 100) ==
          join(at_nine(1997, {"0902", "0915", "1002", "1015", "1102", "1115", "1202", "1215"}),
               at_nine(1998, {"0102", "0115"})));
  }
  SUBCASE("every Tuesday, every other month") {
    CHECK(expand("FREQ=MONTHLY;INTERVAL=2;BYDAY=TU", "19970902T090000", 9) ==
          at_nine(1997, {"0902", "0909", "0916", "0923", "0930", "1104", "1111", "1118", "1125"}));
  }
  SUBCASE("yearly in June and July for 10 occurrences") {
    std::vector<std::string> expected;
    for (int year = 1997; year <= 2001; ++year)
      for (auto day : {"0610", "0710"}) expected.push_back(std::to_string(year) + day + "T090000");
    CHECK(expand("FREQ=YEARLY;COUNT=10;BYMONTH=6,7", "19970610T090000", 100) == expected);
  }
  SUBCASE("every 20th Monday of the year, and Monday of week 20") {
    CHECK(expand("FREQ=YEARLY;BYDAY=20MO", "19970519T090000", 3) ==
          std::vector<std::string>{"19970519T090000", "19980518T090000", "19990517T090000"});
    CHECK(expand("FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO", "19970512T090000", 3) ==
          std::vector<std::string>{"19970512T090000", "19980511T090000", "19990517T090000"});
  }
  SUBCASE("every Friday the 13th") {
    CHECK(expand("FREQ=MONTHLY;BYDAY=FR;BYMONTHDAY=13", "19980213T090000", 5) ==
          std::vector<std::string>{"19980213T090000", "19980313T090000", "19981113T090000",
                                   "19990813T090000", "20001013T090000"});
  }
  SUBCASE("the first Saturday that follows the first Sunday of the month") {
    CHECK(expand("FREQ=MONTHLY;BYDAY=SA;BYMONTHDAY=7,8,9,10,11,12,13", "19970913T090000", 4) ==
          at_nine(1997, {"0913", "1011", "1108", "1213"}));
  }
  SUBCASE("every 4 years, the first Tuesday after a Monday in November (election day)") {
    CHECK(expand("FREQ=YEARLY;INTERVAL=4;BYMONTH=11;BYDAY=TU;BYMONTHDAY=2,3,4,5,6,7,8",
                 "19961105T090000", 3) ==
          std::vector<std::string>{"19961105T090000", "20001107T090000", "20041102T090000"});
  }
  SUBCASE("the third instance of Tuesday, Wednesday or Thursday, for 3 months") {
    CHECK(expand("FREQ=MONTHLY;COUNT=3;BYDAY=TU,WE,TH;BYSETPOS=3", "19970904T090000", 100) ==
          at_nine(1997, {"0904", "1007", "1106"}));
  }
  SUBCASE("the last work day of the month") {
    CHECK(expand("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1", "19970930T090000", 4) ==
          at_nine(1997, {"0930", "1031", "1128", "1231"}));
  }
  SUBCASE("every 3 hours from 9:00 to 17:00 on a day") {
    CHECK(expand("FREQ=HOURLY;INTERVAL=3;UNTIL=19970902T210000Z", "19970902T090000", 100) ==
          std::vector<std::string>{"19970902T090000", "19970902T120000", "19970902T150000"});
  }
}

TEST_CASE("what people ask for: third Friday, last Friday, quarterly, month ends") {
  CHECK(expand("FREQ=MONTHLY;BYDAY=3FR", "20260116T100000", 3, "Europe/Berlin") ==
        std::vector<std::string>{"20260116T100000", "20260220T100000", "20260320T100000"});
  CHECK(expand("FREQ=MONTHLY;BYDAY=-1FR", "20260130T160000", 3, "Europe/Berlin") ==
        std::vector<std::string>{"20260130T160000", "20260227T160000", "20260327T160000"});
  CHECK(expand("FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=15", "20260115T090000", 4, "Europe/Berlin") ==
        std::vector<std::string>{"20260115T090000", "20260415T090000", "20260715T090000",
                                 "20261015T090000"});
  // The 31st: months without one are skipped (RFC 5545), the last day is -1.
  CHECK(expand("FREQ=MONTHLY;BYMONTHDAY=31", "20260131T090000", 4, "Europe/Berlin") ==
        std::vector<std::string>{"20260131T090000", "20260331T090000", "20260531T090000",
                                 "20260731T090000"});
  CHECK(expand("FREQ=MONTHLY;BYMONTHDAY=-1", "20260131T090000", 4, "Europe/Berlin") ==
        std::vector<std::string>{"20260131T090000", "20260228T090000", "20260331T090000",
                                 "20260430T090000"});
  // February 29th: leap years only; and every weekday.
  CHECK(expand("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", "20280229T090000", 3, "UTC") ==
        std::vector<std::string>{"20280229T090000", "20320229T090000", "20360229T090000"});
  CHECK(expand("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "20261204T080000", 3, "Asia/Tokyo") ==
        std::vector<std::string>{"20261204T080000", "20261207T080000", "20261208T080000"});
}

TEST_CASE("occurrences keep the wall clock across DST and skipped times move on by the gap") {
  // Berlin springs forward on 2026-03-29 (02:00 -> 03:00) and falls back
  // on 2026-10-25 (03:00 -> 02:00).
  RecurrenceRule daily{"FREQ=DAILY", local("20260327T023000"), "Europe/Berlin"};
  auto from = Clock::time_point(std::chrono::seconds(0));
  auto got = occurrences(daily, from, 4);
  REQUIRE_MESSAGE(got, test::error_of(got));
  std::vector<std::string> instants;
  for (auto t : *got) instants.push_back(utc(t));
  CHECK(instants == std::vector<std::string>{"2026-03-27T01:30:00Z", "2026-03-28T01:30:00Z",
                                             "2026-03-29T01:30:00Z",  // 02:30 skipped: 03:30 CEST
                                             "2026-03-30T00:30:00Z"});
  RecurrenceRule autumn{"FREQ=DAILY;COUNT=3", local("20261024T023000"), "Europe/Berlin"};
  got = occurrences(autumn, from, 10);
  REQUIRE(got);
  instants.clear();
  for (auto t : *got) instants.push_back(utc(t));
  CHECK(instants == std::vector<std::string>{"2026-10-24T00:30:00Z",
                                             "2026-10-25T00:30:00Z",  // repeated: the first
                                             "2026-10-26T01:30:00Z"});
  // `from` skips what is past; UNTIL in UTC is that instant.
  RecurrenceRule weekly{"FREQ=WEEKLY;UNTIL=20261201T080000Z", local("20261103T090000"),
                        "Europe/Berlin"};
  auto from_nov_10 = Clock::time_point(std::chrono::seconds(1794297600));  // 2026-11-10T08:00Z
  got = occurrences(weekly, from_nov_10, 10);
  REQUIRE(got);
  instants.clear();
  for (auto t : *got) instants.push_back(utc(t));
  CHECK(instants == std::vector<std::string>{"2026-11-10T08:00:00Z", "2026-11-17T08:00:00Z",
                                             "2026-11-24T08:00:00Z", "2026-12-01T08:00:00Z"});
}

TEST_CASE("bad, absurd and impossible rules are refused, saying why, and expansion is bounded") {
  auto why = [](const std::string& rrule, const std::string& zone = "Europe/Berlin") {
    auto checked = check_rule({rrule, local("20261204T090000"), zone});
    REQUIRE_MESSAGE(!checked, rrule << " was taken");
    CHECK(checked.error().code == Errc::invalid_argument);
    return checked.error().message;
  };
  CHECK(why("FREQ=FORTNIGHTLY").find("is not an RRULE") != std::string::npos);
  CHECK(why("FREQ=DAILY;COUNT=x").find("is not an RRULE") != std::string::npos);
  CHECK(why("").find("needs an RRULE") != std::string::npos);
  CHECK(why("FREQ=DAILY", "Mars/Olympus").find("unknown time zone") != std::string::npos);
  CHECK(why("FREQ=SECONDLY;UNTIL=20361204T090000Z").find("at most hourly") != std::string::npos);
  CHECK(why("FREQ=MINUTELY;INTERVAL=30").find("at most hourly") != std::string::npos);
  CHECK(why("FREQ=HOURLY;BYMINUTE=0,15,30,45").find("less than an hour apart") !=
        std::string::npos);
  CHECK(why("FREQ=DAILY;COUNT=1000000").find("COUNT is at most") != std::string::npos);
  CHECK(why("FREQ=DAILY;INTERVAL=100000").find("INTERVAL is at most") != std::string::npos);
  CHECK(why("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30").find("never happens") != std::string::npos);
  CHECK(why(std::string(2000, 'F')).find("at most 1000 bytes") != std::string::npos);
  // "RRULE:" in front is taken as the same rule.
  CHECK(check_rule({"RRULE:FREQ=WEEKLY;BYDAY=MO", local("20261207T090000"), "UTC"}));
  // Asking for too many at once, or none.
  RecurrenceRule hourly{"FREQ=HOURLY", local("20261204T090000"), "UTC"};
  CHECK(occurrences(hourly, Clock::time_point{}, 0).error().code == Errc::invalid_argument);
  CHECK(occurrences(hourly, Clock::time_point{}, kMaxOccurrences + 1).error().code ==
        Errc::invalid_argument);
  // An hourly rule asked for what comes in 200 years: bounded, not stuck.
  auto far = occurrences(hourly, Clock::now() + std::chrono::hours(24 * 365 * 200), 10);
  REQUIRE(far);
  CHECK(far->empty());
}
