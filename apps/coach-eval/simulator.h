// A simulator of users with known behavior, emitting real TaskEvents, for
// the signals OULAD lacks (snoozes, edits, daily rhythm). Deterministic for a
// given seed.
//
// Archetypes (each user works 60 days in UTC; tasks due 2 to 10 days after
// creation):
//   steady           finishes at ~40% of the time available, rarely late
//   deadline_driven  finishes near the deadline, often a little late
//   chronic_snoozer  snoozes each task 2-4 times, often late
//   night_owl        finishes between 22:00 and 03:00, otherwise steady
//   overloaded       three times the tasks, half of them late, some abandoned
//   improving        late half the time at first, rarely by the end
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "base/time.h"
#include "schema/events.pb.h"

namespace coach::sim {

inline const std::vector<std::string> kArchetypes = {
    "steady", "deadline_driven", "chronic_snoozer", "night_owl", "overloaded", "improving"};

struct SimulatedUser {
  int archetype = 0;                  // index into kArchetypes
  std::vector<v1::TaskEvent> events;  // in time order, stamped, sequences 1..n
};

struct SimOptions {
  int days = 60;
  // Start the stream with the user's registration, behavioral tracking on,
  // as a real opted-in user's stream starts.
  bool registered = false;
  size_t max_events = SIZE_MAX;  // cut the stream after this many events
};

SimulatedUser simulate(int archetype, uint64_t seed, const SimOptions& options = {});

// A user of the nudge trial (issue 23, projections/nudge_trial.h) whose
// true nudge effect is known. Each morning (07:00 UTC) the user adds two
// tasks due the next morning; coach checks their triggers at 08:00, 12:00,
// 16:00 and 20:00 through the real deciders (next_nudge, in_trial,
// decide_trial with this seed's draws, decide_nudge, a delivery a minute
// later). After a decision point the user acts (completes their oldest
// open task, or adds one) within 2 h with chance base + effect if the nudge
// was sent and base if it was held back, never otherwise, so that the true
// effect on the proximal outcome is exactly `effect`. base is the user's
// own (uniform in 0.1 to 0.5) plus 0.1 at 08:00 and minus 0.05 at 20:00;
// the coaching mode is one of the four, by seed.
struct TrialSimOptions {
  int days = 14;
  double hold_back = 0.3;
  double effect = 0.15;  // -0.1 to 0.4
  // The first day, at its midnight UTC (the registration's instant).
  Clock::time_point start = Clock::time_point(std::chrono::hours(24 * 20454));  // 2026-01-01
};
SimulatedUser simulate_trial_user(uint64_t seed, const TrialSimOptions& options = {});

}  // namespace coach::sim
