#include "projections/behavior_signals.h"

#include <date/tz.h>

#include <algorithm>
#include <cmath>

namespace coach::projections {
namespace {

constexpr double kVeryLateHours = 96;

double seconds_of(const google::protobuf::Timestamp& t) {
  return static_cast<double>(t.seconds()) + t.nanos() / 1e9;
}

double ratio(uint64_t part, uint64_t whole) {
  return whole == 0 ? 0 : static_cast<double>(part) / static_cast<double>(whole);
}

}  // namespace

void RunningStats::add(double x) {
  ++count;
  double delta = x - mean;
  mean += delta / static_cast<double>(count);
  m2 += delta * (x - mean);
}

void BehaviorSignals::set_time_zone(const std::string& iana_name) {
  try {
    zone_ = date::locate_zone(iana_name);
    offset_begin_ = 1;  // invalidate the cached period
    offset_end_ = 0;
  } catch (const std::exception&) {
    // unknown zone: keep the previous one (names are checked on the way in)
  }
}

std::pair<int, int> BehaviorSignals::local_hour_weekday(int64_t unix_seconds) {
  if (zone_ && (unix_seconds < offset_begin_ || unix_seconds >= offset_end_)) {
    auto info = zone_->get_info(date::sys_seconds(std::chrono::seconds(unix_seconds)));
    offset_begin_ = info.begin.time_since_epoch().count();
    offset_end_ = info.end.time_since_epoch().count();
    offset_seconds_ = info.offset.count();
  }
  int64_t local = unix_seconds + (zone_ ? offset_seconds_ : 0);
  int64_t day = (local >= 0 ? local : local - 86399) / 86400;
  int hour = static_cast<int>((local - day * 86400) / 3600);
  int weekday = static_cast<int>(((day % 7) + 7 + 3) % 7);  // 1970-01-01 was a Thursday
  return {hour, weekday};
}

double BehaviorSignals::share_late() const {
  return ratio(late, completions_with_due);
}
double BehaviorSignals::share_very_late() const {
  return ratio(very_late, completions_with_due);
}
double BehaviorSignals::snooze_rate() const {
  return ratio(snoozes, tasks_created);
}
double BehaviorSignals::edit_rate() const {
  return ratio(edits, tasks_created);
}

double BehaviorSignals::burstiness() const {
  if (gap_hours.count < 2) return 0;
  double sigma = std::sqrt(gap_hours.variance()), mu = gap_hours.mean;
  return sigma + mu > 0 ? (sigma - mu) / (sigma + mu) : 0;
}

void evolve(BehaviorSignals& s, const v1::TaskEvent& event, const v1::Task* task_before) {
  int64_t now = event.created_at().seconds();
  if (s.last_event_seconds != 0 && now >= s.last_event_seconds) {
    double gap = static_cast<double>(now - s.last_event_seconds) / 3600;
    s.gap_hours.add(gap);
    s.longest_gap_hours = std::max(s.longest_gap_hours, gap);
  }
  s.last_event_seconds = std::max(s.last_event_seconds, now);

  switch (event.payload_case()) {
    case v1::TaskEvent::kTaskCreated:
      ++s.tasks_created;
      ++s.categories[event.task_created().category()].created;
      break;
    case v1::TaskEvent::kTaskSnoozed:
      ++s.snoozes;
      break;
    case v1::TaskEvent::kTaskModified: {
      ++s.edits;
      const auto& m = event.task_modified();
      bool due_changed = std::find(m.changed().begin(), m.changed().end(), v1::TASK_FIELD_DUE_AT) !=
                         m.changed().end();
      if (due_changed && m.before().has_due_at() && m.after().has_due_at() &&
          seconds_of(m.after().due_at()) > seconds_of(m.before().due_at()))
        ++s.postponements;
      break;
    }
    case v1::TaskEvent::kTaskCompleted: {
      ++s.completions;
      double done = seconds_of(event.created_at());
      auto [hour, weekday] = s.local_hour_weekday(now);
      ++s.completions_by_hour[hour];
      ++s.completions_by_weekday[weekday];
      if (!task_before) break;
      auto& category = s.categories[task_before->category()];
      ++category.completed;
      if (!task_before->has_due_at()) break;
      double due = seconds_of(task_before->due_at());
      double lateness = (done - due) / 3600;
      ++s.completions_with_due;
      s.lateness_hours.add(lateness);
      if (lateness > 0) {
        ++s.late;
        ++category.late;
      }
      if (lateness > kVeryLateHours) ++s.very_late;
      double created = seconds_of(task_before->created_at());
      if (due > created) s.tension.add(std::clamp((done - created) / (due - created), 0.0, 2.0));
      break;
    }
    default:
      break;
  }
}

}  // namespace coach::projections
