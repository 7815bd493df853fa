// The behavior batch job against a real RocksDB: simulated users of known
// archetypes are stored, folded into daily feature series without
// look-ahead, clustered, refolded incrementally, and forgotten when they
// turn tracking off.
#include <doctest/doctest.h>
#include <google/protobuf/util/message_differencer.h>

#include <sched.h>

#include <filesystem>
#include <map>

#include "actors/batch_job.h"
#include "actors/user_actor.h"
#include "events/envelope.h"
#include "projections/feature_series.h"
#include "projections/user_state.h"
#include "simulator.h"
#include "tests/support.h"

using namespace coach;
using namespace std::chrono_literals;
using TimePoint = std::chrono::system_clock::time_point;

namespace {

std::unique_ptr<events::EventStore> open_store(const test::TempDir& dir) {
  return test::open_test_store(dir.str());
}

struct Population {
  std::map<Uuid, sim::SimulatedUser> users;
  Uuid untracked;
};

// `per_archetype` opted-in users of each archetype, and one user who never
// turned tracking on.
Population store_population(events::EventStore& store, int per_archetype) {
  Population out;
  sim::SimOptions options;
  options.registered = true;
  for (size_t a = 0; a < sim::kArchetypes.size(); ++a)
    for (int i = 0; i < per_archetype; ++i) {
      auto user = sim::simulate(static_cast<int>(a), a * 7919 + static_cast<uint64_t>(i), options);
      auto id = *Uuid::parse(user.events.front().user_id());
      REQUIRE(store.append(id, 0, user.events));
      out.users.emplace(id, std::move(user));
    }
  options.registered = false;
  auto plain = sim::simulate(0, 99, options);
  out.untracked = *Uuid::parse(plain.events.front().user_id());
  REQUIRE(store.append(out.untracked, 0, plain.events));
  return out;
}

const TimePoint kAfterSimulation =
    std::chrono::system_clock::from_time_t(1773532800);  // 2026-03-15

// How many of this process's threads are in scheduling class `policy`.
int threads_in(int policy) {
  int n = 0;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task"))
    n += sched_getscheduler(std::stoi(task.path().filename().string())) == policy;
  return n;
}

actors::BatchOptions unthrottled() {
  actors::BatchOptions options;
  options.max_events_per_second = 0;
  return options;
}

}  // namespace

