#include "apps/common/coach_client.h"

#include <nats/nats.h>

#include "wire/api_codec.h"

namespace coach::apps {

Result<v1::Reply> coach_request(natsConnection* connection, const std::string& operation,
                                const std::string& body, const RequestHeaders& headers,
                                int timeout_ms) {
  natsMsg* msg = nullptr;
  auto subject = std::string(actors::kSubjectPrefix) + operation;
  natsMsg_Create(&msg, subject.c_str(), nullptr, body.data(), static_cast<int>(body.size()));
  natsMsgHeader_Set(msg, coach::actors::kContentTypeHeader, "application/json");
  natsMsgHeader_Set(msg, coach::actors::kAuthorizationHeader, ("Bearer " + headers.token).c_str());
  if (!headers.user.empty())
    natsMsgHeader_Set(msg, coach::actors::kUserHeader, headers.user.c_str());
  if (!headers.idempotency_key.empty())
    natsMsgHeader_Set(msg, coach::actors::kIdempotencyHeader, headers.idempotency_key.c_str());
  natsMsg* response = nullptr;
  natsStatus s = natsConnection_RequestMsg(&response, connection, msg, timeout_ms);
  natsMsg_Destroy(msg);
  if (s != NATS_OK)
    return make_error(Errc::unavailable, "no answer to " + subject + " within " +
                                             std::to_string(timeout_ms) +
                                             " ms: " + natsStatus_GetText(s));
  std::string answer(natsMsg_GetData(response),
                     static_cast<size_t>(natsMsg_GetDataLength(response)));
  natsMsg_Destroy(response);
  auto reply = actors::decode_reply(answer, actors::Encoding::json);
  if (!reply) return make_error(Errc::unavailable, "unreadable answer: " + reply.error().message);
  return reply;
}

}  // namespace coach::apps
