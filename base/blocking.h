// Threads that must never wait for a disk say so, and the event store
// counts each blocking call made on one anyway.
//
// coachd marks CAF's threads (scheduler workers, its timer) through a CAF
// thread hook (actors/blocking_pool.h); every blocking EventStore call (a
// read, a synced append, a snapshot, an erase, ...) made on a marked thread
// is counted in StoreStats::blocking_on_scheduler and the first one is
// logged. Its contract is zero: actors hand blocking work to a pool.
#pragma once

namespace coach {

// Marks (or unmarks) the calling thread as one that must not block.
void mark_thread_nonblocking(bool nonblocking = true);
// Whether the calling thread is marked. Default: false.
bool thread_is_nonblocking();

}  // namespace coach