TEST_CASE("a full run writes daily series without look-ahead and clusters the archetypes") {
  test::TempDir dir;
  auto store = open_store(dir);
  auto population = store_population(*store, 8);
  actors::BatchJob job(*store, unthrottled());
  auto report = job.run(/*full=*/false, kAfterSimulation);  // first run: always full
  REQUIRE_MESSAGE(report, test::error_of(report));
  CHECK(report->full());
  CHECK(report->users() == population.users.size() + 1);
  CHECK(report->users_tracked() == population.users.size());
  CHECK(report->clusters() >= 3);
  CHECK(report->silhouette() > 0.3);
  CHECK(report->events() == store->stats().feed_head);
  CHECK(report->plans() == population.users.size());  // the unregistered user has no plan
  REQUIRE(store->get_meta(actors::kClusterModelMeta)->has_value());
  // The population's late rates, counted by hand from the simulated logs.
  auto rates = actors::stored_population(*store);
  REQUIRE(rates);
  CHECK(rates->users() == population.users.size());
  uint32_t due = 0, late = 0;
  for (const auto& [id, user] : population.users) {
    projections::UserState state;
    for (const auto& e : user.events) state.fold(e);
    for (const auto& [task_id, t] : state.tasks.tasks()) {
      if (!t.has_due_at() || t.status() == v1::TASK_STATUS_DELETED ||
          coach::from_timestamp(t.due_at()) >= kAfterSimulation)
        continue;
      ++due;
      late += !t.has_completed_at() || t.completed_at().seconds() > t.due_at().seconds();
    }
  }
  REQUIRE(due > 0);
  CHECK(rates->overall() ==
        doctest::Approx((late + 20 * projections::kPriorLateRate) / (due + 20.0)));

  std::vector<int> labels, truth;
  for (const auto& [id, user] : population.users) {
    auto now = store->features_as_of(id, kAfterSimulation);
    REQUIRE(now);
    REQUIRE(now->has_value());
    const auto& snapshot = **now;
    CHECK(snapshot.mode_cluster() >= 0);
    CHECK_FALSE(snapshot.mode_name().empty());
    CHECK(snapshot.as_of_sequence() == user.events.size());
    labels.push_back(snapshot.mode_cluster());
    truth.push_back(user.archetype);

    // Mid-simulation: the snapshot then was computed from exactly the events
    // at or before its instant, and none after.
    auto mid = store->features_as_of(id, std::chrono::system_clock::from_time_t(1768478400));
    REQUIRE(mid);
    REQUIRE(mid->has_value());
    auto instant = coach::from_timestamp((*mid)->created_at());
    CHECK(instant <= std::chrono::system_clock::from_time_t(1768478400));
    uint64_t known = 0;
    for (const auto& e : user.events)
      if (coach::from_timestamp(e.created_at()) <= instant) known = e.sequence();
    CHECK((*mid)->as_of_sequence() == known);
    CHECK((*mid)->mode_cluster() == -1);  // history is not clustered after the fact
  }
  CHECK(projections::adjusted_rand(labels, truth) > 0.5);
  auto untracked = store->feature_history(population.untracked, {}, kAfterSimulation + 24h);
  REQUIRE(untracked);
  CHECK(untracked->empty());
}

TEST_CASE("an incremental run refolds only users with new events, tracking off forgets") {
  test::TempDir dir;
  auto store = open_store(dir);
  auto population = store_population(*store, 3);
  actors::BatchJob job(*store, unthrottled());
  REQUIRE(job.run(true, kAfterSimulation));

  auto nothing_new = job.run(false, kAfterSimulation + 1h);
  REQUIRE(nothing_new);
  CHECK_FALSE(nothing_new->full());
  CHECK(nothing_new->users() == 0);
  CHECK(nothing_new->users_tracked() == population.users.size());

  // One user turns tracking off.
  auto& [id, user] = *population.users.begin();
  projections::UserState state;
  for (const auto& e : user.events) state.fold(e);
  v1::SetPreferences off;
  off.set_behavioral_tracking_enabled(false);
  auto changed = projections::decide_preferences(state.profile, off);
  REQUIRE(changed);
  REQUIRE(changed->size() == 1);
  events::stamp_envelope(changed->front(), id, state.version + 1, kAfterSimulation + 2h);
  REQUIRE(store->append(id, state.version, *changed));

  auto after = job.run(false, kAfterSimulation + 3h);
  REQUIRE_MESSAGE(after, test::error_of(after));
  CHECK(after->users() == 1);
  CHECK(after->events() == user.events.size() + 1);
  CHECK(after->users_tracked() == population.users.size() - 1);
  CHECK(store->feature_history(id, {}, kAfterSimulation + 24h)->empty());
  auto other = std::next(population.users.begin())->first;
  CHECK((**store->features_as_of(other, kAfterSimulation + 3h)).mode_cluster() >= 0);
  CHECK(job.status().runs() == 3);
  CHECK(job.status().last().users() == 1);
  // Incremental runs keep the full run's population rates.
  CHECK(coach::from_timestamp(actors::stored_population(*store)->as_of()) == kAfterSimulation);
}

