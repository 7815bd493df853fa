#include "projections/metrics_report.h"

#include <fmt/core.h>

#include <cctype>

namespace coach::projections {
namespace {

void set_rate(std::optional<double> rate, v1::MetricsReport::Week& row,
              void (v1::MetricsReport::Week::*set)(double)) {
  if (rate) (row.*set)(*rate);
}

// The figures of one period (a week, a day); the caller names it.
v1::MetricsReport::Week period_row(const MetricsTally::Week& w) {
  v1::MetricsReport::Week row;
  const auto& s = w.sums;
  row.set_users(w.users);
  row.set_active_users(w.active_users);
  row.set_due(s.due);
  row.set_completed(s.completed);
  row.set_open_with_due(s.open_with_due);
  row.set_overdue(s.overdue);
  row.set_created(s.created);
  row.set_snoozes(s.snoozes);
  row.set_long_snooze_chains(s.long_snooze_chains);
  row.set_nudges_delivered(s.nudges_delivered);
  row.set_nudges_engaged(s.nudges_engaged);
  row.set_misfires(s.misfires);
  for (const auto& [reason, n] : s.misfires_by_reason)
    (*row.mutable_misfires_by_reason())[reason] = n;
  using W = v1::MetricsReport::Week;
  set_rate(s.completion_rate(), row, &W::set_completion_rate);
  set_rate(s.overdue_share(), row, &W::set_overdue_share);
  set_rate(s.snooze_rate(), row, &W::set_snooze_rate);
  set_rate(s.nudge_engagement(), row, &W::set_nudge_engagement);
  set_rate(s.misfire_rate(), row, &W::set_misfire_rate);
  return row;
}

v1::MetricsReport::Week week_row(IsoWeek week, const MetricsTally::Week& w) {
  auto row = period_row(w);
  row.set_week(iso_week_name(week));
  return row;
}

v1::MetricsReport::Week day_row(LocalDay day, const MetricsTally::Week& w) {
  auto row = period_row(w);
  row.set_day(local_day_name(day));
  return row;
}

v1::MetricsReport::Effect effect_row(const std::string& group, const EffectEstimate& e) {
  v1::MetricsReport::Effect row;
  row.set_group(group);
  row.set_users(e.users);
  row.set_sent(e.sent);
  row.set_held_back(e.held_back);
  row.set_acted_sent(e.acted_sent);
  row.set_acted_held_back(e.acted_held_back);
  if (e.effect) {
    row.set_effect(*e.effect);
    row.set_low90(*e.low);
    row.set_high90(*e.high);
  }
  return row;
}

std::string mode_name(v1::CoachingMode mode) {
  auto name = v1::CoachingMode_Name(mode);
  const std::string prefix = "COACHING_MODE_";
  if (name.rfind(prefix, 0) != 0) return std::to_string(static_cast<int>(mode));  // unknown
  std::string out = name.substr(prefix.size());
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::string iso_week_name(IsoWeek week) {
  return fmt::format("{}-W{:02}", week.year, week.week);
}

std::string local_day_name(LocalDay day) {
  return fmt::format("{:04}-{:02}-{:02}", day.year, day.month, day.day);
}

namespace {

// The last `count` periods of one user's `periods` as rows, oldest first.
template <class Period, class Row>
std::vector<v1::MetricsReport::Week> own_rows(const std::map<Period, WeekFigures>& periods,
                                              size_t count, const Row& row) {
  std::vector<v1::MetricsReport::Week> rows;
  for (auto it = periods.rbegin(); it != periods.rend() && rows.size() < count; ++it)
    rows.push_back(row(it->first, {1, it->second.active ? 1u : 0u, it->second}));
  std::reverse(rows.begin(), rows.end());
  return rows;
}

}  // namespace

std::vector<v1::MetricsReport::Week> own_weeks(const UserMetrics& metrics, size_t count) {
  return own_rows(metrics.weeks, count, week_row);
}

std::vector<v1::MetricsReport::Week> own_days(const UserMetrics& metrics, size_t count) {
  return own_rows(metrics.days, count, day_row);
}

ReportCarry report_carry(std::span<const v1::TaskEvent> log, Clock::time_point as_of) {
  return {metrics_carry(log, as_of), decisions_so_far(log, as_of)};
}

void MetricsReportBuilder::add(const std::string& user_id, std::span<const v1::TaskEvent> log) {
  add(user_id, report_carry(log, options_.to));
}

void MetricsReportBuilder::add(const std::string& user_id, const ReportCarry& carry) {
  metrics_.add(user_metrics(carry.metrics, options_.to));
  auto decisions = decided_by(carry.decisions, options_.to);
  std::erase_if(decisions, [&](const TrialDecision& d) { return d.at < options_.from; });
  trial_.add(user_id, decisions);
}

void MetricsReportBuilder::merge(const MetricsReportBuilder& other) {
  metrics_.merge(other.metrics_);
  trial_.merge(other.trial_);
}

v1::MetricsReport MetricsReportBuilder::build() const {
  return build(options_.from, options_.min_users);
}

v1::MetricsReport MetricsReportBuilder::build(Clock::time_point from, uint32_t min_users) const {
  v1::MetricsReport r;
  *r.mutable_from() = to_timestamp(from);
  *r.mutable_to() = to_timestamp(options_.to);
  r.set_min_users(min_users);
  r.set_users(metrics_.users());
  auto first = iso_week_of(from, "UTC"), last = iso_week_of(options_.to, "UTC");
  uint32_t suppressed = 0;
  auto enough = [&](uint32_t users) {
    if (users >= min_users) return true;
    ++suppressed;
    return false;
  };
  for (const auto& [week, w] : metrics_.weeks())
    // By active users: a week's figures are those of the users active in
    // it (mostly), so a week with one active user of many is left out.
    if (week >= first && week <= last && enough(w.active_users)) *r.add_weeks() = week_row(week, w);
  // Days apart: up to 28 small ones in every report would drown the count
  // of the groups that are drawn.
  auto first_day = local_day_of(from, "UTC");
  uint32_t suppressed_days = 0;
  for (const auto& [day, w] : metrics_.days()) {
    if (day < first_day) continue;
    if (w.active_users < min_users) {
      ++suppressed_days;
      continue;
    }
    *r.add_days() = day_row(day, w);
  }
  r.set_suppressed_days(suppressed_days);
  for (const auto& [week, c] : metrics_.cohorts()) {
    if (week < first || week > last || !enough(c.users)) continue;
    auto* row = r.add_cohorts();
    row->set_week(iso_week_name(week));
    row->set_users(c.users);
    for (size_t k = 0; k < c.active.size() && k < options_.cohort_weeks; ++k)
      row->add_retained(static_cast<double>(c.active[k]) / c.users);
    row->set_dropoff_known(c.dropoff_known);
    row->set_dropped_off(c.dropped_off);
  }
  for (const auto& [kind, rated] : metrics_.ratings()) {
    if (!enough(rated.users)) continue;
    auto* row = r.add_ratings();
    row->set_mode(kind.first);
    row->set_persona(kind.second);
    row->set_users(rated.users);
    row->set_ratings(rated.figures.count);
    row->set_mean_usefulness(rated.figures.count ? rated.figures.sum / rated.figures.count : 0);
  }
  for (const auto& [persona, engaged] : metrics_.persona_engagement()) {
    if (!enough(engaged.users)) continue;
    auto* row = r.add_personas();
    row->set_persona(persona);
    row->set_users(engaged.users);
    row->set_delivered(engaged.figures.delivered);
    row->set_engaged(engaged.figures.engaged);
  }
  // The trial: each arm of a group needs min_users users. The groups by
  // trigger (and by mode) split "all": were one left out alone, "all" minus
  // the others would give it, so then the smallest other goes too.
  auto publishable = [&](const EffectEstimate& e) {
    return e.users_sent >= min_users && e.users_held_back >= min_users;
  };
  auto overall = trial_.overall();
  if (overall.users == 0) {
  } else if (!publishable(overall)) {
    ++suppressed;
  } else {
    *r.add_effects() = effect_row("all", overall);
  }
  auto add_split = [&](std::vector<std::pair<std::string, EffectEstimate>> parts) {
    size_t left_out = 0;
    for (const auto& [name, e] : parts) left_out += !publishable(e);
    std::optional<size_t> smallest;
    if (left_out == 1)
      for (size_t i = 0; i < parts.size(); ++i)
        if (publishable(parts[i].second) &&
            (!smallest || parts[i].second.users < parts[*smallest].second.users))
          smallest = i;
    for (size_t i = 0; i < parts.size(); ++i) {
      if (!publishable(parts[i].second) || smallest == i) {
        ++suppressed;
        continue;
      }
      *r.add_effects() = effect_row(parts[i].first, parts[i].second);
    }
  };
  std::vector<std::pair<std::string, EffectEstimate>> triggers, modes;
  if (publishable(overall)) {
    for (const auto& [trigger, e] : trial_.by_trigger())
      triggers.push_back({"trigger:" + trigger, e});
    for (const auto& [mode, e] : trial_.by_mode()) modes.push_back({"mode:" + mode_name(mode), e});
  }
  add_split(std::move(triggers));
  add_split(std::move(modes));
  r.set_suppressed(suppressed);
  return r;
}

}  // namespace coach::projections
