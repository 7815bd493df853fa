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

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

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

}  // namespace coach::sim
