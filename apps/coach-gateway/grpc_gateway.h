// The gRPC gateway (issue 19): coach.v1.CoachService (schema/
// coach_service.proto) served with grpc++'s callback API, each call
// forwarded to coach over NATS with the gateway's own bus identity and the
// caller's bearer token, the standard health and reflection services on.
//
// A call's request message travels as it came (protobuf bytes, never
// parsed here) to coach.v1.<operation> with Content-Type
// application/protobuf; its metadata become the request's headers:
//   authorization          -> Authorization ("Bearer <token>")
//   coach-user             -> Coach-User
//   coach-idempotency-key  -> Coach-Idempotency-Key
// The call's deadline becomes the NATS request's timeout and its
// Coach-Deadline header (coachd does not start it after that), less a margin
// (a tenth, at most 50 ms) so that the caller hears DEADLINE_EXCEEDED from
// the gateway ("coach did not answer ...") before its own timer; no
// deadline: the default below. coach's Reply comes back as the response; a Reply that
// holds an error becomes the status grpc_code_for(code) with message
// "<code>: <message>" and the serialized coach.v1.ErrorReply as the status
// details (grpc-status-details-bin); busy adds trailing metadata
// coach-retry-after-ms. No answer within the deadline: DEADLINE_EXCEEDED;
// nobody serving coach: UNAVAILABLE.
//
// The callback threads never wait on NATS: calls queue for `workers`
// threads; a full queue answers RESOURCE_EXHAUSTED ("busy: ...", with
// coach-retry-after-ms) at once.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <optional>

#include "apps/coach-gateway/http_gateway.h"
#include "apps/coach-gateway/notification_watch.h"
#include "base/result.h"
#include "wire/nats_connect.h"

namespace coach::apps {

struct GrpcGatewayOptions {
  std::string listen = "127.0.0.1:50051";  // host:port; port 0 picks a free one
  // TLS: the server's certificate chain and key (PEM files, as
  // scripts/make-certs.sh makes them). Empty: plaintext (loopback only).
  std::string cert_file, key_file;
  actors::NatsConfig nats;  // the gateway's own connection and bus identity
  int workers = 8;          // threads waiting on coach's answers
  size_t queue = 1024;      // calls waiting for a worker at most
  // A call without a deadline waits this long for coach. Default 5 s.
  std::chrono::milliseconds default_timeout{5000};
  // Live feeds (WatchNotifications, and the HTTP mapping's events).
  WatchOptions watch;
  // The JSON mapping for browsers (http_gateway.h) on the same NATS
  // connection; none by default.
  std::optional<HttpGatewayOptions> http;
};

class GrpcGateway {
 public:
  // Connects to NATS, then listens. unavailable without NATS; invalid_argument
  // for an address the server cannot bind or unreadable certificates.
  static Result<std::unique_ptr<GrpcGateway>> start(GrpcGatewayOptions options);
  ~GrpcGateway();  // shutdown()
  GrpcGateway(const GrpcGateway&) = delete;
  GrpcGateway& operator=(const GrpcGateway&) = delete;

  int port() const;       // the port gRPC listens on
  int http_port() const;  // the JSON mapping's port; 0 without one
  // Stops taking calls, lets those in flight finish (at most `grace`),
  // then stops the workers and closes NATS. Idempotent.
  void shutdown(std::chrono::milliseconds grace = std::chrono::seconds(5));

 private:
  struct Impl;
  explicit GrpcGateway(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace coach::apps
