// What coachctl shows people: short task ids, the urgency `coachctl next`
// sorts by, the task table of next/today/overdue/list, and when to colour.
// Pure functions over tasks, "now" and the zone (tests/coachctl_when_test.cpp).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "apps/coachctl/when.h"
#include "schema/commands.pb.h"

namespace coach::ctl {

// Short ids: a task's handle is the shortest prefix of its UUID, at least 4
// characters, that no other task of the user (any status) shares. Every
// command takes a short id, any longer prefix, or the full UUID.
constexpr size_t kMinPrefix = 4;
std::map<std::string, std::string> short_ids(const std::vector<v1::Task>& tasks);

// The task `handle` names among `tasks`: not_found when none does,
// invalid_argument when it is shorter than 4 characters or several tasks
// start with it (the message lists them by id: short id and title).
Result<std::string> resolve_handle(const std::string& handle, const std::vector<v1::Task>& tasks);

// Urgency, the order of `coachctl next` (higher first), a sum of terms:
//
//   due       12 x d, where d is 1.0 for a task 7 or more days overdue, 0.2
//             for one due 14 or more days ahead, linear between (due now:
//             0.73); 0 without a due date
//   priority  1.5 x priority (0..4)
//   age       2 x min(days since created / 365, 1)
//   snoozes   0.5 x snoozes so far, at most 2: a task put off again and
//             again comes up, not down
//   risk      4 x p x d, p the task's lateness risk (Task.lateness_risk,
//             0..1, sent while behavioral tracking is on), else the user's
//             procrastination score (user.features; 0 without tracking):
//             a task likely to end late comes up sooner
//
// Ties: earlier due first, then older, then by id.
struct UrgencyTerms {
  double due = 0, priority = 0, age = 0, snoozes = 0, risk = 0;
  double total() const { return due + priority + age + snoozes + risk; }
};
UrgencyTerms urgency(const v1::Task& task, Seconds now, double procrastination_score);
// `tasks` in urgency order.
void sort_by_urgency(std::vector<v1::Task>& tasks, Seconds now, double procrastination_score);

// Colour: only on a terminal, never with NO_COLOR set (non-empty) or
// TERM=dumb; --color always / never overrides.
bool use_colour(const std::string& flag, bool terminal, const char* no_color, const char* term);

struct TableOptions {
  Seconds now;
  const date::time_zone* zone = nullptr;
  bool colour = false;
  bool urgency = false;  // an URG column (coachctl next)
  double procrastination_score = 0;
};
// The task table: ID, DUE (relative: "in 2 h", "3 d overdue"), PRI, EST,
// CATEGORY, TITLE with #tags, then SNOOZED UNTIL (local) when a row is
// snoozed and STATUS when a row is completed or deleted.
std::string task_table(const std::vector<v1::Task>& rows,
                       const std::map<std::string, std::string>& ids, const TableOptions& o);

// Enum values as words: "pending", "encouragement", "coach", "push", ...
std::string word(v1::TaskStatus s);
std::string word(v1::CoachingMode m);
std::string word(v1::PersonaType p);
std::string word(v1::DeliveryChannel c);
std::string word(v1::NudgeSource s);
std::string word(v1::NotificationStatus s);

}  // namespace coach::ctl
