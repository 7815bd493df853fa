#include "projections/task_series.h"

#include <algorithm>
#include <string>

#include "base/ids.h"
#include "projections/recurrence.h"
#include "projections/task_book.h"

namespace coach::projections {
namespace {

using std::chrono::seconds;

Error invalid(std::string why) {
  return make_error(Errc::invalid_argument, std::move(why));
}

Clock::time_point at_second(const google::protobuf::Timestamp& t) {
  return Clock::time_point(seconds(t.seconds()));
}

// The first rule instant later than `after`, or nullopt when the rule ends.
Result<std::optional<Clock::time_point>> next_by_rule(const v1::TaskRecurrence& rule,
                                                      Clock::time_point after) {
  auto start = wall_clock(at_second(rule.series_start()), rule.zone());
  if (!start) return start.error();
  auto next = occurrences({rule.rrule(), *start, rule.zone()}, after + seconds(1), 1);
  if (!next) return next.error();
  if (next->empty()) return std::optional<Clock::time_point>{};
  return std::optional<Clock::time_point>{next->front()};
}

// `days` days after `finished` on the wall clock of the rule's zone, at the
// time of day of the series' start.
Result<Clock::time_point> days_after(const v1::TaskRecurrence& rule, Clock::time_point finished) {
  auto start = wall_clock(at_second(rule.series_start()), rule.zone());
  if (!start) return start.error();
  auto done = wall_clock(finished, rule.zone());
  if (!done) return done.error();
  auto time_of_day = *start - date::floor<date::days>(*start);
  auto day = date::floor<date::days>(*done) + date::days(rule.every_days_after_done());
  return instant_of(day + time_of_day, rule.zone());
}

}  // namespace

Result<v1::TaskRecurrence> first_recurrence(const v1::CreateTask& create) {
  const auto& asked = create.recurrence();
  if (!asked.series_id().empty() || asked.occurrence() != 0 || asked.has_series_start() ||
      asked.has_scheduled_at())
    return invalid(
        "recurrence: series_id, occurrence, series_start and scheduled_at are set by coach");
  bool by_rule = !asked.rrule().empty();
  if (by_rule == (asked.every_days_after_done() != 0))
    return invalid("recurrence: give either rrule or every_days_after_done");
  if (!create.has_due_at())
    return invalid("a recurring task needs due_at: its first occurrence, the rule's start");
  if (asked.every_days_after_done() > kMaxEveryDaysAfterDone)
    return invalid("every_days_after_done is 1 to " + std::to_string(kMaxEveryDaysAfterDone) +
                   ", got " + std::to_string(asked.every_days_after_done()));
  v1::TaskRecurrence out = asked;
  if (out.zone().empty()) out.set_zone("UTC");
  auto start = wall_clock(at_second(create.due_at()), out.zone());
  if (!start) return start.error();
  if (by_rule)
    if (auto s = check_rule({out.rrule(), *start, out.zone()}); !s) return s.error();
  if (by_rule && out.rrule().rfind("RRULE:", 0) == 0) out.set_rrule(out.rrule().substr(6));
  out.set_series_id(create.task_id());
  out.set_occurrence(1);
  *out.mutable_series_start() = create.due_at();
  *out.mutable_scheduled_at() = create.due_at();
  return out;
}

Result<std::optional<v1::TaskEvent>> next_occurrence(const v1::TaskSeries& series,
                                                     const v1::Task& finished,
                                                     Clock::time_point now) {
  const auto& rule = series.rule();
  std::optional<Clock::time_point> due;
  if (!rule.rrule().empty()) {
    auto after = std::max(
        {at_second(finished.recurrence().scheduled_at()), now, at_second(series.paused_until())});
    auto next = next_by_rule(rule, after);
    if (!next) return next.error();
    due = *next;
  } else {
    auto next = days_after(rule, now);
    if (!next) return next.error();
    due = std::max(*next, at_second(series.paused_until()));
  }
  if (!due || *due >= Clock::time_point(seconds(kEndInstantSeconds)))
    return std::optional<v1::TaskEvent>{};
  uint32_t occurrence = finished.recurrence().occurrence() + 1;
  v1::TaskEvent event;
  event.set_task_id(
      Uuid::derived(series.series_id() + "/made/" + std::to_string(series.made() + 1)).to_string());
  auto* created = event.mutable_task_created();
  *created->mutable_fields() = series.template_();
  *created->mutable_fields()->mutable_due_at() = to_timestamp(*due);
  auto* recurrence = created->mutable_recurrence();
  *recurrence = rule;
  recurrence->set_series_id(series.series_id());
  recurrence->set_occurrence(occurrence);
  *recurrence->mutable_scheduled_at() = to_timestamp(*due);
  return std::optional<v1::TaskEvent>{std::move(event)};
}

bool untouched(const v1::Task& occurrence) {
  return occurrence.status() == v1::TASK_STATUS_PENDING && occurrence.edit_count() == 0 &&
         occurrence.snooze_count() == 0 && occurrence.notes_size() == 0;
}

}  // namespace coach::projections
