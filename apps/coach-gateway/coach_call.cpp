#include "apps/coach-gateway/coach_call.h"

#include <nats/nats.h>

#include <algorithm>
#include <chrono>

#include "apps/common/coach_client.h"
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
  set_request_headers(msg, call.content_type, call.authorization, call.user, call.idempotency_key);
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
