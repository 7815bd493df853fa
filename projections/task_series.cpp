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
      asked.has_scheduled_at() || asked.made_on_miss() || asked.has_reopened_at())
    return invalid(
        "recurrence: series_id, occurrence, series_start, scheduled_at, made_on_miss and "
        "reopened_at are set by coach");
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

namespace {

// The TaskCreated of the series' next occurrence, due at `due`.
v1::TaskEvent occurrence_event(const v1::TaskSeries& series, Clock::time_point due) {
  v1::TaskEvent event;
  event.set_task_id(next_occurrence_id(series));
  auto* created = event.mutable_task_created();
  *created->mutable_fields() = series.template_();
  *created->mutable_fields()->mutable_due_at() = to_timestamp(due);
  auto* recurrence = created->mutable_recurrence();
  *recurrence = series.rule();
  recurrence->set_series_id(series.series_id());
  recurrence->set_occurrence(series.made() + 1);  // unique, as the id: a reopen replaces
  *recurrence->mutable_scheduled_at() = to_timestamp(due);
  return event;
}

bool before_end(Clock::time_point t) {
  return t < Clock::time_point(seconds(kEndInstantSeconds));
}

// Rule instants that may follow `open` are later than this: its own date
// by the rule, or its due date when an edit moved that later.
Clock::time_point missable_after(const v1::TaskSeries& series, const v1::Task& open) {
  auto after = at_second(open.recurrence().scheduled_at());
  if (open.has_due_at()) after = std::max(after, at_second(open.due_at()));
  if (series.has_paused_until())
    after = std::max(after, at_second(series.paused_until()) - seconds(1));
  if (open.recurrence().has_reopened_at())
    after = std::max(after, at_second(open.recurrence().reopened_at()));
  return after;
}

}  // namespace

Result<std::optional<v1::TaskEvent>> next_occurrence(const v1::TaskSeries& series,
                                                     const v1::Task& finished,
                                                     Clock::time_point now) {
  const auto& rule = series.rule();
  std::optional<Clock::time_point> due;
  if (!rule.rrule().empty()) {
    // Not before the pause: an instant right at its end is taken.
    auto after = std::max({at_second(finished.recurrence().scheduled_at()), now,
                           at_second(series.paused_until()) - seconds(1)});
    auto next = next_by_rule(rule, after);
    if (!next) return next.error();
    due = *next;
  } else {
    auto next = days_after(rule, now);
    if (!next) return next.error();
    due = std::max(*next, at_second(series.paused_until()));
  }
  if (!due || !before_end(*due)) return std::optional<v1::TaskEvent>{};
  return std::optional<v1::TaskEvent>{occurrence_event(series, *due)};
}

Result<std::optional<Clock::time_point>> missed_at(const v1::TaskSeries& series,
                                                   const v1::Task& open) {
  const auto& rule = series.rule();
  if (rule.rrule().empty()) return std::optional<Clock::time_point>{};
  auto next = next_by_rule(rule, missable_after(series, open));
  if (!next || !*next) return next;
  if (!before_end(**next)) return std::optional<Clock::time_point>{};
  if (open.status() == v1::TASK_STATUS_SNOOZED && open.has_snoozed_until())
    return std::optional<Clock::time_point>{std::max(**next, from_timestamp(open.snoozed_until()))};
  return next;
}

Result<std::vector<v1::TaskEvent>> roll_missed(const v1::TaskSeries& series, const v1::Task& open,
                                               Clock::time_point now) {
  std::vector<v1::TaskEvent> out;
  auto when = missed_at(series, open);
  if (!when) return when.error();
  if (!*when || **when > now) return out;
  const auto& rule = series.rule();
  auto start = wall_clock(at_second(rule.series_start()), rule.zone());
  if (!start) return start.error();
  auto due = last_between({rule.rrule(), *start, rule.zone()}, missable_after(series, open), now);
  if (!due) return due.error();
  if (!*due) return out;  // cannot be: missed_at found one
  v1::TaskEvent missed;
  missed.set_task_id(open.id());
  *missed.mutable_task_missed()->mutable_next_due_at() = to_timestamp(**due);
  out.push_back(std::move(missed));
  out.push_back(occurrence_event(series, **due));
  out.back().mutable_task_created()->mutable_recurrence()->set_made_on_miss(true);
  return out;
}

std::string next_occurrence_id(const v1::TaskSeries& series) {
  return Uuid::derived(series.series_id() + "/made/" + std::to_string(series.made() + 1))
      .to_string();
}

bool made_by_miss(const v1::TaskEvent& event) {
  return event.has_task_missed() ||
         (event.has_task_created() && event.task_created().recurrence().made_on_miss());
}

bool untouched(const v1::Task& occurrence) {
  return occurrence.status() == v1::TASK_STATUS_PENDING && occurrence.edit_count() == 0 &&
         occurrence.snooze_count() == 0 && occurrence.notes_size() == 0 &&
         !occurrence.recurrence().has_reopened_at();
}

}  // namespace coach::projections
