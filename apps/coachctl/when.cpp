#include "apps/coachctl/when.h"

#include <date/date.h>
#include <date/tz.h>
#include <fmt/core.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <optional>

namespace coach::ctl {
namespace {

using namespace std::chrono;
using date::local_days;
using date::local_seconds;

constexpr std::array<std::string_view, 7> kDayNames = {"mon", "tue", "wed", "thu",
                                                       "fri", "sat", "sun"};

std::string lower(std::string_view text) {
  std::string out;
  for (char c : text) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string trim(std::string_view text) {
  size_t b = 0, e = text.size();
  while (b < e && std::isspace(static_cast<unsigned char>(text[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(text[e - 1]))) --e;
  return std::string(text.substr(b, e - b));
}

std::vector<std::string> words(const std::string& text) {
  std::vector<std::string> out;
  std::string word;
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      if (!word.empty()) out.push_back(std::move(word));
      word.clear();
    } else {
      word += c;
    }
  }
  if (!word.empty()) out.push_back(std::move(word));
  return out;
}

std::vector<std::string> split(std::string_view text, char by) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    auto end = text.find(by, start);
    out.push_back(trim(text.substr(start, end == std::string_view::npos ? end : end - start)));
    if (end == std::string_view::npos) return out;
    start = end + 1;
  }
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c));
  });
}

// The instant of a local time: a time skipped by a DST change moves forward
// by the gap, a repeated one is the earlier instant (see the header).
Seconds to_instant(local_seconds t, const date::time_zone* zone) {
  auto info = zone->get_info(t);
  // `first` is the offset in force before the change: for a gap that moves
  // the time forward, for a repeat it is the earlier of the two.
  return Seconds{t.time_since_epoch() - info.first.offset};
}

// ISO weekday 1..7 of a word ("mon", "monday", "tues", "thurs"), else 0.
int weekday_of(const std::string& word) {
  static const std::map<std::string, int> names = {
      {"mon", 1},       {"monday", 1}, {"tue", 2},      {"tues", 2},  {"tuesday", 2},  {"wed", 3},
      {"wednesday", 3}, {"thu", 4},    {"thur", 4},     {"thurs", 4}, {"thursday", 4}, {"fri", 5},
      {"friday", 5},    {"sat", 6},    {"saturday", 6}, {"sun", 7},   {"sunday", 7}};
  auto it = names.find(word);
  return it == names.end() ? 0 : it->second;
}

// "17:00", "9:30", "9am", "5:30pm", "12am" as minutes since midnight.
std::optional<int> time_of(const std::string& word) {
  std::string w = word;
  int add = -1;  // -1: 24-hour clock
  if (w.size() > 2 && (w.ends_with("am") || w.ends_with("pm"))) {
    add = w.ends_with("pm") ? 12 : 0;
    w.resize(w.size() - 2);
  }
  auto colon = w.find(':');
  if (colon == std::string::npos && add < 0) return std::nullopt;
  std::string hh = w.substr(0, colon), mm = colon == std::string::npos ? "00" : w.substr(colon + 1);
  if (!all_digits(hh) || hh.size() > 2 || !all_digits(mm) || mm.size() != 2) return std::nullopt;
  int h = std::stoi(hh), m = std::stoi(mm);
  if (m > 59) return std::nullopt;
  if (add >= 0) {
    if (h < 1 || h > 12) return std::nullopt;
    h = h % 12 + add;
  } else if (h > 23) {
    return std::nullopt;
  }
  return h * 60 + m;
}

// "2026-12-02" as a day.
std::optional<local_days> day_of_date(const std::string& word) {
  if (word.size() != 10 || word[4] != '-' || word[7] != '-') return std::nullopt;
  auto y = word.substr(0, 4), mo = word.substr(5, 2), d = word.substr(8, 2);
  if (!all_digits(y) || !all_digits(mo) || !all_digits(d)) return std::nullopt;
  date::year_month_day ymd{date::year{std::stoi(y)}, date::month(std::stoul(mo)),
                           date::day(std::stoul(d))};
  if (!ymd.ok()) return std::nullopt;
  return local_days{ymd};
}

