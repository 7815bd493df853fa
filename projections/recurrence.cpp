#include "projections/recurrence.h"

#include <date/tz.h>
#include <libical/ical.h>

#include <string_view>

namespace coach::projections {
namespace {

constexpr int kMaxCount = 10000, kMaxInterval = 1000;
constexpr size_t kMaxRuleBytes = 1000;
// How far one expansion looks, from the rule's start, and how many
// occurrences at most it looks through on the way.
constexpr date::days kHorizon{36525};  // 100 years
constexpr size_t kMaxSteps = 200000;
// The first occurrences looked at to tell a flood (under an hour apart).
constexpr size_t kProbe = 50;

Error invalid(std::string why) {
  return make_error(Errc::invalid_argument, std::move(why));
}

icaltimetype to_ical(date::local_seconds t) {
  auto day = date::floor<date::days>(t);
  date::year_month_day ymd{day};
  date::hh_mm_ss<std::chrono::seconds> hms{t - day};
  icaltimetype out = icaltime_null_time();
  out.year = static_cast<int>(ymd.year());
  out.month = static_cast<int>(static_cast<unsigned>(ymd.month()));
  out.day = static_cast<int>(static_cast<unsigned>(ymd.day()));
  out.hour = static_cast<int>(hms.hours().count());
  out.minute = static_cast<int>(hms.minutes().count());
  out.second = static_cast<int>(hms.seconds().count());
  return out;
}

date::local_seconds from_ical(const icaltimetype& t) {
  auto day = date::local_days{date::year{t.year} / t.month / t.day};
  return day + std::chrono::hours(t.hour) + std::chrono::minutes(t.minute) +
         std::chrono::seconds(t.second);
}

// The instant of a wall-clock time in `zone`: a time skipped by a DST change
// moves forward by the gap, a repeated one is the earlier instant.
Clock::time_point to_instant(date::local_seconds t, const date::time_zone* zone) {
  // `first` is the offset in force before the change: for a gap that moves
  // the time forward, for a repeat it is the earlier of the two.
  auto info = zone->get_info(t);
  return Clock::time_point(t.time_since_epoch() - info.first.offset);
}

struct Parsed {
  icalrecurrencetype recur;
  const date::time_zone* zone = nullptr;
};

Result<const date::time_zone*> zone_of(const std::string& name) {
  try {
    return date::locate_zone(name);
  } catch (const std::exception&) {
    return invalid("unknown time zone \"" + name + "\": an IANA name, e.g. Europe/Berlin");
  }
}

Result<Parsed> parse(const RecurrenceRule& rule) {
  auto zone = zone_of(rule.zone);
  if (!zone) return zone.error();
  std::string_view text = rule.rrule;
  if (text.substr(0, 6) == "RRULE:") text.remove_prefix(6);
  if (text.empty()) return invalid("a recurrence needs an RRULE, e.g. FREQ=WEEKLY;BYDAY=MO");
  if (text.size() > kMaxRuleBytes)
    return invalid("an RRULE holds at most " + std::to_string(kMaxRuleBytes) + " bytes");
  std::string copy(text);
  // libical keeps INTERVAL in a short: too large a one is read as garbage.
  if (auto at = copy.find("INTERVAL="); at != std::string::npos) {
    auto digits = copy.substr(at + 9, copy.find(';', at) - at - 9);
    if (digits.size() > 4 || (!digits.empty() && std::stoi("0" + digits) > kMaxInterval))
      return invalid("INTERVAL is at most " + std::to_string(kMaxInterval));
  }
  icalerror_clear_errno();
  Parsed p;
  p.zone = *zone;
  p.recur = icalrecurrencetype_from_string(copy.c_str());
  icalerror_clear_errno();
  if (p.recur.freq == ICAL_NO_RECURRENCE)
    return invalid("\"" + copy + "\" is not an RRULE (RFC 5545), e.g. FREQ=MONTHLY;BYDAY=3FR");
  if (p.recur.freq == ICAL_SECONDLY_RECURRENCE || p.recur.freq == ICAL_MINUTELY_RECURRENCE)
    return invalid("a task recurs at most hourly: FREQ=SECONDLY and MINUTELY are refused");
  if (p.recur.count > kMaxCount) return invalid("COUNT is at most " + std::to_string(kMaxCount));
  if (p.recur.interval > kMaxInterval)
    return invalid("INTERVAL is at most " + std::to_string(kMaxInterval));
  if (!icaltime_is_null_time(p.recur.until) && icaltime_is_utc(p.recur.until) &&
      !p.recur.until.is_date) {
    // That instant, on the zone's wall clock.
    auto until = date::sys_seconds(from_ical(p.recur.until).time_since_epoch());
    p.recur.until = to_ical(p.zone->to_local(until));
  }
  return p;
}

// Calls `take` with each wall-clock occurrence from the rule's start while
// it answers true, within the horizon and the step bound.
template <class Take>
Status expand(const RecurrenceRule& rule, const Parsed& p, Take take) {
  icalrecur_iterator* it = icalrecur_iterator_new(p.recur, to_ical(rule.start));
  icalerror_clear_errno();
  if (!it) return invalid("\"" + rule.rrule + "\" never happens (libical finds no occurrence)");
  auto end = rule.start + kHorizon;
  for (size_t step = 0; step < kMaxSteps; ++step) {
    auto next = icalrecur_iterator_next(it);
    if (icaltime_is_null_time(next)) break;
    auto local = from_ical(next);
    if (local > end || !take(local)) break;
  }
  icalrecur_iterator_free(it);
  return Ok{};
}

Status check_parsed(const RecurrenceRule& rule, const Parsed& p) {
  std::vector<date::local_seconds> first;
  if (auto done = expand(rule, p,
                         [&](date::local_seconds t) {
                           first.push_back(t);
                           return first.size() < kProbe;
                         });
      !done)
    return done;
  if (first.empty())
    return invalid("\"" + rule.rrule + "\" never happens in the 100 years after its start");
  for (size_t i = 1; i < first.size(); ++i)
    if (first[i] - first[i - 1] < std::chrono::hours(1))
      return invalid("\"" + rule.rrule +
                     "\" recurs less than an hour apart: a task recurs at most hourly");
  return Ok{};
}

Result<Parsed> checked(const RecurrenceRule& rule, size_t limit) {
  if (limit == 0 || limit > kMaxOccurrences)
    return invalid("ask for 1 to " + std::to_string(kMaxOccurrences) + " occurrences");
  auto p = parse(rule);
  if (!p) return p.error();
  if (auto ok = check_parsed(rule, *p); !ok) return ok.error();
  return p;
}

}  // namespace

Status check_rule(const RecurrenceRule& rule) {
  auto p = parse(rule);
  if (!p) return p.error();
  return check_parsed(rule, *p);
}

Result<std::vector<date::local_seconds>> local_occurrences(const RecurrenceRule& rule,
                                                           size_t limit) {
  auto p = checked(rule, limit);
  if (!p) return p.error();
  std::vector<date::local_seconds> out;
  auto done = expand(rule, *p, [&](date::local_seconds t) {
    out.push_back(t);
    return out.size() < limit;
  });
  if (!done) return done.error();
  return out;
}

Result<std::vector<Clock::time_point>> occurrences(const RecurrenceRule& rule,
                                                   Clock::time_point from, size_t limit) {
  auto p = checked(rule, limit);
  if (!p) return p.error();
  std::vector<Clock::time_point> out;
  auto done = expand(rule, *p, [&](date::local_seconds t) {
    auto at = to_instant(t, p->zone);
    if (at >= from) out.push_back(at);
    return out.size() < limit;
  });
  if (!done) return done.error();
  return out;
}

Result<std::optional<Clock::time_point>> last_between(const RecurrenceRule& rule,
                                                      Clock::time_point after,
                                                      Clock::time_point until) {
  auto p = checked(rule, 1);
  if (!p) return p.error();
  std::optional<Clock::time_point> last;
  auto done = expand(rule, *p, [&](date::local_seconds t) {
    auto at = to_instant(t, p->zone);
    if (at > until) return false;
    if (at > after) last = at;
    return true;
  });
  if (!done) return done.error();
  return last;
}

Result<date::local_seconds> wall_clock(Clock::time_point t, const std::string& zone) {
  auto z = zone_of(zone);
  if (!z) return z.error();
  return (*z)->to_local(date::floor<std::chrono::seconds>(t));
}

Result<Clock::time_point> instant_of(date::local_seconds t, const std::string& zone) {
  auto z = zone_of(zone);
  if (!z) return z.error();
  return to_instant(t, *z);
}

}  // namespace coach::projections
