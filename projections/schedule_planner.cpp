#include "projections/schedule_planner.h"

#include <date/tz.h>
#include <fmt/core.h>

#include <algorithm>
#include <map>
#include <optional>
#include <string_view>
#include <tuple>

#include "events/envelope.h"

namespace coach::projections {
namespace {

using Minutes = int64_t;  // minutes since the Unix epoch, UTC
using Interval = std::pair<Minutes, Minutes>;

Minutes floor_minutes(Clock::time_point t) {
  return std::chrono::floor<std::chrono::minutes>(t).time_since_epoch().count();
}
Minutes ceil_minutes(Clock::time_point t) {
  return std::chrono::ceil<std::chrono::minutes>(t).time_since_epoch().count();
}
Clock::time_point at(Minutes m) {
  return Clock::time_point(std::chrono::minutes(m));
}

const date::time_zone* zone_of(const std::string& name) {
  try {
    return date::locate_zone(name);
  } catch (const std::exception&) {
    return date::locate_zone("UTC");
  }
}

int local_hour(const date::time_zone* zone, Minutes m) {
  auto local = zone->to_local(date::sys_time<std::chrono::minutes>(std::chrono::minutes(m)));
  auto since_midnight = local - date::floor<date::days>(local);
  return static_cast<int>(std::chrono::duration_cast<std::chrono::hours>(since_midnight).count());
}

int64_t local_day(const date::time_zone* zone, Minutes m) {
  auto local = zone->to_local(date::sys_time<std::chrono::minutes>(std::chrono::minutes(m)));
  return date::floor<date::days>(local).time_since_epoch().count();
}

// The next instant after m at which a local hour begins.
Minutes next_local_hour(const date::time_zone* zone, Minutes m) {
  auto local = zone->to_local(date::sys_time<std::chrono::minutes>(std::chrono::minutes(m)));
  Minutes into_hour = ((local.time_since_epoch().count() % 60) + 60) % 60;
  return m + 60 - into_hour;
}

v1::WorkHours default_hours() {
  v1::WorkHours hours;
  for (int day = 1; day <= 5; ++day) {
    auto* w = hours.add_windows();
    w->set_weekday(static_cast<v1::Weekday>(day));
    w->set_start_minute(9 * 60);
    w->set_end_minute(17 * 60);
  }
  return hours;
}

// Removes [s, e) from sorted, disjoint intervals.
void subtract(std::vector<Interval>& free, Minutes s, Minutes e) {
  std::vector<Interval> out;
  for (const auto& [a, b] : free) {
    if (b <= s || a >= e) {
      out.emplace_back(a, b);
      continue;
    }
    if (a < s) out.emplace_back(a, s);
    if (e < b) out.emplace_back(e, b);
  }
  free = std::move(out);
}

// One task to place.
struct Job {
  const v1::Task* task = nullptr;
  int need = 0;
  std::optional<Minutes> due;
  Minutes target = 0, limit = 0;  // soft and hard end of its time
  Minutes earliest = 0;           // not before: the end of a snooze
  bool demanding = false;
};

struct Placement {
  std::vector<TimeBlock> blocks;
  std::map<std::string, int> short_minutes;  // task -> minutes not placed before its limit
  int total_short = 0;
  int unplanned = 0;  // of tasks without a due date, beyond the planning horizon
};

class Planner {
 public:
  Planner(const PlanRequest& request) : r_(request), zone_(zone_of(request.time_zone)) {
    now_ = ceil_minutes(request.now);
    // One plan for every horizon up to the planning horizon: its blocks
    // inside the request's horizon are shown.
    end_ = floor_minutes(request.now + std::max(request.horizon, kPlanningHorizon));
    view_end_ = floor_minutes(request.now + request.horizon);
    int busiest = *std::max_element(r_.rhythm.begin(), r_.rhythm.end());
    for (int h = 0; h < 24; ++h)
      rhythm_[static_cast<size_t>(h)] =
          busiest ? double(r_.rhythm[static_cast<size_t>(h)]) / busiest : 0.5;
  }

