// One coach API request over an open NATS connection, as tools send them
// (coach-deliver; the headers are those of docs/api.md).
#pragma once

#include <string>

#include "base/result.h"
#include "schema/commands.pb.h"

typedef struct __natsConnection natsConnection;
typedef struct __natsMsg natsMsg;

namespace coach::apps {

struct RequestHeaders {
  std::string token;            // bearer token
  std::string user;             // Coach-User, when not the token's user
  std::string idempotency_key;  // Coach-Idempotency-Key
};

// Sets the API's request headers on `msg`: Content-Type, Authorization
// (`authorization` as sent: "Bearer <token>") when not empty, and
// Coach-User and Coach-Idempotency-Key when not empty.
void set_request_headers(natsMsg* msg, const std::string& content_type,
                         const std::string& authorization, const std::string& user,
                         const std::string& idempotency_key);

// The reply to `operation` with a JSON body; a transport failure or an
// unreadable answer is `unavailable`. coach's own errors come inside the Reply.
Result<v1::Reply> coach_request(natsConnection* connection, const std::string& operation,
                                const std::string& body, const RequestHeaders& headers,
                                int timeout_ms);

}  // namespace coach::apps
