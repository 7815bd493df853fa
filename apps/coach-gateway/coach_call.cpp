#include "apps/coach-gateway/coach_call.h"

#include <nats/nats.h>

#include <chrono>

#include "wire/api_codec.h"

namespace coach::apps {

CoachAnswer call_coach(natsConnection* nats, const CoachCall& call) {
  natsMsg* msg = nullptr;
  auto subject = std::string(actors::kSubjectPrefix) + call.operation;
  natsMsg_Create(&msg, subject.c_str(), nullptr, call.body.data(),
                 static_cast<int>(call.body.size()));
  natsMsgHeader_Set(msg, actors::kContentTypeHeader, call.content_type.c_str());
  if (!call.authorization.empty())
    natsMsgHeader_Set(msg, actors::kAuthorizationHeader, call.authorization.c_str());
  if (!call.user.empty()) natsMsgHeader_Set(msg, actors::kUserHeader, call.user.c_str());
  if (!call.idempotency_key.empty())
    natsMsgHeader_Set(msg, actors::kIdempotencyHeader, call.idempotency_key.c_str());
  // Coach does not start what nobody will wait for.
  auto deadline = std::chrono::system_clock::now() + std::chrono::milliseconds(call.timeout_ms);
  auto epoch_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline.time_since_epoch()).count();
  natsMsgHeader_Set(msg, actors::kDeadlineHeader, std::to_string(epoch_ms).c_str());
  natsMsg* answer = nullptr;
  natsStatus s = natsConnection_RequestMsg(&answer, nats, msg, call.timeout_ms);
  natsMsg_Destroy(msg);
  CoachAnswer out;
  if (s != NATS_OK) {
    out.outcome =
        s == NATS_TIMEOUT ? CoachAnswer::Outcome::timed_out : CoachAnswer::Outcome::unreachable;
    out.why = natsStatus_GetText(s);
    return out;
  }
  out.outcome = CoachAnswer::Outcome::answered;
  out.reply.assign(natsMsg_GetData(answer), static_cast<size_t>(natsMsg_GetDataLength(answer)));
  natsMsg_Destroy(answer);
  return out;
}

}  // namespace coach::apps
