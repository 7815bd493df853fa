// Request: one client command on its way to a user actor, with the means to
// answer it. Whoever holds the last reference answers: when a request is
// dropped unanswered (its actor crashed or stopped), it answers itself with
// "unavailable, retry", so a client never waits for a reply that will not
// come.
#pragma once

#include <atomic>
#include <caf/allowed_unsafe_message_type.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "base/ids.h"
#include "base/result.h"
#include "schema/commands.pb.h"
#include "wire/operations.h"

namespace coach::actors {

using ReplyFn = std::function<void(const v1::Reply&)>;

class Request {
 public:
  // `operation` is the command's row in the operation table, as the gateway
  // found it; null to look it up from the command (tests, internal callers).
  // A command that holds no operation has none: the actor refuses it.
  Request(Uuid user, v1::Command command, std::string idempotency_key, ReplyFn reply,
          const Operation* operation = nullptr);
  ~Request();
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;

  const Uuid& user() const { return user_; }
  const v1::Command& command() const { return command_; }
  v1::Command& mutable_command() { return command_; }
  // The command's row; nullptr for a command that holds no operation.
  const Operation* operation() const { return operation_; }
  const std::string& idempotency_key() const { return idempotency_key_; }
  // With an idempotency key: a 32-byte hash (BLAKE2b) of the operation and
  // its message as received, before any decider filled anything in. A key
  // reused for another command has another fingerprint. Empty without a key.
  const std::string& fingerprint() const { return fingerprint_; }
  std::chrono::steady_clock::time_point received() const { return received_; }
  // When the caller stops waiting (header Coach-Deadline); none: never.
  // A request found expired before its command starts is answered
  // `unavailable` and not carried out.
  void set_deadline(std::chrono::system_clock::time_point deadline) { deadline_ = deadline; }
  // Whether the caller's token is the target user's own (not an analyst's
  // or admin's about another user). False unless set: internal callers are
  // not the user. What only the user sees (Insights.weeks) depends on it.
  void set_from_user(bool from_user) { from_user_ = from_user; }
  bool from_user() const { return from_user_; }
  bool expired(std::chrono::system_clock::time_point now) const {
    return deadline_ && now >= *deadline_;
  }

  // Answers the request; later calls do nothing.
  void reply(const v1::Reply& reply);
  void reply_error(const Error& error, uint32_t retry_after_ms = 0);
  bool answered() const { return answered_; }

  // Counters to decrement once answered (the registry's in-flight counts).
  void track(std::shared_ptr<std::atomic<int>> user_in_flight,
             std::shared_ptr<std::atomic<int>> node_in_flight);

 private:
  Uuid user_;
  v1::Command command_;
  const Operation* operation_;
  std::string idempotency_key_;
  std::string fingerprint_;
  ReplyFn reply_;
  std::chrono::steady_clock::time_point received_ = std::chrono::steady_clock::now();
  std::optional<std::chrono::system_clock::time_point> deadline_;
  bool answered_ = false;
  bool from_user_ = false;
  std::shared_ptr<std::atomic<int>> user_in_flight_;
  std::shared_ptr<std::atomic<int>> node_in_flight_;
};

using RequestPtr = std::shared_ptr<Request>;

// A reply holding an error.
v1::Reply error_reply(const Error& error, uint32_t retry_after_ms = 0);

// What a request whose deadline passed before its command started is
// answered: `unavailable`, nothing done.
Error deadline_passed();

}  // namespace coach::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(coach::actors::RequestPtr)
