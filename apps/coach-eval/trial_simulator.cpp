// simulate_trial_user (simulator.h): the nudge trial with a known effect.
#include <algorithm>
#include <random>

#include "base/ids.h"
#include "events/envelope.h"
#include "projections/nudge_trial.h"
#include "projections/task_book.h"
#include "projections/user_profile.h"
#include "projections/user_state.h"
#include "simulator.h"

namespace coach::sim {
namespace {

using namespace std::chrono_literals;

// A user's stream being written: events stamped and folded in time order.
struct Stream {
  Uuid user;
  projections::UserState state;
  std::vector<v1::TaskEvent> events;
  uint64_t ids = 0;
  // Ids from the user and a counter: the same seed makes the same stream
  // (tasks are ordered by id where times tie).
  std::string next_id() {
    return Uuid::derived(user.to_string() + "/" + std::to_string(++ids)).to_string();
  }

  void add(v1::TaskEvent e, Clock::time_point at) {
    events::stamp_envelope(e, user, events.size() + 1, at);
    state.fold(e);
    events.push_back(std::move(e));
  }
  void add_all(Result<std::vector<v1::TaskEvent>> made, Clock::time_point at) {
    if (!made) return;  // the simulation only asks what the deciders allow
    for (auto& e : *made) add(std::move(e), at);
  }
  void create_task(const std::string& title, Clock::time_point due, Clock::time_point at) {
    v1::TaskCommand c;
    c.mutable_create()->set_task_id(next_id());
    c.mutable_create()->set_title(title);
    *c.mutable_create()->mutable_due_at() = to_timestamp(due);
    add_all(projections::decide(state.tasks, c, at), at);
  }
  // The user's action: completes the oldest open task, or adds one.
  void act(Clock::time_point at) {
    const v1::Task* oldest = nullptr;
    for (const auto& [id, t] : state.tasks.tasks())
      if (t.status() == v1::TASK_STATUS_PENDING &&
          (!oldest || t.created_at().seconds() < oldest->created_at().seconds()))
        oldest = &t;
    if (!oldest) return create_task("Follow-up", at + 24h, at);
    v1::TaskCommand c;
    c.mutable_complete()->set_task_id(oldest->id());
    add_all(projections::decide(state.tasks, c, at), at);
  }
};

const v1::CoachingMode kModes[] = {v1::COACHING_MODE_ENCOURAGEMENT, v1::COACHING_MODE_ROAST,
                                   v1::COACHING_MODE_NEUTRAL, v1::COACHING_MODE_MINIMALIST};

}  // namespace

SimulatedUser simulate_trial_user(uint64_t seed, const TrialSimOptions& options) {
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ULL + 23);
  std::uniform_real_distribution<double> uniform(0, 1);
  Stream s;
  s.user = Uuid::derived("trial-user/" + std::to_string(seed));
  auto start = options.start;
  v1::RegisterUser r;
  r.set_email("trial@example.com");
  r.set_timezone("UTC");
  r.mutable_preferences()->set_coaching_mode(kModes[seed % 4]);
  r.mutable_preferences()->set_behavioral_tracking_enabled(true);  // the trial's consent
  s.add_all(projections::decide_register(s.state.profile, r), start);
  double base = 0.1 + 0.4 * uniform(rng);
  for (int day = 0; day < options.days; ++day) {
    auto midnight = start + std::chrono::hours(24 * day);
    s.create_task("Morning task", midnight + 31h, midnight + 7h);
    s.create_task("Second task", midnight + 31h, midnight + 7h + 1min);
    for (int hour : {8, 12, 16, 20}) {
      auto now = midnight + std::chrono::hours(hour);
      auto candidate = projections::next_nudge(s.state, now);
      if (!candidate || !projections::in_trial(s.state, *candidate, options.hold_back, now))
        continue;  // no decision point (or not one of the trial's)
      auto decided = projections::decide_trial(s.state, *candidate, options.hold_back, uniform(rng),
                                               s.next_id(), now);
      bool sent = decided.nudge_decided().sent();
      candidate->decision_id = decided.nudge_decided().decision_id();
      s.add(std::move(decided), now);
      if (sent) {
        auto created = projections::decide_nudge(s.state, *candidate, {"Go on.", {}, {}}, false,
                                                 s.next_id(), s.next_id(), now);
        auto notification = created.nudge_created().notification().id();
        s.add(std::move(created), now);
        v1::ReportDelivery report;
        report.set_notification_id(notification);
        report.set_status(v1::NOTIFICATION_STATUS_SENT);
        s.add_all(projections::decide_report(s.state, report, now + 1min), now + 1min);
      }
      double chance = base +
                      (hour == 8    ? 0.1
                       : hour == 20 ? -0.05
                                    : 0) +
                      (sent ? options.effect : 0);
      if (uniform(rng) < chance) s.act(now + 2min + std::chrono::seconds(int(uniform(rng) * 6600)));
    }
  }
  return {0, std::move(s.events)};
}

}  // namespace coach::sim
