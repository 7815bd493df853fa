#include "gateway/ops_http.h"

#include <google/protobuf/util/time_util.h>
#include <httplib.h>
#include <sys/socket.h>

#include <charconv>

#include "gateway/dashboard_assets.h"
#include "ops/prometheus.h"
#include "schema/internal.pb.h"
#include "wire/api_codec.h"
#include "wire/log.h"

namespace coach::actors {
namespace {

constexpr const char* kJson = "application/json";

int http_status(Errc code) {
  switch (code) {
    case Errc::invalid_argument:
      return 400;
    case Errc::unauthenticated:
      return 401;
    case Errc::permission_denied:
      return 403;
    case Errc::unavailable:
      return 503;
    default:
      return 500;
  }
}

void set_error(httplib::Response& res, const Error& error) {
  res.status = http_status(error.code);
  if (res.status == 401) res.set_header("WWW-Authenticate", "Bearer");
  res.set_content("{\"error\":{\"code\":" + json_quote(errc_name(error.code)) +
                      ",\"message\":" + json_quote(error.message) + "}}",
                  kJson);
}

// The bearer token of the request must be an admin's.
Status check_admin(const httplib::Request& req, const CachingVerifier& verifier) {
  auto claims = verifier.verify_header(req.get_header_value("Authorization"),
                                       std::chrono::system_clock::now());
  if (!claims) return claims.error();
  if (claims->role != v1::ROLE_ADMIN)
    return make_error(Errc::permission_denied,
                      "the ops endpoints need an admin token (coachctl admin token --role admin)");
  return Ok{};
}

// The bearer token of the request must be an analyst's or an admin's.
Status check_aggregates(const httplib::Request& req, const CachingVerifier& verifier) {
  auto claims = verifier.verify_header(req.get_header_value("Authorization"),
                                       std::chrono::system_clock::now());
  if (!claims) return claims.error();
  return authorize(*claims, claims->user, Access::aggregates);
}

// GetMetrics from the query: from (RFC 3339) and min_users, both optional.
Result<v1::GetMetrics> metrics_query(const httplib::Request& req) {
  v1::GetMetrics query;
  // As analytics.metrics refuses unknown fields: a `to` or a `user` the
  // answer would quietly not honour is a mistake to say.
  for (const auto& [name, value] : req.params)
    if (name != "from" && name != "min_users")
      return make_error(Errc::invalid_argument,
                        "unknown parameter " + name.substr(0, 64) + ": only from and min_users");
  if (auto from = req.get_param_value("from"); !from.empty()) {
    if (!google::protobuf::util::TimeUtil::FromString(from, query.mutable_from()))
      return make_error(Errc::invalid_argument,
                        "from: not an RFC 3339 instant (e.g. 2026-09-01T00:00:00Z): " + from);
  }
  if (auto min = req.get_param_value("min_users"); !min.empty()) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(min.data(), min.data() + min.size(), value);
    if (ec != std::errc() || end != min.data() + min.size() || value > 1000000)
      return make_error(Errc::invalid_argument,
                        "min_users: a whole number of users, at most 1000000: " + min);
    query.set_min_users(value);
  }
  return query;
}

}  // namespace

