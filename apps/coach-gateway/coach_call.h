// One request to coach over NATS, as the gateways make it for their
// callers: the operation's message as it came, the caller's headers, and
// how long to wait. Blocks; run it where waiting is allowed.
#pragma once

#include <chrono>
#include <string>

typedef struct __natsConnection natsConnection;

namespace coach::apps {

struct CoachCall {
  std::string operation;     // e.g. "task.create" (wire/operations.h)
  std::string body;          // the operation's message, encoded as content_type says
  std::string content_type;  // "application/json" or "application/protobuf"
  std::string authorization, user, idempotency_key;  // the API's headers; empty: left out
  // When the caller stops waiting: how long the request waits for coach,
  // sent as Coach-Deadline (coach does not start it after that).
  std::chrono::system_clock::time_point deadline;
};

// The longest a gateway waits for coach, whatever the caller's deadline:
// 60 s (coach answers in milliseconds; longer waits only hold threads).
inline constexpr std::chrono::milliseconds kMaxWait{60000};

struct CoachAnswer {
  // timed_out: no answer before the deadline (or it had passed: nothing sent).
  enum class Outcome { answered, timed_out, unreachable } outcome = Outcome::unreachable;
  std::string reply;  // answered: coach's Reply, encoded as the call's content_type
  std::string why;    // otherwise: NATS's words
};

CoachAnswer call_coach(natsConnection* nats, const CoachCall& call);

}  // namespace coach::apps