  std::vector<Interval> free_time() const {
    std::vector<Interval> free;
    for (const auto& [s, e] : work_intervals(r_.work_hours, r_.time_zone, at(now_), at(end_)))
      free.emplace_back(ceil_minutes(s), floor_minutes(e));
    for (const auto& b : r_.accepted) subtract(free, floor_minutes(b.start), ceil_minutes(b.end));
    return free;
  }

  std::vector<Job> jobs() const {
    std::map<std::string, int> accepted_minutes;
    for (const auto& b : r_.accepted)
      accepted_minutes[b.task_id] += static_cast<int>(ceil_minutes(b.end) - floor_minutes(b.start));
    std::vector<Job> out;
    for (const auto& task : r_.tasks) {
      auto status = effective_status(task, r_.now);
      if (status != v1::TASK_STATUS_PENDING && status != v1::TASK_STATUS_SNOOZED) continue;
      if (abandoned(task, r_.now)) continue;  // neither planned nor at risk
      Job job;
      job.task = &task;
      int estimate = task.estimated_minutes();
      if (estimate <= 0) {
        auto learned = r_.category_minutes.find(task.category());
        estimate = learned != r_.category_minutes.end() ? learned->second : kDefaultEstimateMinutes;
      }
      job.need = std::max(0, estimate - accepted_minutes[task.id()]);
      if (job.need == 0) continue;
      job.demanding = task.priority() >= 3 || estimate >= 90;
      job.limit = job.target = end_;
      // A snoozed task is put off until its snooze ends: nothing before.
      if (status == v1::TASK_STATUS_SNOOZED)
        job.earliest = ceil_minutes(coach::from_timestamp(task.snoozed_until()));
      if (task.has_due_at()) {
        Minutes due = floor_minutes(coach::from_timestamp(task.due_at()));
        job.due = due;
        if (due > now_) {
          auto risk = r_.lateness_risk.find(task.id());
          double p = risk != r_.lateness_risk.end() ? risk->second : r_.procrastination;
          Minutes buffer = std::min<Minutes>(
              static_cast<Minutes>(48 * 60 * std::clamp(p, 0.0, 1.0)), (due - now_) / 4);
          job.limit = std::min(end_, due);
          job.target = std::min(job.limit, due - buffer);
        }
      }
      out.push_back(job);
    }
    std::stable_sort(out.begin(), out.end(), [](const Job& a, const Job& b) {
      Minutes da = a.due.value_or(INT64_MAX), db = b.due.value_or(INT64_MAX);
      if (da != db) return da < db;
      if (a.task->priority() != b.task->priority()) return a.task->priority() > b.task->priority();
      return coach::from_timestamp(a.task->created_at()) <
             coach::from_timestamp(b.task->created_at());
    });
    return out;
  }

  Placement place(const std::vector<Job>& jobs, std::vector<Interval> free, bool prefer) const {
    Placement out;
    for (const auto& job : jobs) {
      int remaining = place_job(job, prefer, free, out.blocks);
      bool late = job.due && *job.due <= now_;
      if (!job.due) {  // no deadline to miss: only not planned within the horizon
        out.unplanned += remaining;
        continue;
      }
      if (remaining > 0 || late) {
        out.short_minutes[job.task->id()] = late ? job.need : remaining;
        out.total_short += late ? job.need : remaining;
      }
    }
    return out;
  }

  double preference(const Job& job, int hour) const {
    double p = r_.feedback.acceptance(hour);
    return job.demanding ? 0.6 * p + 0.4 * rhythm_[static_cast<size_t>(hour)] : p;
  }

  double confidence(const Job& job, Minutes start, Minutes end) const {
    int hour = local_hour(zone_, start);
    double slack = 1;
    if (job.due && job.target > now_)
      slack = std::clamp(double(job.target - end) / double(job.target - now_), 0.0, 1.0);
    double c = 0.5 * r_.feedback.acceptance(hour) + 0.25 * rhythm_[static_cast<size_t>(hour)] +
               0.25 * slack;
    return std::clamp(c, 0.05, 0.95);
  }

