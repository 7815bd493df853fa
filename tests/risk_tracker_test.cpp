// RiskTracker (issue 22): the risk features it keeps event by event equal
// the ones risk_features gathers from the whole book, on random histories
// of creations, completions, reopenings, deletions, restorations, due date
// and category edits, snoozes and misses, with due dates that tie; and it
// rebuilds only for the rare changes its header names.
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "base/ids.h"
#include "base/time.h"
#include "events/envelope.h"
#include "projections/risk_tracker.h"

using namespace coach;
using namespace coach::projections;

namespace {

using Clock = std::chrono::system_clock;
const Clock::time_point kDay0 = Clock::from_time_t(1'800'000'000);

Clock::time_point at_day(double d) {
  return kDay0 + std::chrono::seconds(static_cast<int64_t>(std::llround(d * 86400)));
}

// One user's book and tracker, fed the same events.
struct User {
  Uuid user = Uuid::random();
  uint64_t sequence = 0;
  TaskBook book;
  RiskTracker tracker = RiskTracker::of(book, kDay0);
  std::vector<std::string> ids;

  void apply(v1::TaskEvent event, const std::string& id, Clock::time_point t) {
    event.set_task_id(id);
    events::stamp_envelope(event, user, ++sequence, t);
    evolve(book, event);
    tracker.update(id, book.find(id), t);
  }
};

v1::TaskEvent created(const std::string& category, std::optional<Clock::time_point> due) {
  v1::TaskEvent e;
  auto* f = e.mutable_task_created()->mutable_fields();
  f->set_title("t");
  f->set_category(category);
  if (due) *f->mutable_due_at() = to_timestamp(*due);
  return e;
}

v1::TaskEvent modified(std::optional<Clock::time_point> due, const std::string* category) {
  v1::TaskEvent e;
  auto* m = e.mutable_task_modified();
  if (category) {
    m->add_changed(v1::TASK_FIELD_CATEGORY);
    m->mutable_after()->set_category(*category);
  } else {
    m->add_changed(v1::TASK_FIELD_DUE_AT);
    if (due) *m->mutable_after()->mutable_due_at() = to_timestamp(*due);
  }
  return e;
}

// Every feature of every open task not yet due at `q`, both ways.
void check_all(const TaskBook& book, const RiskTracker& tracker, Clock::time_point q) {
  auto sums = tracker.at(q);
  for (const auto& entry : book.tasks()) {  // no structured binding: INFO captures it (clang 14)
    const auto& id = entry.first;
    const auto& task = entry.second;
    auto status = effective_status(task, q);
    bool open = status == v1::TASK_STATUS_PENDING || status == v1::TASK_STATUS_SNOOZED ||
                status == v1::TASK_STATUS_MISSED;
    auto got = tracker.features(sums, task, q, 0.4);
    if (!open || !task.has_due_at() || from_timestamp(task.due_at()) < q) {
      CHECK_FALSE(got);
      continue;
    }
    auto want = risk_features(book, task, q, 0.4);
    REQUIRE(want);
    REQUIRE(got);
    for (size_t i = 0; i < kTaskRiskFeatureCount; ++i) {
      INFO("feature " << kTaskRiskFeatureNames[i] << " of task " << id);
      CHECK((*got)[i] == doctest::Approx((*want)[i]).epsilon(1e-9));
    }
  }
}

}  // namespace

TEST_CASE("the tracker's features equal the book's on random histories") {
  const std::vector<std::string> categories = {"essay", "quiz", "chores"};
  uint64_t updates = 0, rebuilds = 0;
  for (unsigned seed = 1; seed <= 40; ++seed) {
    std::mt19937 rng(seed);
    auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    User u;
    double t = 0;
    for (int step = 0; step < 120; ++step) {
      t += uniform(0, 3) * 0.5;  // half days: events at the same instant, due dates that tie
      auto now = at_day(t);
      int op = u.ids.empty() ? 0 : uniform(0, 9);
      const std::string& id =
          u.ids.empty() ? std::string() : u.ids[uniform(0, int(u.ids.size()) - 1)];
      const v1::Task* task = id.empty() ? nullptr : u.book.find(id);
      auto some_due = [&] {
        return uniform(0, 4) == 0 ? std::nullopt
                                  : std::optional(at_day(std::floor(t) + uniform(-3, 12)));
      };
      v1::TaskEvent e;
      std::string target = id;
      if (op <= 2) {
        target = new_uuid_string();
        u.ids.push_back(target);
        e = created(categories[uniform(0, 2)], some_due());
      } else if (op <= 4) {
        e.mutable_task_completed();
      } else if (op == 5) {
        e.mutable_task_reopened();
      } else if (op == 6) {
        if (task && task->status() == v1::TASK_STATUS_DELETED)
          e.mutable_task_restored();
        else
          e.mutable_task_deleted();
      } else if (op == 7) {
        e = modified(some_due(), uniform(0, 1) ? &categories[uniform(0, 2)] : nullptr);
      } else if (op == 8) {
        *e.mutable_task_snoozed()->mutable_until() = to_timestamp(at_day(t + 1));
      } else {
        e.mutable_task_missed();
      }
      u.apply(std::move(e), target, now);
      ++updates;
      // Time passes with no event (as the actor's clock ticks), never past
      // the next query or event (time does not go back).
      double query = t + uniform(0, 6) * 0.5;
      if (uniform(0, 3) == 0) {
        t += (query - t) * uniform(0, 2) / 2;
        u.tracker.advance(at_day(t));
      }
      check_all(u.book, u.tracker, at_day(query));
      // A tracker built from the book agrees with the one kept event by event.
      if (step % 40 == 39) check_all(u.book, RiskTracker::of(u.book, now), now);
    }
    rebuilds += u.tracker.rebuilds();
  }
  // Rebuilds are for the rare changes (here far more common than in life).
  MESSAGE("updates " << updates << ", rebuilds " << rebuilds);
  CHECK(rebuilds * 4 < updates);
}

TEST_CASE("the common changes need no rebuild") {
  User u;
  for (int i = 0; i < 50; ++i) {
    auto id = new_uuid_string();
    u.apply(created(i % 2 ? "essay" : "quiz", at_day(i + 3)), id, at_day(i));
    v1::TaskEvent snooze;
    *snooze.mutable_task_snoozed()->mutable_until() = to_timestamp(at_day(i + 1));
    u.apply(snooze, id, at_day(i + 0.25));
    v1::TaskEvent edit;
    edit.mutable_task_modified()->add_changed(v1::TASK_FIELD_TITLE);
    edit.mutable_task_modified()->mutable_after()->set_title("renamed");
    u.apply(edit, id, at_day(i + 0.5));
    if (i % 3 == 0) continue;  // left open: overdue later, completed below
    v1::TaskEvent done;
    done.mutable_task_completed();
    u.apply(done, id, at_day(i + (i % 5)));  // some on time, some late
  }
  // Overdue tasks completed long after their due date: their outcome stays late.
  std::vector<std::string> open;
  for (const auto& [id, task] : u.book.tasks())
    if (task.status() != v1::TASK_STATUS_COMPLETED) open.push_back(id);
  for (const auto& id : open) {
    v1::TaskEvent done;
    done.mutable_task_completed();
    u.apply(done, id, at_day(60));
  }
  CHECK(u.tracker.rebuilds() == 0);
  check_all(u.book, u.tracker, at_day(61));
}
