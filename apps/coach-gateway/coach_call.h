// One request to coach over NATS, as the gateways make it for their
// callers: the operation's message as it came, the caller's headers, and
// how long to wait. Blocks; run it where waiting is allowed.
#pragma once

#include <string>

typedef struct __natsConnection natsConnection;

namespace coach::apps {

struct CoachCall {
  std::string operation;     // e.g. "task.create" (wire/operations.h)
  std::string body;          // the operation's message, encoded as content_type says
  std::string content_type;  // "application/json" or "application/protobuf"
  std::string authorization, user, idempotency_key;  // the API's headers; empty: left out
  int timeout_ms = 5000;  // also sent as Coach-Deadline: coach drops it after that
};

struct CoachAnswer {
  enum class Outcome { answered, timed_out, unreachable } outcome = Outcome::unreachable;
  std::string reply;  // answered: coach's Reply, encoded as the call's content_type
  std::string why;    // otherwise: NATS's words
};

CoachAnswer call_coach(natsConnection* nats, const CoachCall& call);

}  // namespace coach::apps
