// NudgeClock: when each user's nudge triggers should be checked next. One
// thread and one entry per user (the earliest asked for); when an entry is
// due it calls `wake(user)`, which sends the user's actor a check (spawning
// it if it was passivated). So users whose actors sleep still get their
// deadline and overdue nudges on time, and no actor keeps a timer of its own.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include "base/ids.h"

namespace coach::actors {

class NudgeClock {
 public:
  using Clock = std::chrono::system_clock;
  explicit NudgeClock(std::function<void(const Uuid&)> wake);
  ~NudgeClock();
  NudgeClock(const NudgeClock&) = delete;
  NudgeClock& operator=(const NudgeClock&) = delete;

  // Check `user` at `when`, unless an earlier check is already set.
  void schedule(const Uuid& user, Clock::time_point when);
  size_t scheduled() const;

 private:
  void run();

  std::function<void(const Uuid&)> wake_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::set<std::pair<Clock::time_point, Uuid>> queue_;
  std::unordered_map<Uuid, Clock::time_point, UuidHash> at_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace coach::actors
