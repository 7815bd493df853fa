#include "actors/blocking_pool.h"

#include <pthread.h>
#include <caf/thread_hook.hpp>

#include "base/blocking.h"

namespace coach::actors {

BlockingPool::BlockingPool(size_t threads, std::string name) : name_(std::move(name)) {
  for (size_t i = 0; i < std::max<size_t>(1, threads); ++i)
    lanes_.push_back(std::make_unique<Lane>());
  for (auto& lane : lanes_) threads_.emplace_back([this, l = lane.get()] { run(*l); });
}

BlockingPool::~BlockingPool() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  for (auto& lane : lanes_) lane->wake.notify_all();
  for (auto& t : threads_) t.join();
}

void BlockingPool::submit(uint64_t key, std::function<void()> job) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      auto& lane = *lanes_[key % lanes_.size()];
      lane.jobs.push_back(std::move(job));
      lane.wake.notify_one();
      return;
    }
  }
  job();  // shutting down: nobody else would run it
}

void BlockingPool::drain() {
  struct Latch {
    std::mutex mu;
    std::condition_variable cv;
    size_t left = 0;
  };
  auto latch = std::make_shared<Latch>();
  latch->left = lanes_.size();
  for (size_t key = 0; key < lanes_.size(); ++key)
    submit(key, [latch] {
      std::lock_guard lock(latch->mu);
      if (--latch->left == 0) latch->cv.notify_all();
    });
  std::unique_lock lock(latch->mu);
  latch->cv.wait(lock, [&] { return latch->left == 0; });
}

size_t BlockingPool::queued() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& lane : lanes_) n += lane->jobs.size();
  return n;
}

void BlockingPool::run(Lane& lane) {
  pthread_setname_np(pthread_self(), name_.substr(0, 15).c_str());
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lock(mu_);
      lane.wake.wait(lock, [&] { return stopping_ || !lane.jobs.empty(); });
      if (lane.jobs.empty()) return;  // stopping, and every job has run
      job = std::move(lane.jobs.front());
      lane.jobs.pop_front();
    }
    job();
  }
}

namespace {

class NonblockingHook : public caf::thread_hook {
 public:
  void init(caf::actor_system&) override {}
  void thread_started() override { coach::mark_thread_nonblocking(); }
  void thread_terminates() override {}
};

}  // namespace

void mark_caf_threads_nonblocking(caf::actor_system_config& config) {
  config.add_thread_hook<NonblockingHook>();
}

}  // namespace coach::actors
