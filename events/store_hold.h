// EventStore::Hold, for the store's own .cpp files only: every call that
// uses the database holds it, so that a reopen after a storage fault
// (store_health.cpp) never closes it under a reader or the writer.
#pragma once

#include "events/event_store.h"

namespace coach::events {

// Shares the database with every other call and never with a reopen.
// Re-entrant on one thread: a call that makes another call holds it once.
class EventStore::Hold {
 public:
  explicit Hold(const EventStore& store);
  ~Hold();
  Hold(const Hold&) = delete;
  Hold& operator=(const Hold&) = delete;

  // False when a reopen failed and the store has no database right now.
  explicit operator bool() const { return store_.db_ != nullptr; }
  // The io_error a call answers when it has no database.
  Error error() const;

 private:
  const EventStore& store_;
  const EventStore* outer_ = nullptr;  // what this thread held before
  bool nested_ = false;
};

}  // namespace coach::events
