// Fold rate: how fast a user's events fold into the task book and the
// behavioral signals, per core, from decoded events in memory (issue #5's
// target: >= 5M events/s per core for the fold itself), and what the
// lateness risk tracker (issue 22) adds to it. With --metrics, the success
// metrics (issue 23) beside the user state's fold, streaming users one at a
// time (each user's stream is made untimed, then folded, then measured), so
// that 100,000 users x 200 events fit in memory.
//
//   build/bench/fold_bench [--users N] [--events-per-user N]
//   build/bench/fold_bench --metrics --users 100000 --events-per-user 200
//
// (--metrics also times the incremental update after a day of new events
// and fails unless it gives the full recompute's report.)
#include <fmt/core.h>
#include <google/protobuf/util/message_differencer.h>
#include <CLI/CLI.hpp>
#include <chrono>
#include <optional>

#include "events/envelope.h"
#include "projections/behavior_signals.h"
#include "projections/metrics_report.h"
#include "projections/risk_tracker.h"
#include "projections/task_book.h"
#include "projections/user_state.h"

using namespace coach;
using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

namespace {

const auto kStreamStart = coach::Clock::from_time_t(1772409600);  // 2026-03-02 00:00 UTC

// A plausible stream: creates, some edits and snoozes, completions, an
// event every `step` from `start`. With `nudges`, one event in 20 writes a
// nudge about the newest open task and the next reports its delivery a
// minute before.
std::vector<v1::TaskEvent> make_stream(const Uuid& user, int count,
                                       coach::Clock::duration step = 37min,
                                       coach::Clock::time_point start = kStreamStart,
                                       bool nudges = false) {
  std::vector<v1::TaskEvent> events;
  std::vector<std::string> open;
  auto t = start;
  std::string written;  // the last nudge's notification, not yet reported
  for (int i = 0; i < count; ++i) {
    v1::TaskEvent e;
    t += step;
    int kind = i % 10;
    if (nudges && !written.empty()) {
      e.mutable_nudge_delivered()->set_notification_id(written);
      *e.mutable_nudge_delivered()->mutable_delivered_at() = coach::to_timestamp(t - 1min);
      written.clear();
    } else if (nudges && i % 20 == 19 && !open.empty()) {
      written = new_uuid_string();
      auto* c = e.mutable_nudge_created();
      c->mutable_nudge()->set_id(new_uuid_string());
      c->mutable_nudge()->set_trigger("overdue");
      c->mutable_nudge()->set_task_id(open.back());
      c->set_cooldown_key("overdue/" + open.back());
      c->mutable_notification()->set_id(written);
    } else if (open.empty() || kind < 4) {
      e.set_task_id(new_uuid_string());
      auto* c = e.mutable_task_created()->mutable_fields();
      c->set_title("task");
      c->set_category(kind % 2 ? "work" : "home");
      *c->mutable_due_at() = coach::to_timestamp(t + 48h);
      open.push_back(e.task_id());
    } else if (kind < 6) {
      e.set_task_id(open.back());
      *e.mutable_task_snoozed()->mutable_until() = coach::to_timestamp(t + 2h);
    } else if (kind < 7) {
      e.set_task_id(open.back());
      auto* m = e.mutable_task_modified();
      m->add_changed(v1::TASK_FIELD_PRIORITY);
      m->mutable_after()->set_priority(2);
    } else {
      e.set_task_id(open.back());
      e.mutable_task_completed();
      open.pop_back();
    }
    events::stamp_envelope(e, user, static_cast<uint64_t>(i + 1), t);
    events.push_back(std::move(e));
  }
  return events;
}

// Per user: the user state's fold (the batch job's work per user), the
// user's success metrics, and the report over users (metrics plus the
// nudge trial's decisions), each timed alone. Then the incremental update
// after a day: each user's events run an event every 3 h for
// `per_user` events (with nudges), and a quarter of the users (those whose
// stream ends in the last day) have new events since yesterday's run. The
// others are added from the carry yesterday's run left (made here
// untimed), the changed ones carried anew from their whole log.
int metrics_bench(int users, int per_user) {
  fmt::print("metrics benchmark: {} users x {} events, one core, streamed\n", users, per_user);
  const auto step = 3h;
  auto end = kStreamStart + step * per_user;  // the newest streams' last event
  auto as_of = end + 1h, yesterday = as_of - 24h;
  projections::ReportOptions options;
  options.from = kStreamStart;
  options.to = as_of;
  projections::MetricsReportBuilder full(options), incremental(options);
  std::chrono::duration<double> fold{0}, metrics{0}, report{0}, update{0};
  uint64_t check = 0, changed = 0, carried_weeks = 0, carried_days = 0, carried_tasks = 0;
  for (int u = 0; u < users; ++u) {
    auto id = Uuid::random();
    // Users whose stream ends 0 (changed today) to 3 days before `end`.
    auto stream = make_stream(id, per_user, step, kStreamStart - 24h * (u % 4), true);
    auto t0 = Steady::now();
    projections::UserState state;
    for (const auto& e : stream) state.fold(e);
    auto t1 = Steady::now();
    auto m = projections::user_metrics(stream, as_of);
    auto t2 = Steady::now();
    full.add(id.to_string(), stream);
    auto t3 = Steady::now();
    bool today = coach::from_timestamp(stream.back().created_at()) > yesterday;
    auto kept = projections::report_carry(stream, yesterday);  // yesterday's run
    carried_weeks += kept.metrics.so_far.weeks.size();
    carried_days += kept.metrics.so_far.days.size();
    carried_tasks += kept.metrics.tasks.size();
    auto t4 = Steady::now();
    if (today) {
      ++changed;
      incremental.add(id.to_string(), projections::report_carry(stream, as_of));
    } else {
      incremental.add(id.to_string(), kept);
    }
    auto t5 = Steady::now();
    fold += t1 - t0;
    metrics += t2 - t1;
    report += t3 - t2;
    update += t5 - t4;
    check += state.tasks.tasks().size() + m.weeks.size();
  }
  auto t6 = Steady::now();
  auto built = full.build();
  std::chrono::duration<double> build = Steady::now() - t6;
  double total = static_cast<double>(users) * per_user;
  auto line = [&](const char* what, std::chrono::duration<double> d) {
    fmt::print("{:<44} {:>8.1f} s  {:>12.0f} events/s  ({:.2f}x the fold)\n", what, d.count(),
               total / d.count(), d.count() / fold.count());
  };
  line("user state fold (the batch job's per user)", fold);
  line("one user's success metrics (user_metrics)", metrics);
  line("report over users (metrics + nudge trial)", report);
  line("report, incremental after a day", update);
  fmt::print("report built in {:.3f} s: {} weeks, {} days, {} cohorts (check {})\n", build.count(),
             built.weeks_size(), built.days_size(), built.cohorts_size(), check);
  bool same = google::protobuf::util::MessageDifferencer::Equals(built, incremental.build());
  fmt::print(
      "incremental: {} of {} users changed; carries of {:.1f} weeks, {:.1f} days and {:.1f}"
      " tasks on average; the same report: {}\n",
      changed, users, static_cast<double>(carried_weeks) / users,
      static_cast<double>(carried_days) / users, static_cast<double>(carried_tasks) / users,
      same ? "yes" : "NO");
  return same ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"coach fold benchmark"};
  int users = 200, per_user = 2000;
  app.add_option("--users", users)->capture_default_str();
  app.add_option("--events-per-user", per_user)->capture_default_str();
  bool metrics = false;
  app.add_flag("--metrics", metrics, "the success metrics beside the fold, streaming users");
  CLI11_PARSE(app, argc, argv);
  if (metrics) return metrics_bench(users, per_user);