TEST_CASE("incremental runs keep the success metrics current, as a full run would") {
  test::TempDir dir;
  auto store = open_store(dir);
  auto population = store_population(*store, 2);
  actors::BatchJob job(*store, unthrottled());
  auto before = job.run(false, kAfterSimulation);  // no checkpoint yet: a full run
  REQUIRE(before);
  REQUIRE(before->full());
  REQUIRE(job.metrics_builder());
  auto from = kAfterSimulation - 24h * 70;
  auto first = job.metrics_builder()->build(from, 1);

  // One user adds a task, another is erased; nine days on (a week ends
  // between) an incremental run refolds only the first.
  auto it = population.users.begin();
  auto active = it->first, erased = std::next(it)->first;
  projections::UserState state;
  for (const auto& e : it->second.events) state.fold(e);
  v1::TaskEvent created;
  created.set_task_id(new_uuid_string());
  created.mutable_task_created()->mutable_fields()->set_title("later");
  *created.mutable_task_created()->mutable_fields()->mutable_due_at() =
      to_timestamp(kAfterSimulation + 30h);
  events::stamp_envelope(created, active, state.version + 1, kAfterSimulation + 2h);
  REQUIRE(store->append(active, state.version, {created}));
  REQUIRE(store->erase_user(erased, kAfterSimulation + 3h));

  auto later = kAfterSimulation + 24h * 9;
  auto after = job.run(false, later);
  REQUIRE_MESSAGE(after, test::error_of(after));
  CHECK_FALSE(after->full());
  CHECK(after->users() == 1);
  auto incremental = job.metrics_builder()->build(from, 1);
  CHECK(coach::from_timestamp(incremental.to()) == later);
  CHECK(incremental.users() == population.users.size());  // the erased one gone, untracked in

  actors::BatchJob fresh(*store, unthrottled());
  REQUIRE(fresh.run(true, later));
  auto full = fresh.metrics_builder()->build(from, 1);
  CHECK(google::protobuf::util::MessageDifferencer::Equals(incremental, full));
  // The new task is in its week (2026-W11), and the erased user's tasks
  // are out.
  auto week = [](const v1::MetricsReport& r, const std::string& name) {
    for (const auto& w : r.weeks())
      if (w.week() == name) return w;
    return v1::MetricsReport::Week{};
  };
  auto gone = projections::user_metrics(population.users.at(erased).events, kAfterSimulation)
                  .weeks.at({2026, 11});
  CHECK(week(incremental, "2026-W11").created() ==
        week(first, "2026-W11").created() - gone.created + 1);
}

TEST_CASE("the rate limit holds and a run on the job's thread reports its status") {
  test::TempDir dir;
  auto store = open_store(dir);
  store_population(*store, 2);
  uint64_t events = store->stats().feed_head;
  actors::BatchOptions options;
  options.max_events_per_second = static_cast<double>(events) / 0.5;  // half a second's worth
  actors::BatchJob job(*store, options);
  REQUIRE(job.start(true));
  auto again = job.start(true);
  CHECK_FALSE(again);
  if (!again) CHECK(again.error().code == Errc::conflict);
  job.wait_idle();
  auto status = job.status();
  CHECK_FALSE(status.running());
  CHECK(status.last().error().empty());
  CHECK(status.last().events() == events);
  CHECK(status.last().seconds() >= 0.45);
  CHECK(status.users_done() == status.users_total());
}

TEST_CASE("the job's thread yields the CPU: SCHED_IDLE, unless told otherwise") {
  test::TempDir dir;
  auto store = open_store(dir);
  store_population(*store, 1);
  int before = threads_in(SCHED_IDLE);
  {
    actors::BatchJob job(*store, unthrottled());
    REQUIRE(job.start(true));
    job.wait_idle();  // its thread has set itself up by then
    CHECK(threads_in(SCHED_IDLE) == before + 1);
  }
  CHECK(threads_in(SCHED_IDLE) == before);
  auto options = unthrottled();
  options.idle_class = false;
  actors::BatchJob job(*store, options);
  REQUIRE(job.start(true));
  job.wait_idle();
  CHECK(threads_in(SCHED_IDLE) == before);
}