  Minutes view_end() const { return view_end_; }

 private:
  // Places the job chunk by chunk; returns the minutes still unplaced. A
  // chunk goes whole where a free stretch holds it; only what no stretch
  // holds whole is split.
  int place_job(const Job& job, bool prefer, std::vector<Interval>& free,
                std::vector<TimeBlock>& blocks) const {
    int remaining = job.need;
    while (remaining > 0) {
      Minutes length = std::min(remaining, r_.max_chunk_minutes);
      auto start = whole_fit(job, length, free, prefer);
      if (!start) {
        auto piece = earliest_piece(job, remaining, free);
        if (!piece) break;
        std::tie(start, length) = *piece;
      }
      subtract(free, *start, *start + length);
      blocks.push_back({job.task->id(), at(*start), at(*start + length),
                        confidence(job, *start, *start + length)});
      remaining -= static_cast<int>(length);
    }
    return remaining;
  }

  // The part of a free interval the job may use: after its snooze, before
  // its limit.
  std::optional<Interval> usable(const Job& job, const Interval& free) const {
    Minutes s = std::max(free.first, job.earliest), e = std::min(free.second, job.limit);
    if (s >= e) return std::nullopt;
    return Interval{s, e};
  }

  // Where `length` minutes of the job go in one piece: on the earliest local
  // day that has a free stretch holding them (so no work waits for a later
  // day while an earlier one has room, and what fits in one stretch is not
  // split). Plain: at that day's first such stretch. Preferred: at the start
  // of the day's free stretches or a full local hour in them, the one that
  // ends by the job's target and that it prefers most (the earliest on ties).
  std::optional<Minutes> whole_fit(const Job& job, Minutes length,
                                   const std::vector<Interval>& free, bool prefer) const {
    size_t i = 0;
    for (; i < free.size(); ++i) {
      auto u = usable(job, free[i]);
      if (u && u->second - u->first >= length) break;
    }
    if (i == free.size()) return std::nullopt;
    Minutes first = usable(job, free[i])->first;
    if (!prefer) return first;
    const int64_t day = local_day(zone_, first);
    Minutes best = first;
    double best_score = placement_score(job, first, length);
    for (; i < free.size(); ++i) {
      auto u = usable(job, free[i]);
      if (!u) continue;
      if (local_day(zone_, u->first) > day) break;
      for (Minutes s = u->first; s + length <= u->second; s = next_local_hour(zone_, s)) {
        if (local_day(zone_, s) > day) break;
        double score = placement_score(job, s, length);
        if (score > best_score + 1e-9) best = s, best_score = score;
      }
    }
    return best;
  }

  // Ending by the target outweighs any hour preference.
  double placement_score(const Job& job, Minutes start, Minutes length) const {
    return (start + length <= job.target ? 2.0 : 0.0) + preference(job, local_hour(zone_, start));
  }

  // When no stretch holds a whole chunk: the earliest stretch that takes at
  // least min_chunk minutes (or all that remains), as much as it holds up
  // to max_chunk. Returns its start and length.
  std::optional<std::pair<Minutes, Minutes>> earliest_piece(
      const Job& job, int remaining, const std::vector<Interval>& free) const {
    for (const auto& iv : free) {
      auto u = usable(job, iv);
      if (!u) continue;
      Minutes take = std::min<Minutes>({u->second - u->first, remaining, r_.max_chunk_minutes});
      if (take >= r_.min_chunk_minutes || take >= remaining) return std::pair{u->first, take};
    }
    return std::nullopt;
  }

