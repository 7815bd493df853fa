#include "apps/common/coach_client.h"

#include <nats/nats.h>

#include "wire/api_codec.h"

namespace coach::apps {

void set_request_headers(natsMsg* msg, const std::string& content_type,
                         const std::string& authorization, const std::string& user,
                         const std::string& idempotency_key) {
  natsMsgHeader_Set(msg, actors::kContentTypeHeader, content_type.c_str());
  if (!authorization.empty())
    natsMsgHeader_Set(msg, actors::kAuthorizationHeader, authorization.c_str());
  if (!user.empty()) natsMsgHeader_Set(msg, actors::kUserHeader, user.c_str());
  if (!idempotency_key.empty())
    natsMsgHeader_Set(msg, actors::kIdempotencyHeader, idempotency_key.c_str());
}

Result<v1::Reply> coach_request(natsConnection* connection, const std::string& operation,
                                const std::string& body, const RequestHeaders& headers,
                                int timeout_ms) {
  natsMsg* msg = nullptr;
  auto subject = std::string(actors::kSubjectPrefix) + operation;
  natsMsg_Create(&msg, subject.c_str(), nullptr, body.data(), static_cast<int>(body.size()));
  set_request_headers(msg, "application/json", "Bearer " + headers.token, headers.user,
                      headers.idempotency_key);
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