// RFC 3339 with Z or an offset: "2026-12-01T17:00:00Z", "...+01:00",
// fractions of a second dropped.
std::optional<Seconds> rfc3339(const std::string& text) {
  if (text.size() < 20 || (text[10] != 't' && text[10] != ' ')) return std::nullopt;
  auto day = day_of_date(text.substr(0, 10));
  if (!day) return std::nullopt;
  std::string rest = text.substr(11);
  if (rest.size() < 8 || rest[2] != ':' || rest[5] != ':') return std::nullopt;
  auto hh = rest.substr(0, 2), mm = rest.substr(3, 2), ss = rest.substr(6, 2);
  if (!all_digits(hh) || !all_digits(mm) || !all_digits(ss)) return std::nullopt;
  int h = std::stoi(hh), m = std::stoi(mm), s = std::stoi(ss);
  if (h > 23 || m > 59 || s > 60) return std::nullopt;
  size_t i = 8;
  if (i < rest.size() && rest[i] == '.') {
    ++i;
    size_t digits = i;
    while (i < rest.size() && std::isdigit(static_cast<unsigned char>(rest[i]))) ++i;
    if (i == digits) return std::nullopt;
  }
  std::string zone = rest.substr(i);
  int offset = 0;
  if (zone == "z") {
    offset = 0;
  } else if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':' &&
             all_digits(zone.substr(1, 2)) && all_digits(zone.substr(4, 2))) {
    offset = std::stoi(zone.substr(1, 2)) * 60 + std::stoi(zone.substr(4, 2));
    if (zone[0] == '-') offset = -offset;
  } else {
    return std::nullopt;
  }
  return Seconds{day->time_since_epoch()} + hours(h) + minutes(m - offset) + seconds(s);
}

Error not_a_date(std::string_view text) {
  return make_error(Errc::invalid_argument, fmt::format("\"{}\" is not a date; accepted forms:\n{}",
                                                        text, accepted_date_forms()));
}

}  // namespace

std::string accepted_date_forms() {
  return "  now, today, tomorrow, yesterday, eod, eow, eom\n"
         "  mon .. sun, monday .. sunday, next monday (the next one after today)\n"
         "  a day and a time: tomorrow 17:00, fri 5pm, next monday 9am, today 9:30\n"
         "  a time alone: 17:00, 9am (the next one to come)\n"
         "  from now: +2d, +3h, +90m, +1w, +1h30m\n"
         "  2026-12-02, 2026-12-02 17:00, 2026-12-02T17:00 (your time zone)\n"
         "  RFC 3339: 2026-12-02T17:00:00Z, 2026-12-02T17:00:00+01:00";
}

Result<Seconds> parse_when(std::string_view input, Seconds now, const date::time_zone* zone,
                           DayTime day_time) {
  std::string text = lower(trim(input));
  if (text.empty()) return not_a_date(input);
  if (auto exact = rfc3339(text)) return *exact;
  if (text == "now") return now;
  if (text[0] == '+') {
    auto d = parse_duration(text.substr(1));
    if (!d) return not_a_date(input);
    return now + duration_cast<seconds>(*d);
  }
  auto local_now = zone->to_local(now);
  auto today = floor<date::days>(local_now);
  auto end_of = [&](local_days day) {
    if (day_time == DayTime::after) return to_instant(day + date::days(1) + seconds(0), zone);
    return to_instant(day + hours(23) + minutes(59) + seconds(59), zone);
  };
  if (text == "eod") return end_of(today);
  if (text == "eow") {
    unsigned iso = date::weekday{today}.iso_encoding();
    return end_of(today + date::days(7 - iso));
  }
  if (text == "eom") {
    date::year_month_day ymd{today};
    return end_of(local_days{ymd.year() / ymd.month() / date::last});
  }
  // "2026-12-02T17:00": a local date and time.
  if (text.size() == 16 && text[10] == 't') text[10] = ' ';
  auto w = words(text);
  size_t i = 0;
  std::optional<local_days> day;
  if (w[i] == "next" && w.size() > 1 && weekday_of(w[1]) != 0) ++i;
  if (w[i] == "today") {
    day = today;
  } else if (w[i] == "tomorrow") {
    day = today + date::days(1);
  } else if (w[i] == "yesterday") {
    day = today - date::days(1);
  } else if (int target = weekday_of(w[i]); target != 0) {
    int delta = (target - static_cast<int>(date::weekday{today}.iso_encoding()) + 7) % 7;
    day = today + date::days(delta == 0 ? 7 : delta);
  } else if (auto d = day_of_date(w[i])) {
    day = *d;
  } else if (i == 0 && w.size() == 1) {
    if (auto t = time_of(w[0])) {  // a time alone: the next one to come
      auto at = to_instant(today + minutes(*t), zone);
      if (at <= now) at = to_instant(today + date::days(1) + minutes(*t), zone);
      return at;
    }
  }
  if (!day) return not_a_date(input);
  ++i;
  if (i == w.size())
    return day_time == DayTime::start ? to_instant(*day + seconds(0), zone) : end_of(*day);
  if (i + 1 != w.size()) return not_a_date(input);
  auto t = time_of(w[i]);
  if (!t) return not_a_date(input);
  return to_instant(*day + minutes(*t), zone);
}