  const PlanRequest& r_;
  const date::time_zone* zone_;
  Minutes now_ = 0, end_ = 0;  // end_: of the planning horizon
  Minutes view_end_ = 0;       // of the request's horizon: blocks shown end by it
  std::array<double, 24> rhythm_{};
};

// Work planned for one task, for the suggestions: what deferring it frees.
struct PlannedWork {
  const Job* job = nullptr;
  std::vector<std::pair<Minutes, int>> blocks;  // start, minutes

  int minutes_before(Minutes due) const {
    int minutes = 0;
    for (const auto& [start, length] : blocks)
      if (start < due) minutes += length;
    return minutes;
  }
};

// The planned work of each priority, lowest priority first; within a
// priority by task id. Built once per plan: the suggestion of every task at
// risk reads it, so it must not be rebuilt (or searched by id) per task.
using PlannedByPriority = std::map<int, std::vector<PlannedWork>>;

// Defer which, shorten which, drop which: the answer to "too much to do".
std::string suggestion_for(const Job& job, int short_minutes, Minutes now,
                           const PlannedByPriority& planned) {
  if (job.due && *job.due <= now) return "already past due: do it first, or move its due date";
  // Lower-priority work planned before this task's due could make room: the
  // lowest priority first, and within a priority the most minutes first.
  int freed = 0;
  std::string list;
  std::vector<std::pair<int, const PlannedWork*>> room;
  for (const auto& [priority, works] : planned) {
    if (priority >= job.task->priority() || freed >= short_minutes) break;
    room.clear();
    for (const auto& work : works)
      if (int minutes = work.minutes_before(*job.due); minutes > 0)
        room.emplace_back(minutes, &work);
    std::stable_sort(room.begin(), room.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });
    for (const auto& [minutes, work] : room) {
      if (freed >= short_minutes) break;
      freed += minutes;
      list += (list.empty() ? "\"" : ", \"") + work->job->task->title() + "\"";
    }
  }
  if (freed >= short_minutes)
    return fmt::format("defer {} (lower priority) until after its due: frees {} min", list, freed);
  if (short_minutes * 2 <= job.need)
    return fmt::format("shorten it by {} min (plan {} of its {} min)", short_minutes,
                       job.need - short_minutes, job.need);
  return fmt::format(
      "drop it or move its due date: it needs {} min more than the work time left before its due",
      short_minutes);
}

PlannedByPriority planned_by_priority(const std::vector<Job>& jobs,
                                      const std::vector<TimeBlock>& blocks) {
  std::map<std::string_view, PlannedWork> by_id;
  for (const auto& job : jobs) by_id[job.task->id()].job = &job;
  for (const auto& b : blocks)
    by_id[b.task_id].blocks.emplace_back(
        floor_minutes(b.start), static_cast<int>(floor_minutes(b.end) - floor_minutes(b.start)));
  PlannedByPriority out;
  for (auto& [id, work] : by_id)
    if (!work.blocks.empty()) out[work.job->task->priority()].push_back(std::move(work));
  return out;
}

}  // namespace

double HourFeedback::acceptance(int hour) const {
  auto h = static_cast<size_t>(hour);
  return (accepted[h] + 1.0) / (accepted[h] + rejected[h] + 2.0);
}

std::unordered_map<std::string, int> learned_estimates(const TaskBook& book) {
  std::unordered_map<std::string, std::vector<int>> seen;
  for (const auto& [id, task] : book.tasks()) {
    if (task.estimated_minutes() > 0) seen[task.category()].push_back(task.estimated_minutes());
  }
  std::unordered_map<std::string, int> out;
  for (auto& [category, minutes] : seen) {
    std::nth_element(minutes.begin(), minutes.begin() + static_cast<long>(minutes.size() / 2),
                     minutes.end());
    out[category] = minutes[minutes.size() / 2];
  }
  return out;
}

