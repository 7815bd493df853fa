// NatsGateway: carries commands in from NATS request-reply and replies out.
// It subscribes to "coach.v1.>" in a queue group, decodes each request
// (api_codec.h), hands it to the registry and publishes the actor's reply on
// the request's reply subject. Bad requests are answered here, with an
// error, and never reach an actor.
//
// On a cluster node (issue 18) a user's partition may be served by another
// node: the request is forwarded as it came (headers, body, the client's
// reply subject) to "coach.node.<owner id>.<subject>", which only the owner
// subscribes to, and the owner answers the client directly: one extra hop,
// no extra wait here. A request that arrives forwarded is never forwarded
// again (ownership moved meanwhile: the registry answers "unavailable"
// with a retry hint); one forwarded to an owner that died meets no
// subscriber, and NATS answers the client "no responders" at once.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "actors/batch_job.h"
#include "actors/registry.h"
#include "base/result.h"
#include "ops/command_metrics.h"
#include "ops/ops_view.h"
#include "wire/auth.h"
#include "wire/nats_connect.h"

typedef struct __natsConnection natsConnection;
typedef struct __natsSubscription natsSubscription;
typedef struct __natsMsg natsMsg;

namespace coach::actors {

struct GatewayOptions {
  NatsConfig nats;         // where and how to connect (TLS by default)
  TokenVerifier verifier;  // checks every request's bearer token
  std::string queue_group = "coachd";
  // Subscriptions in the queue group: each has its own delivery thread, so
  // decoding runs in parallel.
  int subscriptions = 2;
  // Answers admin.batch.run and admin.batch.status; null: "unavailable".
  BatchControl* batch = nullptr;
  // Counts every reply by operation, with its latency; may be null.
  CommandMetrics* metrics = nullptr;
  // Answers admin.ops; null: "unavailable".
  const OpsView* ops = nullptr;
  // How long stop_accepting lets requests already received reach the registry.
  std::chrono::milliseconds drain_timeout{5000};
  // Requests each subscription holds before its handler takes them; beyond
  // that NATS drops them (a slow consumer: counted in GatewayStats::dropped,
  // logged, and the client's request times out). Default: 65536, nats.c's.
  int pending_limit = 65536;
  // A cluster node: this node's id (it also subscribes to
  // "coach.node.<node_id>.>") and, for a user, the id of the node that
  // serves the user's partition when it is another node (empty: here, or
  // nobody now: the registry answers). Defaults: none (a single node).
  std::string node_id;
  std::function<std::string(const Uuid& user)> forward_to;
};

// Where requests forwarded to node `node_id` arrive: "coach.node.<id>.".
std::string forwarded_prefix(const std::string& node_id);

struct GatewayStats {
  uint64_t requests = 0;          // requests received
  uint64_t bad_requests = 0;      // answered with an error before any actor
  uint64_t failed_publishes = 0;  // replies NATS refused (each also logged)
  uint64_t dropped = 0;           // requests dropped by a full subscription (slow consumer)
  uint64_t forwarded = 0;         // sent on to the owner of the user's partition
};

class NatsGateway {
 public:
  static Result<std::unique_ptr<NatsGateway>> start(Registry& registry, GatewayOptions options);
  ~NatsGateway();  // stops taking requests, flushes replies, closes
  NatsGateway(const NatsGateway&) = delete;
  NatsGateway& operator=(const NatsGateway&) = delete;

  // Stops taking new requests: NATS stops delivering to this node (others in
  // the queue group take over) and requests already received are still
  // handed on. Replies still go out until destruction.
  void stop_accepting();
  bool connected() const;
  GatewayStats stats() const;

 private:
  NatsGateway(Registry& registry, GatewayOptions options);
  static void on_message(natsConnection* connection, natsSubscription* subscription, natsMsg* msg,
                         void* closure);
  void handle(natsMsg* msg);
  // An operation of kind node (operations.h), answered here.
  v1::Reply node_reply(const Operation& operation, const v1::Command& command);
  v1::Reply batch_reply(const v1::Command& command);
  v1::Reply actors_reply(const v1::Command& command);
  // Sends the request on to node `owner`; false when NATS refused it.
  bool forward(natsMsg* msg, std::string_view subject, const std::string& owner);

  Registry& registry_;
  GatewayOptions options_;
  natsConnection* connection_ = nullptr;
  mutable std::mutex subscriptions_mu_;  // stats() reads them while stop_accepting ends them
  std::vector<natsSubscription*> subscriptions_;
  std::atomic<uint64_t> requests_{0}, bad_requests_{0}, refused_{0}, forwarded_{0};
  std::string forwarded_prefix_;  // this node's, empty on a single node
  // Drops of subscriptions already destroyed (stop_accepting).
  std::atomic<uint64_t> dropped_before_{0};
  // Shared with each request's reply function, which may outlive a drain.
  std::shared_ptr<std::atomic<uint64_t>> failed_publishes_ =
      std::make_shared<std::atomic<uint64_t>>(0);
  CachingVerifier verifier_;
};

}  // namespace coach::actors