bool is_loopback_host(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

OpsHttp::OpsHttp(const OpsView& view, OpsHttpOptions options)
    : view_(view), options_(std::move(options)), verifier_(options_.verifier) {}

Status OpsHttp::check(const OpsHttpOptions& options) {
  bool tls = !options.tls_cert.empty() || !options.tls_key.empty();
  if (tls && (options.tls_cert.empty() || options.tls_key.empty()))
    return make_error(Errc::invalid_argument,
                      "--ops-tls-cert and --ops-tls-key go together: give both or neither");
  if (!tls && !is_loopback_host(options.host))
    return make_error(Errc::invalid_argument,
                      "the ops endpoints on " + options.host +
                          " would carry admin tokens in clear: give --ops-tls-cert and "
                          "--ops-tls-key, or keep --ops-host on loopback");
  return Ok{};
}

Result<std::unique_ptr<OpsHttp>> OpsHttp::start(const OpsView& view, OpsHttpOptions options) {
  if (auto ok = check(options); !ok) return ok.error();
  bool tls = !options.tls_cert.empty();
  std::unique_ptr<OpsHttp> http(new OpsHttp(view, std::move(options)));
  if (tls) {
    http->server_ = std::make_unique<httplib::SSLServer>(http->options_.tls_cert.c_str(),
                                                         http->options_.tls_key.c_str());
    if (!http->server_->is_valid())
      return make_error(Errc::invalid_argument, "cannot load the ops TLS certificate " +
                                                    http->options_.tls_cert + " and key " +
                                                    http->options_.tls_key);
  } else {
    http->server_ = std::make_unique<httplib::Server>();
  }
  // Not httplib's default SO_REUSEPORT: a second node on the same port must
  // fail to start, not silently share the port with the first.
  http->server_->set_socket_options([](int fd) {
    int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  http->routes();
  auto& o = http->options_;
  http->port_ = o.port == 0 ? http->server_->bind_to_any_port(o.host.c_str())
                            : (http->server_->bind_to_port(o.host.c_str(), o.port) ? o.port : -1);
  if (http->port_ <= 0)
    return make_error(Errc::unavailable, "cannot listen on " + o.host + ":" +
                                             std::to_string(o.port) +
                                             " for the ops endpoints (in use? --ops-port)");
  http->thread_ = std::thread([server = http->server_.get()] { server->listen_after_bind(); });
  return http;
}

OpsHttp::~OpsHttp() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

std::string OpsHttp::url() const {
  bool tls = !options_.tls_cert.empty();
  auto host =
      options_.host.find(':') != std::string::npos ? "[" + options_.host + "]" : options_.host;
  return (tls ? "https://" : "http://") + host + ":" + std::to_string(port_);
}

void OpsHttp::routes() {
  auto& s = *server_;
  // Every answer: no caching of figures, no framing, only our own scripts.
  s.set_default_headers({{"Cache-Control", "no-store"},
                         {"X-Content-Type-Options", "nosniff"},
                         {"X-Frame-Options", "DENY"},
                         {"Content-Security-Policy",
                          "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'"},
                         {"Referrer-Policy", "no-referrer"}});
  s.Get("/livez", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"status\":\"alive\"}", kJson);
  });
  s.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    auto why = view_.not_ready_because();
    res.status = why ? 503 : 200;
    res.set_content(std::string("{\"status\":") + json_quote(why.value_or("ready")) + "}", kJson);
  });
  s.Get("/api/ops", [this](const httplib::Request& req, httplib::Response& res) {
    if (auto ok = check_admin(req, verifier_); !ok) return set_error(res, ok.error());
    res.set_content(to_json(view_.snapshot()), kJson);
  });
  s.Get("/api/analytics/metrics", [this](const httplib::Request& req, httplib::Response& res) {
    if (auto ok = check_aggregates(req, verifier_); !ok) return set_error(res, ok.error());
    if (!options_.analytics)
      return set_error(res, make_error(Errc::unavailable, "this node runs no batch job"));
    auto query = metrics_query(req);
    if (!query) return set_error(res, query.error());
    auto report = options_.analytics->metrics(*query);
    if (!report) return set_error(res, report.error());
    res.set_content(to_json(*report), kJson);
  });
  s.Get("/metrics", [this](const httplib::Request& req, httplib::Response& res) {
    if (auto ok = check_admin(req, verifier_); !ok) return set_error(res, ok.error());
    res.set_content(prometheus_text(view_.snapshot()), kPrometheusContentType);
  });
  s.Get(R"(/[a-z.\-]*)", [](const httplib::Request& req, httplib::Response& res) {
    const auto* file = find_dashboard_file(req.path);
    if (!file) {
      res.status = 404;
      res.set_content("{\"error\":{\"code\":\"not_found\",\"message\":\"no such page\"}}", kJson);
      return;
    }
    res.set_content(std::string(file->body), std::string(file->content_type).c_str());
  });
  s.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    res.set_content("{\"error\":{\"code\":\"not_found\",\"message\":\"no such page\"}}", kJson);
  });
}

}  // namespace coach::actors
