// OpsHttp: coachd's HTTP side for operators, on loopback by default.
//   GET /                 the ops dashboard (static files, no CDN)
//   GET /api/ops          OpsSnapshot as JSON           (admin bearer token)
//   GET /analytics.html   the analytics page (success metrics, the nudge trial)
//   GET /api/analytics/metrics?from=<RFC 3339>&min_users=<n>
//                         MetricsReport as JSON, as analytics.metrics answers
//                         it (analyst or admin bearer token; docs/metrics.md)
//   GET /metrics          Prometheus text format        (admin bearer token)
//   GET /livez            200 while the process answers
//   GET /readyz           200 while it serves commands, else 503
// HTTPS when given a certificate and key; plain HTTP is refused on any
// address but loopback, since tokens would cross the network in clear.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "base/result.h"
#include "ops/ops_view.h"
#include "wire/auth.h"

namespace httplib {
class Server;
}

namespace coach::actors {

struct OpsHttpOptions {
  std::string host = "127.0.0.1";
  int port = 9464;                // 0: any free port
  std::string tls_cert, tls_key;  // PEM files; both or neither
  TokenVerifier verifier;
  // What /api/analytics/metrics answers from (the node's batch job; must
  // outlive the server). Null: that endpoint is unavailable (503).
  const BatchControl* analytics = nullptr;
};

class OpsHttp {
 public:
  // Whether the options can be served (TLS pairs, loopback without TLS);
  // start checks it too, coachd first of all.
  static Status check(const OpsHttpOptions& options);
  static Result<std::unique_ptr<OpsHttp>> start(const OpsView& view, OpsHttpOptions options);
  ~OpsHttp();  // stops listening and waits for the server thread
  OpsHttp(const OpsHttp&) = delete;
  OpsHttp& operator=(const OpsHttp&) = delete;

  int port() const { return port_; }
  std::string url() const;

 private:
  OpsHttp(const OpsView& view, OpsHttpOptions options);
  void routes();

  const OpsView& view_;
  OpsHttpOptions options_;
  CachingVerifier verifier_;
  std::unique_ptr<httplib::Server> server_;
  int port_ = 0;
  std::thread thread_;
};

// True for 127.0.0.0/8, ::1 and "localhost".
bool is_loopback_host(const std::string& host);

}  // namespace coach::actors