Result<minutes> parse_duration(std::string_view input) {
  std::string text = lower(trim(input));
  auto bad = [&] {
    return make_error(Errc::invalid_argument,
                      fmt::format("\"{}\" is not a duration; give a number and a unit, w d h m: "
                                  "90m, 1h30m, 2d, 1w (a bare number is minutes)",
                                  input));
  };
  if (all_digits(text)) {
    if (text.size() > 6) return bad();
    auto m = minutes(std::stol(text));
    if (m.count() <= 0 || m > date::days(366)) return bad();
    return m;
  }
  minutes total{0};
  size_t i = 0;
  if (text.empty()) return bad();
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
    if (i == start || i - start > 6) return bad();
    long n = std::stol(text.substr(start, i - start));
    size_t unit_start = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    auto unit = text.substr(unit_start, i - unit_start);
    if (unit == "w")
      total += date::days(7 * n);
    else if (unit == "d")
      total += date::days(n);
    else if (unit == "h" || unit == "hr")
      total += hours(n);
    else if (unit == "m" || unit == "min")
      total += minutes(n);
    else
      return bad();
  }
  if (total.count() <= 0 || total > date::days(366)) return bad();
  return total;
}

std::string show_duration(minutes m) {
  if (m.count() <= 0) return "-";
  long n = m.count();
  std::string out;
  auto part = [&](long unit, const char* name) {
    if (n >= unit) {
      out += fmt::format("{}{} {}", out.empty() ? "" : " ", n / unit, name);
      n %= unit;
    }
  };
  part(7 * 1440, "w");
  part(1440, "d");
  part(60, "h");
  part(1, "min");
  return out;
}

std::string local_time(Seconds t, const date::time_zone* zone) {
  return date::format("%a %Y-%m-%d %H:%M %Z", date::make_zoned(zone, t));
}

std::string local_clock(Seconds t, const date::time_zone* zone) {
  return date::format("%H:%M", date::make_zoned(zone, t));
}

std::string local_day(Seconds t, const date::time_zone* zone) {
  return date::format("%a %Y-%m-%d", date::make_zoned(zone, t));
}

std::string relative_due(Seconds t, Seconds now) {
  auto d = duration_cast<seconds>(t - now).count();
  bool late = d < 0;
  long a = late ? -d : d;
  if (a < 60) return "now";
  long m = a / 60, h = m / 60;
  std::string span = m < 60   ? fmt::format("{} min", m)
                     : h < 48 ? fmt::format("{} h", h)
                              : fmt::format("{} d", h / 24);
  return late ? span + " overdue" : "in " + span;
}

