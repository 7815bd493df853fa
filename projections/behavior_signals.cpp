#include "projections/behavior_signals.h"
#include "projections/success_metrics.h"
#include "projections/task_series.h"
#include "schema/snapshots.pb.h"

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
    zone_name_ = iana_name;
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

namespace {

v1::RunningStatsState stats_state(const RunningStats& r) {
  v1::RunningStatsState s;
  s.set_count(r.count);
  s.set_mean(r.mean);
  s.set_m2(r.m2);
  return s;
}

RunningStats stats_of(const v1::RunningStatsState& s) {
  return {s.count(), s.mean(), s.m2()};
}

}  // namespace

v1::BehaviorSignalsState BehaviorSignals::to_state() const {
  v1::BehaviorSignalsState s;
  s.set_tasks_created(tasks_created);
  s.set_completions(completions);
  s.set_completions_with_due(completions_with_due);
  s.set_late(late);
  s.set_very_late(very_late);
  s.set_snoozes(snoozes);
  s.set_edits(edits);
  s.set_postponements(postponements);
  s.set_missed(missed);
  *s.mutable_lateness_hours() = stats_state(lateness_hours);
  *s.mutable_tension() = stats_state(tension);
  *s.mutable_gap_hours() = stats_state(gap_hours);
  s.set_longest_gap_hours(longest_gap_hours);
  s.set_last_event_seconds(last_event_seconds);
  for (auto n : completions_by_hour) s.add_completions_by_hour(n);
  for (auto n : completions_by_weekday) s.add_completions_by_weekday(n);
  auto put = [](const auto& counts, auto& into) {
    for (const auto& [name, c] : counts) {
      auto& out = into[name];
      out.set_created(c.created);
      out.set_completed(c.completed);
      out.set_late(c.late);
      out.set_missed(c.missed);
    }
  };
  put(categories, *s.mutable_categories());
  put(series, *s.mutable_series());
  s.set_time_zone(zone_name_);
  return s;
}

BehaviorSignals BehaviorSignals::from_state(const v1::BehaviorSignalsState& s) {
  BehaviorSignals b;
  b.set_time_zone(s.time_zone().empty() ? "UTC" : s.time_zone());
  b.tasks_created = s.tasks_created();
  b.completions = s.completions();
  b.completions_with_due = s.completions_with_due();
  b.late = s.late();
  b.very_late = s.very_late();
  b.snoozes = s.snoozes();
  b.edits = s.edits();
  b.postponements = s.postponements();
  b.missed = s.missed();
  b.lateness_hours = stats_of(s.lateness_hours());
  b.tension = stats_of(s.tension());
  b.gap_hours = stats_of(s.gap_hours());
  b.longest_gap_hours = s.longest_gap_hours();
  b.last_event_seconds = s.last_event_seconds();
  for (int i = 0; i < s.completions_by_hour_size() && i < 24; ++i)
    b.completions_by_hour[static_cast<size_t>(i)] = s.completions_by_hour(i);
  for (int i = 0; i < s.completions_by_weekday_size() && i < 7; ++i)
    b.completions_by_weekday[static_cast<size_t>(i)] = s.completions_by_weekday(i);
  auto counts = [](const v1::CategoryCountsState& c) {
    return CategoryCounts{c.created(), c.completed(), c.late(), c.missed()};
  };
  for (const auto& [name, c] : s.categories()) b.categories[name] = counts(c);
  for (const auto& [name, c] : s.series()) b.series[name] = counts(c);
  return b;
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

namespace {

// A note, or an edit of the tags alone: the user filing their tasks.
bool filing_only(const v1::TaskEvent& event) {
  if (event.has_task_note_added()) return true;
  if (!event.has_task_modified()) return false;
  const auto& changed = event.task_modified().changed();
  return !changed.empty() && std::all_of(changed.begin(), changed.end(),
                                         [](int field) { return field == v1::TASK_FIELD_TAGS; });
}

}  // namespace

void evolve(BehaviorSignals& s, const v1::TaskEvent& event, const v1::Task* task_before) {
  if (filing_only(event)) return;  // learns nothing from tags and notes
  int64_t now = event.created_at().seconds();
  // The user's activity: coach's own sends, misses and adaptations are not.
  if (user_initiated(event)) {
    if (s.last_event_seconds != 0 && now >= s.last_event_seconds) {
      double gap = static_cast<double>(now - s.last_event_seconds) / 3600;
      s.gap_hours.add(gap);
      s.longest_gap_hours = std::max(s.longest_gap_hours, gap);
    }
    s.last_event_seconds = std::max(s.last_event_seconds, now);
  }

  switch (event.payload_case()) {
    case v1::TaskEvent::kTaskCreated:
      ++s.tasks_created;
      ++s.categories[event.task_created().fields().category()].created;
      if (event.task_created().has_recurrence())
        ++s.series[event.task_created().recurrence().series_id()].created;
      break;
    case v1::TaskEvent::kTaskSnoozed:
      ++s.snoozes;
      break;
    case v1::TaskEvent::kTaskMissed:
      ++s.missed;
      if (!task_before) break;
      ++s.categories[task_before->category()].missed;
      if (task_before->has_recurrence()) ++s.series[task_before->recurrence().series_id()].missed;
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
      CategoryCounts* series = task_before->has_recurrence()
                                   ? &s.series[task_before->recurrence().series_id()]
                                   : nullptr;
      if (series) ++series->completed;
      if (!task_before->has_due_at()) break;
      double due = seconds_of(task_before->due_at());
      double lateness = (done - due) / 3600;
      ++s.completions_with_due;
      s.lateness_hours.add(lateness);
      if (lateness > 0) {
        ++s.late;
        ++category.late;
        if (series) ++series->late;
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
