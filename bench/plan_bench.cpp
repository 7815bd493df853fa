// Planning time (issue #6): how long plan_schedule takes for one user with
// 50, 500 and 5,000 pending tasks over a two-week horizon (Europe/Berlin,
// work hours Monday to Friday 09:00-17:00, mixed estimates and dues).
//
//   build/bench/plan_bench [--repeat 5]
#include <fmt/core.h>
#include <CLI/CLI.hpp>
#include <random>

#include "events/envelope.h"
#include "projections/schedule_planner.h"

using namespace coach;
using namespace coach::projections;
using Steady = std::chrono::steady_clock;

int main(int argc, char** argv) {
  CLI::App app{"coach planning benchmark"};
  int repeat = 5;
  app.add_option("--repeat", repeat, "plans per size (the median is printed)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  fmt::print("plan benchmark: one user, 14-day horizon, Europe/Berlin, median of {}\n", repeat);
  for (int count : {50, 500, 5000}) {
    std::mt19937_64 rng(static_cast<uint64_t>(count));
    PlanRequest r;
    r.time_zone = "Europe/Berlin";
    r.now = Clock::from_time_t(1772438400);  // 2026-03-02 08:00 UTC, a Monday
    r.procrastination = 0.4;
    for (int i = 0; i < count; ++i) {
      v1::Task t;
      t.set_id(fmt::format("00000000-0000-4000-8000-{:012d}", i));
      t.set_title(fmt::format("task {}", i));
      t.set_status(v1::TASK_STATUS_PENDING);
      t.set_estimated_minutes(static_cast<int>(rng() % 8 + 1) * 15);
      t.set_priority(static_cast<int>(rng() % 5));
      if (rng() % 4)
        *t.mutable_due_at() =
            coach::to_timestamp(r.now + std::chrono::hours(static_cast<int>(rng() % (24 * 30))));
      r.tasks.push_back(std::move(t));
    }
    for (auto& a : r.feedback.accepted) a = static_cast<uint32_t>(rng() % 5);
    std::vector<double> ms;
    Plan plan;
    for (int k = 0; k < repeat; ++k) {
      auto start = Steady::now();
      plan = plan_schedule(r);
      ms.push_back(std::chrono::duration<double, std::milli>(Steady::now() - start).count());
    }
    std::sort(ms.begin(), ms.end());
    fmt::print("{:>5} tasks: {:>9.2f} ms  ({} blocks, {} at risk, {} of {} free minutes planned)\n",
               count, ms[ms.size() / 2], plan.blocks.size(), plan.at_risk.size(),
               plan.planned_minutes, plan.free_minutes);
  }
  return 0;
}
