// Notifier: hands notifications to the delivery gateways over NATS
// JetStream, and turns what could not be delivered into dead letters.
//
// - Stream COACH_NOTIFY (work queue, file storage) on subjects
//   coach.notify.<channel>.<user id>: one OutboundNotification (JSON) per
//   notification, published with its id as Nats-Msg-Id, so a repeated
//   publish within the duplicate window (24 h) is stored once.
// - One durable pull consumer per channel, "deliver-push" and so on, made
//   by coachd with explicit acks, ack_wait and max_deliver: a gateway that
//   does not ack in time (or naks) gets the message again.
// - After max_deliver attempts JetStream publishes a MAX_DELIVERIES
//   advisory; the notifier then copies the message to
//   coach.dead.<channel>.<user id> (stream COACH_DEAD, kept 30 days), removes it from the work
//   queue and calls on_dead, which records the failure in the user's log.
// - The user id in the subject lets purge_user find all of a user's
//   messages when the user is deleted (a subject-filtered purge).
// Gateways confirm delivery with admin.notification.report (docs/api.md).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "base/ids.h"
#include "base/result.h"
#include "schema/commands.pb.h"
#include "schema/internal.pb.h"
#include "wire/nats_connect.h"
#include "wire/notify_subjects.h"

typedef struct __natsConnection natsConnection;
typedef struct __natsSubscription natsSubscription;
typedef struct __natsMsg natsMsg;
typedef struct __jsCtx jsCtx;

namespace coach::actors {

struct NotifierOptions {
  NatsConfig nats;
  int max_deliver = 5;
  std::chrono::milliseconds ack_wait{30000};
  // A notification that could not be delivered after max_deliver attempts.
  std::function<void(const v1::OutboundNotification&, uint64_t deliveries)> on_dead;
  // Whether this node dead-letters the user's notifications: every node
  // hears each advisory, and only the owner of the user's partition may
  // record the failure in the user's log. Null (default): every user.
  std::function<bool(const std::string& user_id)> handles;
};

struct NotifierStats {
  uint64_t published = 0, publish_errors = 0, dead_lettered = 0;
  uint64_t pending = 0;      // in COACH_NOTIFY, not yet acked by a gateway
  uint64_t dead_stored = 0;  // messages in COACH_DEAD
};

class Notifier {
 public:
  static Result<std::unique_ptr<Notifier>> start(NotifierOptions options);
  ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Publishes without waiting for JetStream's ack (errors are counted).
  void publish(const v1::OutboundNotification& notification);
  // Publishes a stored nudge on the user's live feed, live_subject(user),
  // as a LiveNotification (core NATS, no wait; errors are counted as
  // publish errors).
  void publish_live(const Uuid& user, const v1::LiveNotification& live);
  // Removes every queued and dead-lettered notification of `user` from
  // JetStream (after what publish handed over has reached it): called when
  // the user is deleted. unavailable if JetStream does not answer.
  Status purge_user(const Uuid& user);
  // Reads stream figures from the server (requests; not for hot paths).
  // Each request waits at most 250 ms: when JetStream does not answer
  // (a leader election, a lost server) the last figures read are given,
  // so that /metrics and the dashboard answer at once when they matter most.
  NotifierStats stats() const;

 private:
  explicit Notifier(NotifierOptions options) : options_(std::move(options)) {}
  Status set_up_streams();
  static void on_advisory(natsConnection*, natsSubscription*, natsMsg* msg, void* closure);
  void dead_letter(natsMsg* advisory);

  NotifierOptions options_;
  natsConnection* connection_ = nullptr;
  jsCtx* js_ = nullptr;
  natsSubscription* advisories_ = nullptr;
  std::atomic<uint64_t> published_{0}, errors_{0}, dead_{0};
  mutable std::atomic<uint64_t> last_pending_{0}, last_dead_stored_{0};
};

}  // namespace coach::actors
