#include "simulator.h"

#include <algorithm>
#include <random>

#include "base/ids.h"
#include "events/envelope.h"
#include "projections/user_profile.h"

namespace coach::sim {
namespace {

using Clock = coach::Clock;
using namespace std::chrono_literals;

struct Plan {
  Clock::time_point at;
  v1::TaskEvent event;
};

// How an archetype works on one task, given the day (0..59) it was created.
struct Behavior {
  double tasks_per_day = 1.5;
  double fraction_min = 0.2, fraction_max = 0.6;  // of the time until due
  double late_chance = 0.05;                      // finishes 0.1-3 days late
  int snoozes_min = 0, snoozes_max = 0;
  double abandon_chance = 0;  // never finishes
  bool night = false;         // finishes at night instead of working hours
};

Behavior behavior_of(int archetype, int day, int days) {
  Behavior b;
  switch (archetype) {
    case 1:  // deadline_driven
      b.fraction_min = 0.85, b.fraction_max = 1.0, b.late_chance = 0.3;
      b.snoozes_max = 1;
      break;
    case 2:  // chronic_snoozer
      b.fraction_min = 0.5, b.fraction_max = 0.95, b.late_chance = 0.4;
      b.snoozes_min = 2, b.snoozes_max = 4;
      break;
    case 3:  // night_owl
      b.night = true, b.late_chance = 0.1;
      break;
    case 4:  // overloaded
      b.tasks_per_day = 4.5, b.fraction_min = 0.6, b.fraction_max = 1.0, b.late_chance = 0.5;
      b.abandon_chance = 0.15, b.snoozes_max = 1;
      break;
    case 5:  // improving
      b.late_chance = 0.55 - 0.5 * day / double(std::max(1, days)), b.fraction_min = 0.4,
      b.fraction_max = 0.95;
      break;
    default:
      break;  // steady
  }
  return b;
}

}  // namespace

SimulatedUser simulate(int archetype, uint64_t seed, const SimOptions& options) {
  std::mt19937_64 rng(seed);
  auto uniform = [&](double lo, double hi) {
    return std::uniform_real_distribution<>(lo, hi)(rng);
  };
  auto user = Uuid::random();
  auto start = Clock::from_time_t(1767225600);  // 2026-01-01 00:00 UTC
  std::vector<Plan> plans;
  for (int day = 0; day < options.days; ++day) {
    auto b = behavior_of(archetype, day, options.days);
    int count = std::poisson_distribution<>(b.tasks_per_day)(rng);
    for (int i = 0; i < count; ++i) {
      auto created = start + std::chrono::hours(24 * day) +
                     std::chrono::minutes(int(uniform(8 * 60, 18 * 60)));
      auto due = created + std::chrono::hours(int(uniform(48, 240)));
      v1::TaskEvent c;
      c.set_task_id(new_uuid_string());
      c.mutable_task_created()->mutable_fields()->set_title("simulated");
      c.mutable_task_created()->mutable_fields()->set_category(i % 2 ? "work" : "study");
      *c.mutable_task_created()->mutable_fields()->mutable_due_at() = coach::to_timestamp(due);
      plans.push_back({created, c});
      auto span = due - created;
      auto done = created + std::chrono::duration_cast<Clock::duration>(
                                span * uniform(b.fraction_min, b.fraction_max));
      if (uniform(0, 1) < b.late_chance) done = due + std::chrono::minutes(int(uniform(144, 4320)));
      // Finishing hour: working hours, or the night for night owls.
      auto midnight = std::chrono::floor<std::chrono::days>(done);
      int minute = b.night ? int(uniform(22 * 60, 27 * 60)) : int(uniform(9 * 60, 17 * 60));
      done = midnight + std::chrono::minutes(minute);
      if (done <= created) done = created + 1h;
      int snoozes = b.snoozes_max ? int(uniform(b.snoozes_min, b.snoozes_max + 0.999)) : 0;
      for (int s = 0; s < snoozes; ++s) {
        auto at = created + std::chrono::duration_cast<Clock::duration>((done - created) * (s + 1) /
                                                                        (snoozes + 2));
        v1::TaskEvent z;
        z.set_task_id(c.task_id());
        *z.mutable_task_snoozed()->mutable_until() = coach::to_timestamp(at + 6h);
        plans.push_back({at, z});
      }
      if (uniform(0, 1) < b.abandon_chance) continue;
      v1::TaskEvent f;
      f.set_task_id(c.task_id());
      f.mutable_task_completed();
      plans.push_back({done, f});
    }
  }
  std::stable_sort(plans.begin(), plans.end(),
                   [](const Plan& a, const Plan& b) { return a.at < b.at; });
  SimulatedUser out;
  out.archetype = archetype;
  uint64_t sequence = 0;
  if (options.registered) {
    v1::RegisterUser command;
    command.set_email("simulated@example.org");
    command.mutable_preferences()->set_behavioral_tracking_enabled(true);
    auto registered = projections::decide_register({}, command);
    for (auto& e : *registered) plans.insert(plans.begin(), {start - 1h, std::move(e)});
  }
  for (auto& p : plans) {
    if (out.events.size() >= options.max_events) break;
    events::stamp_envelope(p.event, user, ++sequence, p.at);
    out.events.push_back(std::move(p.event));
  }
  return out;
}

}  // namespace coach::sim
