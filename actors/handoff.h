// Sending to a user actor from a thread CAF does not run (a NATS callback,
// the store's writer, an LLM worker), in a way ThreadSanitizer can follow.
//
// CAF 0.17.6 from Debian is not built with TSan: its mailboxes and job queues
// synchronize through atomics TSan cannot see, so TSan would not know that
// what a sender wrote before enqueueing a message happens before the actor
// handles it, and would report the actor's (or a later thread's) accesses
// as races. send_to_actor marks a release on the actor's address once the
// message is made and before it is enqueued; each of the actor's handlers
// starts with handoff_acquire(self).
// Outside a TSan build both marks compile to nothing.
#pragma once

#include <caf/abstract_actor.hpp>
#include <caf/actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/message_id.hpp>
#include <utility>

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif

namespace coach::actors {

// What an actor's handler calls first: it sees all that senders wrote
// before their send_to_actor.
inline void handoff_acquire([[maybe_unused]] const caf::abstract_actor* self) {
#if defined(__SANITIZE_THREAD__)
  __tsan_acquire(const_cast<caf::abstract_actor*>(self));
#endif
}

// caf::anon_send(actor, xs...) with the release TSan needs between making
// the mailbox element and enqueueing it (what anon_send does in one step).
template <class... Ts>
void send_to_actor(const caf::actor& actor, Ts&&... xs) {
  if (!actor) return;
  auto element =
      caf::make_mailbox_element(nullptr, caf::make_message_id(), {}, std::forward<Ts>(xs)...);
  auto* receiver = caf::actor_cast<caf::abstract_actor*>(actor);
#if defined(__SANITIZE_THREAD__)
  __tsan_release(receiver);
#endif
  receiver->enqueue(std::move(element), nullptr);
}

}  // namespace coach::actors