  std::vector<std::vector<v1::TaskEvent>> streams;
  for (int u = 0; u < users; ++u) streams.push_back(make_stream(Uuid::random(), per_user));
  double total = static_cast<double>(users) * per_user;
  fmt::print("fold benchmark: {} users x {} events, one core\n", users, per_user);

  auto run = [&](const char* what, auto fold) {
    auto start = Steady::now();
    uint64_t check = 0;
    for (const auto& stream : streams) check += fold(stream);
    double seconds = std::chrono::duration<double>(Steady::now() - start).count();
    fmt::print("{:<38} {:>12.0f} events/s  ({:.0f} ns/event, check {})\n", what, total / seconds,
               seconds / total * 1e9, check);
  };
  run("behavior signals alone", [](const auto& stream) {
    projections::BehaviorSignals s;
    s.set_time_zone("Europe/Berlin");
    for (const auto& e : stream) evolve(s, e, nullptr);
    return s.completions + s.snoozes;
  });
  run("task book alone", [](const auto& stream) {
    projections::TaskBook book;
    for (const auto& e : stream) evolve(book, e);
    return book.tasks().size();
  });
  run("task book + signals (as the actor does)", [](const auto& stream) {
    projections::TaskBook book;
    projections::BehaviorSignals s;
    s.set_time_zone("Europe/Berlin");
    for (const auto& e : stream) {
      evolve(s, e, book.find(e.task_id()));
      evolve(book, e);
    }
    return s.late + book.tasks().size();
  });
  run("task book + lateness risk tracker", [](const auto& stream) {
    projections::TaskBook book;
    auto risk = projections::RiskTracker::of(book, {});
    for (const auto& e : stream) {
      evolve(book, e);
      risk.update(e.task_id(), book.find(e.task_id()), coach::from_timestamp(e.created_at()));
    }
    return risk.size() + risk.rebuilds();
  });
  run("user state (profile, tasks, signals, risk)", [](const auto& stream) {
    projections::UserState state;
    v1::TaskEvent registered;
    registered.mutable_user_registered()->mutable_preferences()->set_behavioral_tracking_enabled(
        true);
    state.fold(registered);
    for (const auto& e : stream) state.fold(e);
    return state.signals->late + state.tasks.tasks().size();
  });
  return 0;
}
