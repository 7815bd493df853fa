#include "projections/lateness_risk.h"

#include <algorithm>
#include <cmath>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <cstdlib>

#include "base/time.h"

namespace coach::projections {

extern const char* const kBuiltinLatenessModelText;

namespace {

double days_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count() / 86400;
}

double logit(double p) {
  p = std::clamp(p, 0.01, 0.99);
  return std::log(p / (1 - p));
}

// The latest completion; among simultaneous ones the latest due (then the
// larger id), so that the map's order decides nothing.
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

const LogisticModel& builtin_lateness_model() {
  static const LogisticModel model = [] {
    auto parsed = LogisticModel::parse(kBuiltinLatenessModelText, kTaskRiskFeatureNames);
    if (!parsed) std::abort();  // the build embeds a checked file (tests parse it)
    return std::move(*parsed);
  }();
  return model;
}

void PopulationTally::add_user(const TaskBook& book, Clock::time_point now,
                               Clock::time_point since) {
  std::map<std::string_view, bool> seen;  // categories of this user's due tasks
  for (const auto& [id, t] : book.tasks()) {
    if (!t.has_due_at() || t.status() == v1::TASK_STATUS_DELETED) continue;
    if (from_timestamp(t.updated_at()) < since) continue;
    auto due = from_timestamp(t.due_at());
    if (due >= now) continue;  // its outcome is not known yet
    bool late = !t.has_completed_at() || from_timestamp(t.completed_at()) > due;
    auto& c = by_category_[t.category()];
    ++c.due, ++overall_.due;
    c.late += late, overall_.late += late;
    seen[t.category()] = true;
  }
  for (const auto& [category, yes] : seen) ++by_category_.find(category)->second.users;
  overall_.users += !seen.empty();
}

v1::PopulationRatesState PopulationTally::rates(Clock::time_point now) const {
  auto shrunk = [](const Counts& c) { return (c.late + 20 * kPriorLateRate) / (c.due + 20.0); };
  v1::PopulationRatesState out;
  *out.mutable_as_of() = to_timestamp(now);
  out.set_users(overall_.users);
  out.set_overall(shrunk(overall_));
  for (const auto& [category, c] : by_category_) {
    if (c.users < kMinUsersPerCategory) continue;
    auto* r = out.add_categories();
    r->set_category(category);
    r->set_rate(shrunk(c));
    r->set_users(c.users);
    r->set_due(c.due);
  }
  return out;
}

double population_rate(const v1::PopulationRatesState* rates, const std::string& category,
                       const LogisticModel& model, Clock::time_point now) {
  // Too few users say too much about each; rates counted later than `now`
  // know outcomes `now` did not.
  if (!rates || rates->users() < kMinUsersPerCategory || from_timestamp(rates->as_of()) > now)
    return neutral_population_rate(model);
  // Sorted by category (the tally's map order): a binary search.
  auto begin = rates->categories().begin(), end = rates->categories().end();
  auto it = std::lower_bound(
      begin, end, category,
      [](const v1::CategoryRate& r, const std::string& c) { return r.category() < c; });
  return it != end && it->category() == category ? it->rate() : rates->overall();
}

double neutral_population_rate(const LogisticModel& model) {
  return 1 / (1 + std::exp(-model.reference.at(0)));
}

namespace {

long count_of(double log1p_value) {
  return std::lround(std::expm1(log1p_value));
}
long percent(double share) {
  return std::lround(100 * share);
}

// Feature i of x in plain words.
std::string describe(size_t i, const TaskRiskFeatures& x, const v1::Task& task) {
  double v = x[i];
  auto category = task.category().empty() ? std::string("uncategorized") : task.category();
  auto days = [](double d) {
    return fmt::format("{:.0f} day{}", d, std::lround(d) == 1 ? "" : "s");
  };
  switch (i) {
    case 0:
      return fmt::format("others' tasks like this end late about {}% of the time",
                         percent(1 / (1 + std::exp(-v))));
    case 1:
      return fmt::format("about {}% of your tasks due so far ended late", percent(v));
    case 2:
      return v >= 0.5 ? "your most recent tasks ended late" : "your most recent tasks were on time";
    case 3: {
      // The counts back from the shrunk share: (late + 2 x user_late) / (n + 2).
      long n = count_of(x[4]);
      if (n == 0) return fmt::format("none of your {} tasks is due yet", category);
      long late = std::lround(v * static_cast<double>(n + 2) - 2 * x[1]);
      return fmt::format("{} of your {} {} tasks due so far ended late", late, n, category);
    }
    case 4:
      return fmt::format("{} {} tasks due so far", count_of(v), category);
    case 5:
      return v == 1   ? "your latest task due ended late"
             : v == 0 ? "your latest task due was on time"
                      : "none of your tasks is due yet";
    case 6:
      return fmt::format("{} of your tasks {} overdue", count_of(v),
                         count_of(v) == 1 ? "is" : "are");
    case 7:
      return fmt::format("{} of your {} tasks overdue", count_of(v), category);
    case 8:
      return fmt::format("{} since you last completed a task", days(std::expm1(v)));
    case 9:
      return v >= 0 ? fmt::format("you finish {:.1f} days early on average", v)
                    : fmt::format("you finish {:.1f} days late on average", -v);
    case 10:
      return v >= 0 ? fmt::format("your latest completion was {:.1f} days early", v)
                    : fmt::format("your latest completion was {:.1f} days late", -v);
    case 11:
      return v > 0 ? "you have completed tasks with due dates before"
                   : "you have not completed a task with a due date yet";
    case 12:
      return fmt::format("you have had {} tasks for {}", category, days(100 * v));
    case 13:
      return fmt::format("it was given {} from creation to due date", days(std::expm1(v)));
    case 14:
      return fmt::format("{} left until its due date", days(std::expm1(v)));
    case 15:
      return fmt::format("its priority is {:.0f}", 4 * v);
    case 16:
      return fmt::format("it was snoozed {} times", count_of(v));
    case 17:
      return fmt::format("it was edited {} times", count_of(v));
    case 18:
      return fmt::format("{} other tasks are due within 3 days of it", count_of(v));
    case 19:
      return fmt::format("{}% of your completions were more than 4 days late", percent(v));
    default:
      return fmt::format("you tend to finish {}% of the way to the deadline", percent(v));
  }
}

// Features that say one thing together, explained as one: their
// contributions are summed, and the first member's words say it. The model
// weighs correlated features against each other (the user's late share and
// the category's, fitted on users with one category, nearly cancel), so
// that one of them alone would explain nothing a user could follow.
struct Reason {
  std::vector<size_t> members;  // indices into kTaskRiskFeatureNames; the first speaks
};
const std::vector<Reason>& reasons_table() {
  static const std::vector<Reason> table = {
      {{3, 1, 2, 4, 5}},      // late so far: the category's share, the user's, recency
      {{6, 7}},               // overdue now
      {{9, 10, 11, 19, 20}},  // how the user finishes: days early, very late, tension
      {{0}},
      {{8}},
      {{12}},
      {{13}},
      {{14}},
      {{15}},
      {{16}},
      {{17}},
      {{18}},
  };
  return table;
}

}  // namespace

std::vector<std::string> explain_risk(const LogisticModel& model, const TaskRiskFeatures& x,
                                      const v1::Task& task, size_t count) {
  auto moves = model.contributions(x);
  const auto& table = reasons_table();
  std::vector<std::pair<double, size_t>> order;  // (move, reason)
  for (size_t r = 0; r < table.size(); ++r) {
    double move = 0;
    for (size_t i : table[r].members) move += moves[i];
    if (std::abs(move) >= 0.1) order.emplace_back(move, r);
  }
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return std::abs(a.first) > std::abs(b.first);
  });
  if (order.size() > count) order.resize(count);
  std::vector<std::string> reasons;
  for (const auto& [move, r] : order)
    reasons.push_back(describe(table[r].members.front(), x, task) +
                      (move > 0 ? " (raises the risk)" : " (lowers the risk)"));
  return reasons;
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
