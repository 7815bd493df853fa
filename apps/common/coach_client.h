// One coach API request over an open NATS connection, as tools send them
// (coach-deliver; the headers are those of docs/api.md).
#pragma once

#include <string>

#include "base/result.h"
#include "schema/commands.pb.h"

typedef struct __natsConnection natsConnection;

namespace coach::apps {

struct RequestHeaders {
  std::string token;            // bearer token
  std::string user;             // Coach-User, when not the token's user
  std::string idempotency_key;  // Coach-Idempotency-Key
};

// The reply to `operation` with a JSON body; a transport failure or an
// unreadable answer is `unavailable`. coach's own errors come inside the Reply.
Result<v1::Reply> coach_request(natsConnection* connection, const std::string& operation,
                                const std::string& body, const RequestHeaders& headers,
                                int timeout_ms);

}  // namespace coach::apps