std::vector<std::pair<Clock::time_point, Clock::time_point>> work_intervals(
    const v1::WorkHours& hours, const std::string& time_zone, Clock::time_point from,
    Clock::time_point to) {
  const auto* zone = zone_of(time_zone);
  const v1::WorkHours& windows = hours.windows_size() ? hours : default_hours();
  std::vector<std::pair<Clock::time_point, Clock::time_point>> out;
  auto first = date::floor<date::days>(zone->to_local(date::floor<std::chrono::seconds>(from))) -
               date::days(1);
  for (auto day = first;; day += date::days(1)) {
    if (zone->to_sys(day, date::choose::earliest) > to) break;
    auto weekday = date::weekday(day).iso_encoding();  // Monday 1 .. Sunday 7
    for (const auto& w : windows.windows()) {
      if (static_cast<unsigned>(w.weekday()) != weekday) continue;
      Clock::time_point s =
          zone->to_sys(day + std::chrono::minutes(w.start_minute()), date::choose::earliest);
      Clock::time_point e =
          zone->to_sys(day + std::chrono::minutes(w.end_minute()), date::choose::latest);
      s = std::max(s, from), e = std::min(e, to);
      if (s < e) out.emplace_back(s, e);
    }
  }
  std::sort(out.begin(), out.end());
  std::vector<std::pair<Clock::time_point, Clock::time_point>> merged;
  for (const auto& iv : out) {
    if (!merged.empty() && iv.first <= merged.back().second)
      merged.back().second = std::max(merged.back().second, iv.second);
    else
      merged.push_back(iv);
  }
  return merged;
}

int local_hour_in(const std::string& time_zone, Clock::time_point t) {
  return local_hour(zone_of(time_zone), floor_minutes(t));
}

int64_t local_day_in(const std::string& time_zone, Clock::time_point t) {
  return local_day(zone_of(time_zone), floor_minutes(t));
}

Plan plan_schedule(const PlanRequest& request) {
  Planner planner(request);
  auto free = planner.free_time();
  auto jobs = planner.jobs();
  auto preferred = planner.place(jobs, free, /*prefer=*/true);
  auto earliest = planner.place(jobs, free, /*prefer=*/false);
  auto& chosen = std::tie(preferred.total_short, preferred.unplanned) <=
                         std::tie(earliest.total_short, earliest.unplanned)
                     ? preferred
                     : earliest;

  // The plan is made for the planning horizon; what is shown and counted is
  // the request's horizon.
  Plan plan;
  const Minutes view_end = planner.view_end();
  for (const auto& [s, e] : free)
    if (s < view_end) plan.free_minutes += static_cast<int>(std::min(e, view_end) - s);
  std::sort(chosen.blocks.begin(), chosen.blocks.end(),
            [](const TimeBlock& a, const TimeBlock& b) { return a.start < b.start; });
  std::map<std::string, int> shown_minutes;  // task -> minutes of its blocks shown
  for (const auto& b : chosen.blocks) {
    if (floor_minutes(b.end) > view_end) continue;
    int minutes = static_cast<int>(floor_minutes(b.end) - floor_minutes(b.start));
    plan.planned_minutes += minutes;
    shown_minutes[b.task_id] += minutes;
    plan.blocks.push_back(b);
  }
  for (const auto& job : jobs)
    if (!job.due) plan.unplanned_minutes += job.need - shown_minutes[job.task->id()];
  Minutes now = ceil_minutes(request.now);
  const auto planned = planned_by_priority(jobs, chosen.blocks);
  for (const auto& job : jobs) {
    auto risk = request.lateness_risk.find(job.task->id());
    double p = risk != request.lateness_risk.end() ? risk->second : -1;
    auto it = chosen.short_minutes.find(job.task->id());
    if (it != chosen.short_minutes.end()) {
      plan.at_risk.push_back({job.task->id(), job.due ? at(*job.due) : Clock::time_point{},
                              it->second, p, suggestion_for(job, it->second, now, planned)});
    } else if (job.due && p >= kLikelyLate) {
      plan.at_risk.push_back(
          {job.task->id(), at(*job.due), 0, p,
           fmt::format("likely to end late ({:.0f}%): start early, with its first block",
                       100 * p)});
    }
  }
  return plan;
}

}  // namespace coach::projections
