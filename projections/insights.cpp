#include "projections/insights.h"

#include <fmt/core.h>

#include "events/envelope.h"

namespace coach::projections {
namespace {

void add(v1::Insights& out, const char* name, double value, std::string explanation) {
  auto* item = out.add_items();
  item->set_name(name);
  item->set_value(value);
  item->set_explanation(std::move(explanation));
}

}  // namespace

v1::Insights describe_insights(const UserProfile& profile, const TaskBook& tasks,
                               Clock::time_point now) {
  v1::Insights out;
  bool tracking = profile.profile.preferences().behavioral_tracking_enabled();
  out.set_behavioral_tracking_enabled(tracking);
  if (!tracking) {
    out.set_summary(
        "Behavioral tracking is off. coach keeps your tasks and settings and computes nothing "
        "about how you work. Turn it on with preferences.set behavioral_tracking_enabled=true; "
        "turn it off the same way at any time.");
    return out;
  }
  int created = 0, completed = 0, late = 0, overdue = 0;
  uint32_t snoozes = 0, edits = 0;
  for (const auto& [id, task] : tasks.tasks()) {
    if (task.status() == v1::TASK_STATUS_DELETED) continue;
    ++created;
    snoozes += task.snooze_count();
    edits += task.edit_count();
    bool has_due = task.has_due_at();
    auto due = events::from_timestamp(task.due_at());
    if (task.status() == v1::TASK_STATUS_COMPLETED) {
      ++completed;
      if (has_due && events::from_timestamp(task.completed_at()) > due) ++late;
    } else if (has_due && due < now) {
      ++overdue;
    }
  }
  add(out, "tasks", created, fmt::format("You have {} tasks that are not deleted.", created));
  add(out, "completed_late_share", completed ? double(late) / completed : 0,
      fmt::format("{} of your {} completed tasks were finished after their due time.", late,
                  completed));
  add(out, "snoozes_per_task", created ? double(snoozes) / created : 0,
      fmt::format("You snoozed {} times over {} tasks.", snoozes, created));
  add(out, "edits_per_task", created ? double(edits) / created : 0,
      fmt::format("You edited tasks {} times.", edits));
  add(out, "overdue_now", overdue,
      fmt::format("{} open tasks are past their due time right now.", overdue));
  out.set_summary(
      "Behavioral tracking is on. These figures come from your own task history and nothing "
      "else; coach uses them to time suggestions and nudges. No procrastination score yet: the "
      "behavior model has not scored you. Turn tracking off with preferences.set "
      "behavioral_tracking_enabled=false.");
  return out;
}

}  // namespace coach::projections