Result<std::vector<Window>> parse_windows(std::string_view input) {
  auto bad = [&](const std::string& why) {
    return make_error(Errc::invalid_argument,
                      fmt::format("\"{}\": {}; windows look like \"mon-fri 09:00-17:00\", "
                                  "\"mon-fri 09:00-12:00,13:00-17:00; sat 10:00-12:00\" or "
                                  "\"08:00-21:00\" (every day)",
                                  input, why));
  };
  std::vector<Window> out;
  auto clock = [](const std::string& s) -> std::optional<int> {
    if (s == "24:00" || s == "24") return 1440;
    auto colon = s.find(':');
    std::string hh = s.substr(0, colon),
                mm = colon == std::string::npos ? "00" : s.substr(colon + 1);
    if (!all_digits(hh) || hh.size() > 2 || !all_digits(mm) || mm.size() != 2) return std::nullopt;
    int h = std::stoi(hh), m = std::stoi(mm);
    if (h > 23 || m > 59) return std::nullopt;
    return h * 60 + m;
  };
  for (const auto& group : split(lower(input), ';')) {
    if (group.empty()) return bad("an empty group");
    std::vector<int> days;
    std::string hours_part = group;
    if (std::isalpha(static_cast<unsigned char>(group[0]))) {
      auto space = group.find(' ');
      if (space == std::string::npos) return bad("days need hours");
      hours_part = trim(group.substr(space + 1));
      std::string day_part = group.substr(0, space);
      if (day_part == "daily" || day_part == "every") {
        for (int d = 1; d <= 7; ++d) days.push_back(d);
      } else {
        for (const auto& item : split(day_part, ',')) {
          auto dash = item.find('-');
          int from = weekday_of(item.substr(0, dash));
          int to = dash == std::string::npos ? from : weekday_of(item.substr(dash + 1));
          if (from == 0 || to == 0) return bad("\"" + item + "\" is not a day (mon .. sun)");
          for (int d = from;; d = d % 7 + 1) {
            days.push_back(d);
            if (d == to) break;
          }
        }
      }
    } else {
      for (int d = 1; d <= 7; ++d) days.push_back(d);
    }
    for (const auto& range : split(hours_part, ',')) {
      auto dash = range.find('-');
      if (dash == std::string::npos) return bad("\"" + range + "\" is not HH:MM-HH:MM");
      auto from = clock(trim(range.substr(0, dash))), to = clock(trim(range.substr(dash + 1)));
      if (!from || !to || *from == 1440) return bad("\"" + range + "\" is not HH:MM-HH:MM");
      if (*from == *to) return bad("\"" + range + "\" is empty");
      for (int d : days) {
        if (*from < *to) {
          out.push_back({d, *from, *to});
        } else {  // crosses midnight
          out.push_back({d, *from, 1440});
          if (*to > 0) out.push_back({d % 7 + 1, 0, *to});
        }
      }
    }
  }
  std::sort(out.begin(), out.end(), [](const Window& a, const Window& b) {
    return std::tie(a.weekday, a.start_minute, a.end_minute) <
           std::tie(b.weekday, b.start_minute, b.end_minute);
  });
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string show_windows(std::vector<Window> windows) {
  std::array<std::string, 8> hours_of;  // by ISO weekday
  std::sort(windows.begin(), windows.end(), [](const Window& a, const Window& b) {
    return std::tie(a.weekday, a.start_minute, a.end_minute) <
           std::tie(b.weekday, b.start_minute, b.end_minute);
  });
  for (const auto& w : windows) {
    if (w.weekday < 1 || w.weekday > 7) continue;
    auto& h = hours_of[static_cast<size_t>(w.weekday)];
    h += fmt::format("{}{:02}:{:02}-{:02}:{:02}", h.empty() ? "" : ",", w.start_minute / 60,
                     w.start_minute % 60, w.end_minute / 60, w.end_minute % 60);
  }
  // Groups of days with the same hours, in the order of their first day;
  // runs of consecutive days as ranges.
  std::vector<std::pair<std::string, std::vector<int>>> groups;
  for (int d = 1; d <= 7; ++d) {
    const auto& h = hours_of[static_cast<size_t>(d)];
    if (h.empty()) continue;
    auto it = std::find_if(groups.begin(), groups.end(), [&](auto& g) { return g.first == h; });
    if (it == groups.end())
      groups.push_back({h, {d}});
    else
      it->second.push_back(d);
  }
  std::string out;
  for (const auto& [h, days] : groups) {
    std::string names;
    if (days.size() == 7) {
      names = "daily";
    } else {
      for (size_t i = 0; i < days.size();) {
        size_t j = i;
        while (j + 1 < days.size() && days[j + 1] == days[j] + 1) ++j;
        names += fmt::format("{}{}", names.empty() ? "" : ",",
                             kDayNames[static_cast<size_t>(days[i] - 1)]);
        if (j > i) names += fmt::format("-{}", kDayNames[static_cast<size_t>(days[j] - 1)]);
        i = j + 1;
      }
    }
    out += fmt::format("{}{} {}", out.empty() ? "" : "; ", names, h);
  }
  return out;
}

}  // namespace coach::ctl