TEST_CASE("destroying the job stops a run in progress") {
  test::TempDir dir;
  auto store = open_store(dir);
  store_population(*store, 2);
  actors::BatchOptions slow;
  slow.max_events_per_second = 100;  // would take minutes
  auto started = std::chrono::steady_clock::now();
  {
    actors::BatchJob job(*store, slow);
    REQUIRE(job.start(true));
    std::this_thread::sleep_for(100ms);
    CHECK(job.status().running());
  }
  CHECK(std::chrono::steady_clock::now() - started < 10s);
}

TEST_CASE("a daily snapshot as of 00:00 holds the events at or before it, one exactly then too") {
  sim::SimOptions options;
  options.registered = true;
  auto user = sim::simulate(0, 42, options);
  // Move the first event of some later day to exactly its 00:00.
  constexpr int64_t kDay = 86400;
  int64_t midnight = 0;
  for (size_t i = 3; i < user.events.size(); ++i) {
    int64_t day = user.events[i].created_at().seconds() / kDay;
    if (day > user.events[i - 1].created_at().seconds() / kDay &&
        user.events[i - 1].created_at().seconds() < day * kDay) {
      user.events[i].mutable_created_at()->set_seconds(day * kDay);
      user.events[i].mutable_created_at()->set_nanos(0);
      midnight = day * kDay;
      break;
    }
  }
  REQUIRE(midnight > 0);
  projections::FeatureSeries series(user.events.front().user_id(),
                                    projections::ProcrastinationModel::builtin());
  std::vector<v1::FeatureSnapshot> daily;
  for (const auto& e : user.events) series.fold(e, daily);
  REQUIRE(daily.size() > 2);
  bool saw_midnight = false;
  for (const auto& snapshot : daily) {
    uint64_t known = 0;
    for (const auto& e : user.events)
      if (coach::from_timestamp(e.created_at()) <= coach::from_timestamp(snapshot.created_at()))
        known = e.sequence();
    CHECK(snapshot.as_of_sequence() == known);
    saw_midnight |= snapshot.created_at().seconds() == midnight;
  }
  CHECK(saw_midnight);
}

TEST_CASE("daily snapshots hold each open task's lateness risk as of their instant") {
  sim::SimOptions options;
  options.registered = true;
  auto user = sim::simulate(0, 7, options);
  projections::FeatureSeries series(user.events.front().user_id(),
                                    projections::ProcrastinationModel::builtin());
  std::vector<v1::FeatureSnapshot> daily;
  for (const auto& e : user.events) series.fold(e, daily);
  REQUIRE(daily.size() > 2);
  size_t risks = 0;
  for (const auto& snapshot : daily) {
    // The user's state from the events at or before the snapshot only.
    auto t = coach::from_timestamp(snapshot.created_at());
    projections::UserState as_of;
    for (const auto& e : user.events)
      if (coach::from_timestamp(e.created_at()) <= t) as_of.fold(e);
    REQUIRE(as_of.risk);
    auto fresh = projections::RiskTracker::of(as_of.tasks, t);
    auto sums = fresh.at(t);
    std::vector<std::pair<std::string, double>> want;
    for (const auto& [id, task] : as_of.tasks.tasks())
      if (auto r = fresh.assess(
              sums, projections::builtin_lateness_model(), task, t,
              projections::neutral_population_rate(projections::builtin_lateness_model())))
        want.emplace_back(id, r->risk);
    std::sort(want.begin(), want.end());
    REQUIRE(snapshot.task_risks_size() == static_cast<int>(want.size()));
    for (size_t i = 0; i < want.size(); ++i) {
      CHECK(snapshot.task_risks(static_cast<int>(i)).task_id() == want[i].first);
      CHECK(snapshot.task_risks(static_cast<int>(i)).lateness_risk() ==
            doctest::Approx(want[i].second).epsilon(1e-9));
    }
    CHECK(snapshot.risk_model_version() == "v1");
    risks += want.size();
  }
  CHECK(risks > daily.size());  // open dated tasks most days
}
