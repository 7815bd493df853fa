#include "projections/risk_tracker.h"

#include <algorithm>
#include <iterator>
#include <vector>

#include "base/time.h"

namespace coach::projections {
namespace {

double days_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count() / 86400;
}

double days_early(Clock::time_point done, Clock::time_point due) {
  return std::clamp(days_between(done, due), -14.0, 14.0);
}

template <typename Set, typename Key>
void erase_one(Set& set, const Key& key) {
  if (auto it = set.find(key); it != set.end()) set.erase(it);
}

// Whether `task` still says what `f` does (without building its facts).
bool unchanged(const auto& f, const v1::Task& task) {
  if (task.status() == v1::TASK_STATUS_DELETED || task.category() != f.category) return false;
  if (task.has_due_at() != f.due.has_value()) return false;
  if (f.due && from_timestamp(task.due_at()) != *f.due) return false;
  bool done = task.status() == v1::TASK_STATUS_COMPLETED;
  if (done != f.done.has_value()) return false;
  return !done || from_timestamp(task.completed_at()) == *f.done;
}

}  // namespace

std::optional<RiskTracker::Facts> RiskTracker::facts_of(const v1::Task* task) {
  if (!task || task->status() == v1::TASK_STATUS_DELETED) return std::nullopt;
  Facts f;
  f.category = task->category();
  f.created = from_timestamp(task->created_at());
  if (task->has_due_at()) f.due = from_timestamp(task->due_at());
  if (task->status() == v1::TASK_STATUS_COMPLETED) f.done = from_timestamp(task->completed_at());
  return f;
}

RiskTracker RiskTracker::of(const TaskBook& book, Clock::time_point now, Clock::time_point since) {
  RiskTracker tracker;
  tracker.as_of_ = now;
  for (const auto& [id, task] : book.tasks()) {
    if (from_timestamp(task.updated_at()) < since) continue;
    if (auto f = facts_of(&task)) tracker.facts_.emplace(id, std::move(*f));
  }
  tracker.rebuild();
  tracker.rebuilds_ = 0;
  return tracker;
}

void RiskTracker::rebuild() {
  sums_ = {};
  not_yet_due_.clear();
  open_dues_.clear();
  done_at_.clear();
  done_with_due_.clear();
  created_by_category_.clear();
  std::vector<std::pair<std::pair<Clock::time_point, bool>, const Facts*>> due;
  for (const auto& [id, f] : facts_) {
    add(id, f, /*count_outcome=*/false);
    if (f.due && *f.due < as_of_) due.push_back({{*f.due, f.late()}, &f});
  }
  // By (due, late) alone: tasks equal in both count the same.
  std::sort(due.begin(), due.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [key, f] : due) add_outcome(sums_, *f);
  stale_ = false;
  ++rebuilds_;
}

bool RiskTracker::add_outcome(Sums& sums, const Facts& f) {
  bool late = f.late();
  auto key = std::make_pair(*f.due, late);
  bool ordered = !sums.last_due || !(key < *sums.last_due);
  auto& user = sums.user;
  ++user.due;
  user.late += late;
  user.recent = 0.5 * user.recent + 0.5 * (late ? 1 : 0);
  if (ordered) {
    sums.last_due = key;
    user.last_late = late;
  }
  auto& category = sums.categories[f.category];
  ++category.due;
  category.late += late;
  if (!f.done) {
    ++user.overdue_open;
    ++category.overdue_open;
  }
  return ordered;
}

void RiskTracker::add(const std::string& id, const Facts& f, bool count_outcome) {
  created_by_category_[f.category].insert(f.created);
  if (f.done) done_at_.insert(*f.done);
  if (!f.due) return;
  if (f.done) {
    auto& user = sums_.user;
    user.early_sum += days_early(*f.done, *f.due);
    ++user.early_count;
    user.very_late += days_between(*f.due, *f.done) > 4;
    if (*f.due > f.created)
      user.tension_sum +=
          std::clamp(days_between(f.created, *f.done) / days_between(f.created, *f.due), 0.0, 2.0);
    done_with_due_.emplace(*f.done, *f.due, id);
  } else {
    open_dues_.insert(*f.due);
  }
  if (*f.due >= as_of_)
    not_yet_due_.emplace(*f.due, id);
  else if (count_outcome && !add_outcome(sums_, f))
    stale_ = true;
}

void RiskTracker::remove(const std::string& id, const Facts& f, bool count_outcome) {
  if (auto it = created_by_category_.find(f.category); it != created_by_category_.end()) {
    erase_one(it->second, f.created);
    if (it->second.empty()) created_by_category_.erase(it);
  }
  if (f.done) erase_one(done_at_, *f.done);
  if (!f.due) return;
  if (f.done) {
    auto& user = sums_.user;
    user.early_sum -= days_early(*f.done, *f.due);
    --user.early_count;
    user.very_late -= days_between(*f.due, *f.done) > 4;
    if (*f.due > f.created)
      user.tension_sum -=
          std::clamp(days_between(f.created, *f.done) / days_between(f.created, *f.due), 0.0, 2.0);
    done_with_due_.erase(std::make_tuple(*f.done, *f.due, id));
  } else {
    erase_one(open_dues_, *f.due);
  }
  if (*f.due >= as_of_)
    not_yet_due_.erase(std::make_pair(*f.due, id));
  else if (count_outcome)
    stale_ = true;  // the recency average cannot take one back
}

