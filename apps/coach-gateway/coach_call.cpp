#include "apps/coach-gateway/coach_call.h"

#include <nats/nats.h>

#include <algorithm>
#include <chrono>

#include "wire/api_codec.h"

namespace coach::apps {

CoachAnswer call_coach(natsConnection* nats, const CoachCall& call) {
  CoachAnswer out;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::min(call.deadline - std::chrono::system_clock::now(),
               std::chrono::system_clock::duration(kMaxWait)));
  if (left.count() <= 0) {
    out.outcome = CoachAnswer::Outcome::timed_out;
    out.why = "the deadline passed before the request was sent";
    return out;
  }
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
  auto epoch_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      (std::chrono::system_clock::now() + left).time_since_epoch())
                      .count();
  natsMsgHeader_Set(msg, actors::kDeadlineHeader, std::to_string(epoch_ms).c_str());
  natsMsg* answer = nullptr;
  natsStatus s = natsConnection_RequestMsg(&answer, nats, msg, left.count());
  natsMsg_Destroy(msg);
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
