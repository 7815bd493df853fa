// The evaluation protocol of coach-eval on OULAD (issue 22), exactly:
//
// Data: shared/data/oulad (CC-BY 4.0: Kuzilek, Hlosta and Zdrahal, "Open
// University Learning Analytics dataset", Scientific Data 4, 170171), as its
// README maps it. Presentations start at 00:00 UTC on the 1st of February
// ("B") or October ("J") of their year; day d is that start plus d days.
//
// - One coach user per student (id_student), over all their registrations.
// - The tasks of a registration are its assessments with a deadline that
//   are not exams (TMA, CMA), in deadline order. Left out: banked marks
//   (is_banked = 1: not counted as never submitted either), and, for a
//   student who withdrew, the tasks due after the unregistration day.
// - A task is created at registration (day max(0, date_registration), at
//   most an hour before its deadline), due at the end of its deadline day
//   (23:59:59), category "<module>-<type>", priority from its weight; a
//   submission completes it at noon of its day.
// - late = submitted after the deadline day, or never submitted while
//   registered.
// - Predictions: for task k >= 2 of a registration, at 00:00 UTC of the day
//   after deadline k-1, only when its deadline is later than deadline k-1
//   and it was not submitted by then (submission day <= deadline k-1);
//   and not before the student registered (the task exists only from then).
// - What a prediction may use: the student's events at or before that
//   instant (tasks created by then, submissions by then), and the
//   population's late rate in the task's category over every student's
//   tasks due before it (known then: due and not submitted is late).
//
// A bad file ends the run with "FILE: line N: why" (exit 1); CSV is read by
// header names, with quoted fields, CRLF and blank lines (apps/common/table.h).
#pragma once

#include <array>
#include <chrono>
#include <string>
#include <vector>

#include "projections/lateness_risk.h"
#include "projections/procrastination_model.h"

namespace coach::eval {

using SysClock = std::chrono::system_clock;

// One prediction: what was known at its instant, and what happened.
struct Example {
  std::string module;  // code_module, e.g. "DDD"
  std::string type;    // assessment_type: "TMA" or "CMA"
  bool late = false;
  projections::TaskRiskFeatures risk{};  // per-task features (lateness_risk.h)
  projections::Features user{};          // the user-level score's features (v1)
  // Baselines: share late so far, smoothed: (late + 1) / (due so far + 2)
  // over the student's tasks due before the instant; and Taskwarrior-style
  // urgency of the task at the instant.
  double share_late = 0;
  double urgency = 0;
};

struct Dataset {
  size_t students = 0, tasks = 0;
  std::vector<Example> examples;
};

// Reads the folder (assessments.csv, studentAssessment.csv,
// studentRegistration.csv) and makes every prediction of the protocol.
Dataset read_oulad(const std::string& dir);

}  // namespace coach::eval