void RiskTracker::update(const std::string& id, const v1::Task* task, Clock::time_point at) {
  advance(at);
  auto known = facts_.find(id);
  if (known != facts_.end() && task && unchanged(known->second, *task)) return;  // most events
  auto now = facts_of(task);
  if (known == facts_.end() && !now) return;
  // Completing an overdue task keeps its outcome (late): only whether it
  // is still open changes, and nothing needs counting again.
  bool same_outcome = known != facts_.end() && now && known->second.due && now->due &&
                      *known->second.due == *now->due && *now->due < as_of_ &&
                      known->second.late() == now->late() &&
                      known->second.category == now->category;
  if (known != facts_.end()) remove(id, known->second, !same_outcome);
  if (now) add(id, *now, !same_outcome);
  if (same_outcome && !known->second.done != !now->done) {
    int step = now->done ? -1 : 1;
    auto& category = sums_.categories[now->category];
    sums_.user.overdue_open += step;
    category.overdue_open += step;
  }
  if (now)
    facts_.insert_or_assign(id, std::move(*now));
  else
    facts_.erase(id);
  if (stale_) rebuild();
}

std::set<std::pair<Clock::time_point, std::string>>::const_iterator RiskTracker::pass_due_dates(
    Sums& sums, Clock::time_point now) const {
  auto it = not_yet_due_.begin();
  while (it != not_yet_due_.end() && it->first < now) {
    // Tasks due at the same instant count on time before late, as sorting
    // (due, late) pairs does.
    auto next = std::next(it);
    if (next == not_yet_due_.end() || next->first != it->first) {  // alone at its instant
      add_outcome(sums, facts_.at(it->second));
      it = next;
      continue;
    }
    auto group_end = it;
    std::vector<const Facts*> group;
    for (; group_end != not_yet_due_.end() && group_end->first == it->first; ++group_end)
      group.push_back(&facts_.at(group_end->second));
    std::stable_partition(group.begin(), group.end(), [](const Facts* f) { return !f->late(); });
    for (const Facts* f : group) add_outcome(sums, *f);
    it = group_end;
  }
  return it;
}

void RiskTracker::advance(Clock::time_point now) {
  if (now <= as_of_) return;
  auto passed = pass_due_dates(sums_, now);
  not_yet_due_.erase(not_yet_due_.begin(), passed);
  as_of_ = now;
}

RiskTracker::Sums RiskTracker::at(Clock::time_point now) const {
  Sums sums = sums_;
  if (now > as_of_) pass_due_dates(sums, now);
  return sums;
}

std::optional<TaskRiskFeatures> RiskTracker::features(const Sums& sums, const v1::Task& task,
                                                      Clock::time_point now,
                                                      double population_rate) const {
  now = std::max(now, as_of_);  // the sums are as of no earlier (at())
  auto self = facts_of(&task);
  if (!self || !self->due || self->done || *self->due < now) return std::nullopt;
  RiskHistory h = sums.user;
  if (auto c = sums.categories.find(task.category()); c != sums.categories.end()) {
    h.category_due = c->second.due;
    h.category_late = c->second.late;
    h.category_overdue_open = c->second.overdue_open;
  }
  if (!done_at_.empty()) h.last_done = *done_at_.rbegin();
  if (!done_with_due_.empty()) {
    const auto& [done, due, id] = *done_with_due_.rbegin();
    h.early_last = days_early(done, due);
  }
  if (auto c = created_by_category_.find(task.category()); c != created_by_category_.end())
    h.category_first = *c->second.begin();
  auto from = std::max(now, *self->due - kDueCloseWindow);
  auto to = *self->due + kDueCloseWindow;
  if (from <= to) {
    auto close = std::distance(open_dues_.lower_bound(from), open_dues_.upper_bound(to));
    auto known = facts_.find(task.id());  // the task itself, when counted among them
    bool counted = known != facts_.end() && known->second.due && !known->second.done &&
                   *known->second.due >= from && *known->second.due <= to;
    h.due_close = static_cast<uint32_t>(close) - (counted ? 1 : 0);
  }
  return risk_features(h, task, now, population_rate);
}

std::optional<TaskRisk> RiskTracker::assess(const Sums& sums, const LogisticModel& model,
                                            const v1::Task& task, Clock::time_point now,
                                            double population_rate) const {
  now = std::max(now, as_of_);  // the sums are as of no earlier (at())
  auto status = effective_status(task, now);
  if (status != v1::TASK_STATUS_PENDING && status != v1::TASK_STATUS_SNOOZED) return std::nullopt;
  if (!task.has_due_at()) return std::nullopt;
  if (from_timestamp(task.due_at()) < now) return TaskRisk{1, {"it is past its due date"}};
  auto x = features(sums, task, now, population_rate);
  if (!x) return std::nullopt;
  return TaskRisk{model.score(*x), explain_risk(model, *x, task)};
}

}  // namespace coach::projections
