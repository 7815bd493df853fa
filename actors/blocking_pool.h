// BlockingPool: a few threads for the work of actors that may block (event
// store reads, snapshots, a user's erasure, NATS calls), so that CAF's
// scheduler threads never wait for a disk or the network. An actor submits
// a job; the job does the blocking part and sends its result back to the
// actor as a message (or answers the request itself).
//
// mark_caf_threads_nonblocking makes the rule checkable: every thread CAF
// starts is marked (base/blocking.h), and the event store counts blocking
// calls made on marked threads (StoreStats::blocking_on_scheduler).
#pragma once

#include <caf/actor_system_config.hpp>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace coach::actors {

class BlockingPool {
 public:
  // Starts `threads` threads (at least 1), named `name` for ps and gdb.
  // Defaults: 2 threads, "coach-io".
  explicit BlockingPool(size_t threads = 2, std::string name = "coach-io");
  // Runs every job already submitted, then joins the threads.
  ~BlockingPool();
  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;

  // Queues `job` on the thread that `key` picks: jobs with the same key run
  // one after the other in submission order (a user's snapshot save never
  // races their erasure, even across actor restarts). Jobs must not throw.
  // After the destructor began, the job runs on the calling thread.
  void submit(uint64_t key, std::function<void()> job);
  // Waits until every job submitted before the call has run (a partition
  // leaving the node: no job may touch its store once it closes).
  void drain();
  // Jobs waiting for a thread.
  size_t queued() const;

 private:
  struct Lane {
    std::condition_variable wake;
    std::deque<std::function<void()>> jobs;
  };
  void run(Lane& lane);

  mutable std::mutex mu_;
  bool stopping_ = false;
  std::string name_;
  std::vector<std::unique_ptr<Lane>> lanes_;
  std::vector<std::thread> threads_;
};

// Marks every thread the actor system of `config` starts (scheduler
// workers, timer, detached actors) as one that must not block. Call before
// the actor_system is made from `config`.
void mark_caf_threads_nonblocking(caf::actor_system_config& config);

}  // namespace coach::actors
