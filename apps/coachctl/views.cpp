#include "apps/coachctl/views.h"

#include <fmt/core.h>

#include <algorithm>
#include <cctype>

namespace coach::ctl {
namespace {

using namespace std::chrono;

Seconds seconds_of(const google::protobuf::Timestamp& t) {
  return Seconds{seconds(t.seconds())};
}

bool is_set(const google::protobuf::Timestamp& t) {
  return t.seconds() != 0 || t.nanos() != 0;
}

std::string lower(const std::string& s) {
  std::string out;
  for (char c : s) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The enum's name without its prefix, lower-cased.
std::string enum_word(std::string n, std::string_view prefix) {
  if (n.rfind(prefix, 0) == 0) n = n.substr(prefix.size());
  return lower(n);
}

// Display width of UTF-8 text: code points (no wide characters in titles
// are measured as two; good enough for a terminal table).
size_t width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

std::string pad(const std::string& s, size_t w) {
  size_t have = width(s);
  return have >= w ? s : s + std::string(w - have, ' ');
}

}  // namespace

std::map<std::string, std::string> short_ids(const std::vector<v1::Task>& tasks) {
  std::vector<std::string> ids;
  for (const auto& t : tasks) ids.push_back(lower(t.id()));
  std::sort(ids.begin(), ids.end());
  std::map<std::string, std::string> out;
  for (size_t i = 0; i < ids.size(); ++i) {
    // The shortest prefix longer than what it shares with either neighbour.
    size_t common = 0;
    for (size_t j : {i - 1, i + 1}) {
      if (j >= ids.size() || ids[j] == ids[i]) continue;
      size_t k = 0;
      while (k < ids[i].size() && k < ids[j].size() && ids[i][k] == ids[j][k]) ++k;
      common = std::max(common, k);
    }
    size_t len = std::min(ids[i].size(), std::max(kMinPrefix, common + 1));
    if (len < ids[i].size() && ids[i][len - 1] == '-') ++len;  // never end on a dash
    out[ids[i]] = ids[i].substr(0, len);
  }
  return out;
}

Result<std::string> resolve_handle(const std::string& handle, const std::vector<v1::Task>& tasks) {
  std::string h = lower(handle);
  if (h.size() < kMinPrefix)
    return make_error(Errc::invalid_argument,
                      fmt::format("\"{}\" is too short for a task id: give at least {} characters "
                                  "(the ID column of coachctl list)",
                                  handle, kMinPrefix));
  std::vector<const v1::Task*> matches;
  for (const auto& t : tasks)
    if (lower(t.id()).rfind(h, 0) == 0) matches.push_back(&t);
  if (matches.empty())
    return make_error(Errc::not_found, fmt::format("no task id starts with \"{}\"", handle));
  if (matches.size() == 1) return lower(matches[0]->id());
  std::sort(matches.begin(), matches.end(),
            [](const v1::Task* a, const v1::Task* b) { return lower(a->id()) < lower(b->id()); });
  auto ids = short_ids(tasks);
  std::string list;
  for (const auto* t : matches) list += fmt::format("\n  {}  {}", ids[lower(t->id())], t->title());
  return make_error(Errc::invalid_argument,
                    fmt::format("\"{}\" is ambiguous: {} tasks start with it; type more of one:{}",
                                handle, matches.size(), list));
}

UrgencyTerms urgency(const v1::Task& task, Seconds now, double procrastination_score) {
  UrgencyTerms u;
  if (is_set(task.due_at())) {
    double days_until = duration<double>(seconds_of(task.due_at()) - now).count() / 86400.0;
    double d = days_until <= -7   ? 1.0
               : days_until >= 14 ? 0.2
                                  : 0.2 + 0.8 * (14.0 - days_until) / 21.0;
    u.due = 12.0 * d;
    // The task's own lateness risk when coach sent one (tracking on),
    // else the user's score.
    double p = task.has_lateness_risk() ? task.lateness_risk() : procrastination_score;
    u.risk = 4.0 * std::clamp(p, 0.0, 1.0) * d;
  }
  u.priority = 1.5 * std::clamp(task.priority(), 0, 4);
  if (is_set(task.created_at())) {
    double age_days = duration<double>(now - seconds_of(task.created_at())).count() / 86400.0;
    u.age = 2.0 * std::clamp(age_days / 365.0, 0.0, 1.0);
  }
  u.snoozes = std::min(0.5 * task.snooze_count(), 2.0);
  return u;
}

void sort_by_urgency(std::vector<v1::Task>& tasks, Seconds now, double score) {
  auto due_key = [](const v1::Task& t) {
    return is_set(t.due_at()) ? t.due_at().seconds() : std::numeric_limits<int64_t>::max();
  };
  std::stable_sort(tasks.begin(), tasks.end(), [&](const v1::Task& a, const v1::Task& b) {
    double ua = urgency(a, now, score).total(), ub = urgency(b, now, score).total();
    if (ua != ub) return ua > ub;
    if (due_key(a) != due_key(b)) return due_key(a) < due_key(b);
    if (a.created_at().seconds() != b.created_at().seconds())
      return a.created_at().seconds() < b.created_at().seconds();
    return a.id() < b.id();
  });
}

bool use_colour(const std::string& flag, bool terminal, const char* no_color, const char* term) {
  if (flag == "always") return true;
  if (flag == "never") return false;
  if (no_color && *no_color) return false;
  if (term && std::string(term) == "dumb") return false;
  return terminal;
}

std::string task_table(const std::vector<v1::Task>& rows,
                       const std::map<std::string, std::string>& ids, const TableOptions& o) {
  bool snoozed = false, status = false;
  for (const auto& t : rows) {
    snoozed = snoozed || t.status() == v1::TASK_STATUS_SNOOZED;
    status = status || t.status() == v1::TASK_STATUS_COMPLETED ||
             t.status() == v1::TASK_STATUS_DELETED || t.status() == v1::TASK_STATUS_MISSED;
  }
  std::vector<std::string> header = {"ID"};
  if (o.urgency) header.push_back("URG");
  for (const char* h : {"DUE", "PRI", "EST", "CATEGORY", "TITLE"}) header.push_back(h);
  if (snoozed) header.push_back("SNOOZED UNTIL");
  if (status) header.push_back("STATUS");
  std::vector<std::vector<std::string>> cells;
  std::vector<std::string> tone;  // colour of each row's due cell
  for (const auto& t : rows) {
    std::vector<std::string> row;
    auto it = ids.find(lower(t.id()));
    row.push_back(it == ids.end() ? t.id() : it->second);
    if (o.urgency)
      row.push_back(fmt::format("{:.1f}", urgency(t, o.now, o.procrastination_score).total()));
    std::string due = "-", colour;
    if (is_set(t.due_at())) {
      due = relative_due(seconds_of(t.due_at()), o.now);
      bool open = t.status() == v1::TASK_STATUS_PENDING || t.status() == v1::TASK_STATUS_SNOOZED;
      if (open && seconds_of(t.due_at()) < o.now)
        colour = "\033[31m";  // red: overdue
      else if (open && seconds_of(t.due_at()) < o.now + hours(24))
        colour = "\033[33m";  // yellow: within a day
    }
    row.push_back(due);
    row.push_back(t.priority() > 0 ? std::to_string(t.priority()) : "-");
    row.push_back(show_duration(minutes(t.estimated_minutes())));
    row.push_back(t.category().empty() ? "-" : t.category());
    std::string title = t.title();
    for (const auto& tag : t.tags()) title += " #" + tag;
    row.push_back(title);
    if (snoozed)
      row.push_back(t.status() == v1::TASK_STATUS_SNOOZED && is_set(t.snoozed_until())
                        ? local_time(seconds_of(t.snoozed_until()), o.zone)
                        : "");
    if (status) row.push_back(word(t.status()));
    cells.push_back(std::move(row));
    tone.push_back(colour);
  }
  std::vector<size_t> w(header.size());
  for (size_t c = 0; c < header.size(); ++c) {
    w[c] = width(header[c]);
    for (const auto& row : cells) w[c] = std::max(w[c], width(row[c]));
  }
  auto line = [&](const std::vector<std::string>& row, const std::string& due_colour,
                  bool is_header) {
    std::string out;
    for (size_t c = 0; c < row.size(); ++c) {
      bool last = c + 1 == row.size();
      std::string cell = last ? row[c] : pad(row[c], w[c]);
      if (o.colour && is_header) cell = "\033[1m" + cell + "\033[0m";
      if (o.colour && !is_header && c == 0) cell = "\033[36m" + cell + "\033[0m";
      if (o.colour && !due_colour.empty() && c == (o.urgency ? 2u : 1u))
        cell = due_colour + cell + "\033[0m";
      out += (c ? "  " : "") + cell;
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out + "\n";
  };
  std::string out = line(header, "", true);
  for (size_t r = 0; r < cells.size(); ++r) out += line(cells[r], tone[r], false);
  return out;
}

std::string word(v1::TaskStatus s) {
  return enum_word(v1::TaskStatus_Name(s), "TASK_STATUS_");
}
std::string word(v1::CoachingMode m) {
  return enum_word(v1::CoachingMode_Name(m), "COACHING_MODE_");
}
std::string word(v1::PersonaType p) {
  return enum_word(v1::PersonaType_Name(p), "PERSONA_TYPE_");
}
std::string word(v1::DeliveryChannel c) {
  return enum_word(v1::DeliveryChannel_Name(c), "DELIVERY_CHANNEL_");
}
std::string word(v1::NudgeSource s) {
  return enum_word(v1::NudgeSource_Name(s), "NUDGE_SOURCE_");
}
std::string word(v1::NotificationStatus s) {
  return enum_word(v1::NotificationStatus_Name(s), "NOTIFICATION_STATUS_");
}

}  // namespace coach::ctl
