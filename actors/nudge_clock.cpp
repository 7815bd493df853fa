#include "actors/nudge_clock.h"

#include <vector>

namespace coach::actors {

NudgeClock::NudgeClock(std::function<void(const Uuid&)> wake)
    : wake_(std::move(wake)), thread_([this] { run(); }) {}

NudgeClock::~NudgeClock() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void NudgeClock::schedule(const Uuid& user, Clock::time_point when) {
  std::lock_guard lock(mu_);
  auto [it, fresh] = at_.emplace(user, when);
  if (!fresh) {
    if (it->second <= when) return;
    queue_.erase({it->second, user});
    it->second = when;
  }
  bool earliest = queue_.empty() || when < queue_.begin()->first;
  queue_.emplace(when, user);
  if (earliest) changed_.notify_one();
}

size_t NudgeClock::scheduled() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

void NudgeClock::run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    if (queue_.empty()) {
      changed_.wait(lock);
      continue;
    }
    auto next = queue_.begin()->first;
    if (Clock::now() < next) {
      changed_.wait_until(lock, next);
      continue;
    }
    std::vector<Uuid> due;
    while (!queue_.empty() && queue_.begin()->first <= Clock::now() && due.size() < 1024) {
      due.push_back(queue_.begin()->second);
      at_.erase(queue_.begin()->second);
      queue_.erase(queue_.begin());
    }
    lock.unlock();
    for (const auto& user : due) wake_(user);
    lock.lock();
  }
}

}  // namespace coach::actors
