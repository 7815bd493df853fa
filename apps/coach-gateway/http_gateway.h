// coach's API as JSON over HTTP, for browsers (issue 19): the gRPC
// service's methods as Connect-style unary POSTs, served by coach-gateway
// beside gRPC and forwarded to coach over NATS the same way.
//
//   POST /coach.v1.CoachService/<Method>     e.g. /coach.v1.CoachService/TaskCreate
//   Content-Type: application/json           (else 415)
//   Authorization: Bearer <token>
//   Coach-User, Coach-Idempotency-Key        optional, as on NATS
//   Connect-Timeout-Ms: <ms>                 optional: how long to wait for coach (1 to 60000)
//   body: the method's request message in protobuf's JSON mapping ({} or
//   empty for none)
//
// The answer is coach's Reply as JSON, 200 when it holds no error, else the
// status http_status_for(code) (grpc_mapping.h) with the same body
// ({"error": {"code", "message", "retry_after_ms"}}) and Retry-After for
// busy; no answer in time 504, coach unreachable 503, an unknown method 404,
// another verb 405, more than max_in_flight calls waiting 429.
//
// Notifications as Server-Sent Events (text/event-stream):
//
//   POST /coach.v1.CoachService/WatchNotifications
//   Authorization: Bearer <token>
//   body: {"after_position": "<n>"} or empty; or the header Last-Event-ID: <n>
//
// opens a watch (notification_watch.h); refused as any call is (401, 403,
// 429 busy, 503). Then, for as long as the client stays:
//   id: <position>\nevent: nudge\ndata: <NudgeRecord as JSON>\n\n   for each nudge
//   : keep-alive\n\n                                              every 10 s of quiet
//   event: end\ndata: {"error": {"code", "message"}}\n\n             once, when it ends
// (end codes: resource_exhausted for a client that reads too slowly,
// unauthenticated when the token expires, unavailable when the gateway
// stops). A POST rather than EventSource's GET, so that the token travels
// in the Authorization header and never in a URL (addresses end up in logs
// and histories); a page reads the stream with fetch().
//
// A calendar feed, for calendar apps to subscribe to (issue 21; docs/api.md,
// "Calendar"):
//
//   GET /calendar/<user id>/<secret>.ics
//
// asks coach's calendar.feed.read with the secret from the path and no
// token (calendar apps send none; the secret is the credential). 200
// text/calendar with the VCALENDAR; 404 for a revoked, replaced or unknown
// feed and for any other path; 503/504 as for the calls above. The secret
// is in the URL because that is how calendar apps subscribe: treat the URL
// as a password.
//
// Browsers: bearer tokens travel in a header, never in cookies, so a page
// of another origin cannot make a request with the user's authority; beside
// that a request carrying an Origin header is served only when that origin
// is the gateway's own (its configured host and port, never taken from the
// request's Host) or one of `allowed_origins`,
// else 403; preflights (OPTIONS) are answered for allowed origins only.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "apps/coach-gateway/coach_call.h"
#include "base/result.h"
#include "schema/commands.pb.h"

typedef struct __natsConnection natsConnection;
namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace coach::apps {

class WatchHub;

struct HttpGatewayOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: any free port
  // TLS: certificate chain and key (PEM). Empty: plain HTTP (loopback only).
  std::string cert_file, key_file;
  // Origins besides the gateway's own that may call from a browser, as
  // "https://app.example:8443". Default: none.
  std::vector<std::string> allowed_origins;
  int default_timeout_ms = 5000;  // without Connect-Timeout-Ms
  // Calls waiting for coach at once; more are answered 429 busy (with
  // Retry-After) at once rather than queued behind them. Default 64.
  int max_in_flight = 64;
  // Event streams open at once (each holds a thread); more are 429 busy.
  // Default 32.
  int max_streams = 32;
};

class HttpGateway {
 public:
  // Listens and serves on a thread of its own; `nats` and `watches` are
  // borrowed and must outlive it, and `watches` must be stopped before it
  // (an open event stream ends only with its watch). invalid_argument for
  // unreadable certificates, unavailable for an address in use.
  static Result<std::unique_ptr<HttpGateway>> start(natsConnection* nats, WatchHub* watches,
                                                    HttpGatewayOptions options);
  ~HttpGateway();  // stops serving
  HttpGateway(const HttpGateway&) = delete;
  HttpGateway& operator=(const HttpGateway&) = delete;
  int port() const { return port_; }

 private:
  HttpGateway(natsConnection* nats, WatchHub* watches, HttpGatewayOptions options);
  void routes();
  void watch(const httplib::Request& req, httplib::Response& res);
  void calendar_feed(const httplib::Request& req, httplib::Response& res);
  // coach's answer to a call, as JSON and decoded.
  struct Answered {
    std::string json;
    v1::Reply reply;
  };
  // Makes the call within max_in_flight; on busy, no answer in time, coach
  // unreachable or an answer that is not a Reply, answers `res` with the
  // error (429, 504, 503, 500) and returns nullopt.
  std::optional<Answered> bounded_call(const CoachCall& call, httplib::Response& res);
  natsConnection* nats_;
  WatchHub* watches_;
  HttpGatewayOptions options_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<int> in_flight_{0};
  std::shared_ptr<std::atomic<int>> streams_ = std::make_shared<std::atomic<int>>(0);
};

}  // namespace coach::apps
