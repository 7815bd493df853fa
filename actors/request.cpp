#include "actors/request.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <sodium.h>

#include "wire/api_codec.h"

namespace coach::actors {

Request::Request(Uuid user, v1::Command command, std::string idempotency_key, ReplyFn reply,
                 const Operation* operation)
    : user_(user),
      command_(std::move(command)),
      operation_(operation ? operation : operation_of(command_)),
      idempotency_key_(std::move(idempotency_key)),
      reply_(std::move(reply)) {
  if (idempotency_key_.empty() || !operation_) return;
  const auto* message = operation_->message_of(command_);
  std::string bytes = operation_->name + '\0';
  if (message) {
    google::protobuf::io::StringOutputStream out(&bytes);
    google::protobuf::io::CodedOutputStream coded(&out);
    coded.SetSerializationDeterministic(true);  // maps in a fixed order
    message->SerializeToCodedStream(&coded);
  }
  fingerprint_.resize(crypto_generichash_BYTES);
  crypto_generichash(reinterpret_cast<unsigned char*>(fingerprint_.data()), fingerprint_.size(),
                     reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), nullptr,
                     0);
}

Request::~Request() {
  if (!answered_)
    reply_error(make_error(Errc::unavailable,
                           "the user's actor stopped before answering; retry with the same "
                           "idempotency key"),
                100);
}

void Request::track(std::shared_ptr<std::atomic<int>> user_in_flight,
                    std::shared_ptr<std::atomic<int>> node_in_flight) {
  user_in_flight_ = std::move(user_in_flight);
  node_in_flight_ = std::move(node_in_flight);
}

void Request::reply(const v1::Reply& reply) {
  if (answered_) return;
  answered_ = true;
  // Count down first: a client that has its answer may send the next
  // command at once, and must not find this one still counted.
  if (user_in_flight_) user_in_flight_->fetch_sub(1, std::memory_order_acq_rel);
  if (node_in_flight_) node_in_flight_->fetch_sub(1, std::memory_order_acq_rel);
  if (reply_) reply_(reply);
}

void Request::reply_error(const Error& error, uint32_t retry_after_ms) {
  reply(error_reply(error, retry_after_ms));
}

v1::Reply error_reply(const Error& error, uint32_t retry_after_ms) {
  v1::Reply reply;
  auto* e = reply.mutable_error();
  e->set_code(std::string(errc_name(error.code)));
  e->set_message(valid_utf8(error.message));  // it may quote a client's bytes
  e->set_retry_after_ms(retry_after_ms);
  return reply;
}

Error deadline_passed() {
  return make_error(Errc::unavailable,
                    "the request's deadline (Coach-Deadline) passed before coach started it; "
                    "nothing was done");
}

}  // namespace coach::actors
