#include "projections/lateness_risk.h"

#include <algorithm>
#include <cmath>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "base/time.h"

namespace coach::projections {
namespace {

double days_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count() / 86400;
}

double logit(double p) {
  p = std::clamp(p, 0.01, 0.99);
  return std::log(p / (1 - p));
}

// The latest completion; among simultaneous ones the latest due (then the
// smaller id), so that the map's order decides nothing.
using LatestKey = std::tuple<Clock::time_point, Clock::time_point, std::string_view>;

RiskHistory history_of(const TaskBook& book, const v1::Task& task, Clock::time_point now) {
  RiskHistory h;
  std::vector<std::pair<Clock::time_point, bool>> due_tasks;  // (due, late)
  std::optional<LatestKey> latest;
  auto task_due = from_timestamp(task.due_at());
  for (const auto& [id, t] : book.tasks()) {
    if (id == task.id() || t.status() == v1::TASK_STATUS_DELETED) continue;
    auto created = from_timestamp(t.created_at());
    if (created > now) continue;  // not known yet: a book ahead of `now` cannot leak
    bool same_category = t.category() == task.category();
    if (same_category && (!h.category_first || created < *h.category_first))
      h.category_first = created;
    bool done = t.status() == v1::TASK_STATUS_COMPLETED && from_timestamp(t.completed_at()) <= now;
    if (done) {
      auto at = from_timestamp(t.completed_at());
      if (!h.last_done || at > *h.last_done) h.last_done = at;
    }
    if (!t.has_due_at()) continue;
    auto due = from_timestamp(t.due_at());
    if (done) {
      auto at = from_timestamp(t.completed_at());
      double early = std::clamp(days_between(at, due), -14.0, 14.0);
      h.early_sum += early;
      ++h.early_count;
      h.very_late += days_between(due, at) > 4;
      if (due > created)
        h.tension_sum +=
            std::clamp(days_between(created, at) / days_between(created, due), 0.0, 2.0);
      auto key = LatestKey(at, due, id);
      if (!latest || key > *latest) {
        latest = key;
        h.early_last = early;
      }
    }
    if (!done && due >= now && due >= task_due - kDueCloseWindow &&
        due <= task_due + kDueCloseWindow)
      ++h.due_close;
    if (due >= now) continue;
    bool late = !done || from_timestamp(t.completed_at()) > due;
    due_tasks.emplace_back(due, late);
    if (!done) ++h.overdue_open;
    if (!same_category) continue;
    ++h.category_due;
    h.category_late += late;
    if (!done) ++h.category_overdue_open;
  }
  std::sort(due_tasks.begin(), due_tasks.end());
  for (const auto& [due, late] : due_tasks) {
    ++h.due;
    h.late += late;
    h.recent = 0.5 * h.recent + 0.5 * (late ? 1 : 0);
  }
  if (!due_tasks.empty()) h.last_late = due_tasks.back().second;
  return h;
}

}  // namespace

void PopulationRates::add(const std::string& category, Clock::time_point due, bool late) {
  by_category_[category].emplace_back(due, late);
}

void PopulationRates::seal() {
  for (auto& [category, tasks] : by_category_) {
    std::sort(tasks.begin(), tasks.end());
    auto& cumulative = late_before_[category];
    cumulative.assign(1, 0);
    for (const auto& [due, late] : tasks) cumulative.push_back(cumulative.back() + late);
  }
}

double PopulationRates::rate(const std::string& category, Clock::time_point now) const {
  auto it = by_category_.find(category);
  auto sums = late_before_.find(category);
  if (it == by_category_.end() || sums == late_before_.end()) return kPriorLateRate;
  const auto& tasks = it->second;
  auto n = static_cast<size_t>(
      std::lower_bound(tasks.begin(), tasks.end(), std::make_pair(now, false)) - tasks.begin());
  return (sums->second[n] + 20 * kPriorLateRate) / (static_cast<double>(n) + 20);
}

void add_population(PopulationRates& rates, const TaskBook& book) {
  for (const auto& [id, t] : book.tasks()) {
    if (!t.has_due_at() || t.status() == v1::TASK_STATUS_DELETED) continue;
    auto due = from_timestamp(t.due_at());
    bool on_time = t.has_completed_at() && from_timestamp(t.completed_at()) <= due;
    rates.add(t.category(), due, !on_time);
  }
}

TaskRiskFeatures risk_features(const RiskHistory& h, const v1::Task& task, Clock::time_point now,
                               double population_rate) {
  double user_late = (h.late + 2 * kPriorLateRate) / (h.due + 2.0);
  double category_late = (h.category_late + 2 * user_late) / (h.category_due + 2.0);
  auto created = from_timestamp(task.created_at());
  auto due = from_timestamp(task.due_at());
  double since_done = days_between(h.last_done.value_or(created), now);
  auto log_days = [](double days) { return std::log1p(std::max(0.0, days)); };
  auto log_count = [](double n) { return std::log1p(n); };
  double done = h.early_count;
  return TaskRiskFeatures{
      logit(population_rate),
      user_late,
      h.recent,
      category_late,
      log_count(h.category_due),
      h.last_late ? (*h.last_late ? 1.0 : 0.0) : 0.5,
      log_count(h.overdue_open),
      log_count(h.category_overdue_open),
      log_days(since_done),
      done ? h.early_sum / done : 0.0,
      h.early_last.value_or(0.0),
      done ? 1.0 : 0.0,
      std::max(0.0, days_between(std::min(h.category_first.value_or(created), created), now)) / 100,
      log_days(days_between(created, due)),
      log_days(days_between(now, due)),
      task.priority() / 4.0,
      log_count(task.snooze_count()),
      log_count(task.edit_count()),
      log_count(h.due_close),
      done ? h.very_late / done : 0.0,
      done ? h.tension_sum / done : 0.0,
  };
}

std::optional<TaskRiskFeatures> risk_features(const TaskBook& book, const v1::Task& task,
                                              Clock::time_point now, double population_rate) {
  if (!task.has_due_at()) return std::nullopt;
  return risk_features(history_of(book, task, now), task, now, population_rate);
}

std::optional<double> task_risk(const LogisticModel& model, const TaskBook& book,
                                const v1::Task& task, Clock::time_point now,
                                double population_rate) {
  auto status = effective_status(task, now);
  if (status != v1::TASK_STATUS_PENDING && status != v1::TASK_STATUS_SNOOZED) return std::nullopt;
  if (task.has_due_at() && from_timestamp(task.due_at()) < now) return 1.0;
  auto x = risk_features(book, task, now, population_rate);
  if (!x) return std::nullopt;
  return model.score(*x);
}

}  // namespace coach::projections
