#include "projections/insights.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>

#include "base/ids.h"
#include "events/envelope.h"
#include "projections/feature_series.h"
#include "projections/procrastination_model.h"

namespace coach::projections {
namespace {

void add(v1::Insights& out, const std::string& name, double value, std::string explanation) {
  auto* item = out.add_items();
  item->set_name(name);
  item->set_value(value);
  item->set_explanation(std::move(explanation));
}

// Plain words for each model feature, in kFeatureNames order.
constexpr std::array<const char*, kFeatureCount> kFeatureWords = {
    "your share of late or overdue tasks", "how often you finish more than 4 days late",
    "how late you finish on average",      "how close to the deadline you finish",
    "the tasks overdue right now",         "how much history coach has about you",
};

// "1 task", "3 tasks": a count with the words that agree with it.
std::string counted(uint64_t n, std::string_view one, std::string_view many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

void add_score(v1::Insights& out, const BehaviorSignals& signals, uint64_t overdue) {
  const auto& model = ProcrastinationModel::builtin();
  auto x = features_of(signals, overdue);
  double score = model.score(x);
  auto why = model.contributions(x);
  out.set_model_version(model.version);
  add(out, "procrastination_score", score,
      fmt::format("coach puts the chance that your next task with a due date is finished late "
                  "at {:.0f}% (model {}, learned from real deadline data).",
                  score * 100, model.version));
  std::array<size_t, kFeatureCount> order{};
  for (size_t i = 0; i < kFeatureCount; ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return std::abs(why[a]) > std::abs(why[b]); });
  for (size_t k = 0; k < 3; ++k) {
    size_t i = order[k];
    if (std::abs(why[i]) < 0.05) break;
    add(out, "because_" + std::string(kFeatureNames[i]), why[i],
        fmt::format("Compared with a typical user, {} {} the estimate.", kFeatureWords[i],
                    why[i] > 0 ? "raises" : "lowers"));
  }
}

}  // namespace

v1::Insights describe_insights(const UserProfile& profile, const TaskBook& tasks,
                               const BehaviorSignals* signals, Clock::time_point now) {
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
  // What was learned counts only what happened since tracking was turned on:
  // the signals, which exist only while it is on and start empty each time.
  BehaviorSignals none;
  const BehaviorSignals& learned = signals ? *signals : none;
  int overdue = 0;  // a fact about the tasks now, not something learned
  for (const auto& [id, task] : tasks.tasks()) {
    auto status = effective_status(task, now);
    if ((status == v1::TASK_STATUS_PENDING || status == v1::TASK_STATUS_SNOOZED) &&
        task.has_due_at() && coach::from_timestamp(task.due_at()) < now && !abandoned(task, now))
      ++overdue;
  }
  auto created = learned.tasks_created;
  add(out, "tasks", static_cast<double>(created),
      fmt::format("You created {} since you turned tracking on.",
                  counted(created, "task", "tasks")));
  add(out, "completed_late_share", learned.share_late(),
      fmt::format("Of the {} with a due time you completed since you turned tracking on, {} "
                  "finished after it.",
                  counted(learned.completions_with_due, "task", "tasks"), learned.late));
  add(out, "snoozes_per_task", created ? double(learned.snoozes) / double(created) : 0,
      fmt::format("You snoozed {} since you turned tracking on.",
                  counted(learned.snoozes, "time", "times")));
  add(out, "edits_per_task", created ? double(learned.edits) / double(created) : 0,
      fmt::format("You edited tasks {} since you turned tracking on.",
                  counted(learned.edits, "time", "times")));
  add(out, "overdue_now", overdue,
      fmt::format("{} past the due time right now (tasks more than 30 days past due count as "
                  "abandoned, not overdue).",
                  counted(static_cast<uint64_t>(overdue), "open task is", "open tasks are")));
  if (signals) add_score(out, *signals, static_cast<uint64_t>(overdue));
  out.set_summary(
      "Behavioral tracking is on. These figures come from your own task history since you "
      "turned tracking on, and nothing else; coach uses them to time suggestions and nudges. "
      "Turn tracking off with preferences.set behavioral_tracking_enabled=false: coach then "
      "drops what it learned and computes nothing more. Your weeks (shown to you alone) count "
      "your tasks and nudges week by week over your whole log, as your task list shows them: "
      "what coach is judged by, for you.");
  return out;
}

}  // namespace coach::projections
