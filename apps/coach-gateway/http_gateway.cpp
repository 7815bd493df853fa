#include "apps/coach-gateway/http_gateway.h"

#include <google/protobuf/util/json_util.h>
#include <httplib.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <map>
#include <regex>

#include "apps/coach-gateway/coach_call.h"
#include "apps/coach-gateway/grpc_mapping.h"
#include "apps/coach-gateway/notification_watch.h"
#include "apps/coach-gateway/web_assets.h"
#include "schema/coach_service.pb.h"
#include "wire/api_codec.h"
#include "wire/operations.h"

namespace coach::apps {
namespace {

constexpr const char* kJson = "application/json";
const std::string kPrefix = "/" + std::string(kGrpcService) + "/";

// The operation of each method path, from the operation table.
const std::map<std::string, const actors::Operation*>& methods() {
  static const auto table = [] {
    std::map<std::string, const actors::Operation*> out;
    for (const auto& op : actors::operation_table()) out[kPrefix + grpc_method_name(op.name)] = &op;
    return out;
  }();
  return table;
}

std::string error_json(std::string_view code, std::string_view message) {
  return "{\"error\":{\"code\":" + actors::json_quote(code) +
         ",\"message\":" + actors::json_quote(message) + "}}";
}

std::string error_json(const v1::ErrorReply& e) {
  return error_json(e.code(), e.message());
}

void answer_error(httplib::Response& res, int status, std::string_view code,
                  const std::string& message) {
  res.status = status;
  res.set_content(error_json(code, message), kJson);
}

bool is_json(const httplib::Request& req) {
  auto type = req.get_header_value("Content-Type");
  return type.rfind(kJson, 0) == 0;  // "application/json; charset=utf-8" too
}

// Where a client's event stream resumes: Last-Event-ID (as EventSource
// sends it after a break), else the body's after_position.
std::optional<uint64_t> resume_position(const httplib::Request& req, std::string* why) {
  v1::WatchNotifications query;
  if (!req.body.empty()) {
    auto parsed = google::protobuf::util::JsonStringToMessage(req.body, &query);
    if (!parsed.ok()) {
      *why = "the body is not a WatchNotifications: " + parsed.ToString().substr(0, 200);
      return std::nullopt;
    }
  }
  if (auto last = req.get_header_value("Last-Event-ID"); !last.empty()) {
    char* end = nullptr;
    errno = 0;
    auto n = std::strtoull(last.c_str(), &end, 10);
    if (*end != '\0' || errno != 0 || !std::isdigit(static_cast<unsigned char>(last[0]))) {
      *why = "Last-Event-ID must be a position (a whole number), got " + last.substr(0, 40);
      return std::nullopt;
    }
    return n;
  }
  return query.after_position();
}

}  // namespace

HttpGateway::HttpGateway(natsConnection* nats, WatchHub* watches, HttpGatewayOptions options)
    : nats_(nats), watches_(watches), options_(std::move(options)) {}

Result<std::unique_ptr<HttpGateway>> HttpGateway::start(natsConnection* nats, WatchHub* watches,
                                                        HttpGatewayOptions options) {
  std::unique_ptr<HttpGateway> http(new HttpGateway(nats, watches, std::move(options)));
  auto& o = http->options_;
  if (!o.cert_file.empty()) {
    http->server_ = std::make_unique<httplib::SSLServer>(o.cert_file.c_str(), o.key_file.c_str());
    if (!http->server_->is_valid())
      return make_error(Errc::invalid_argument,
                        "cannot load the certificate " + o.cert_file + " and key " + o.key_file);
  } else {
    http->server_ = std::make_unique<httplib::Server>();
  }
  // A second gateway on the same port must fail, not share it.
  http->server_->set_socket_options([](int fd) {
    int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  // Threads for every call allowed in flight, every event stream, and a
  // few more, so that one beyond the bounds is answered busy at once
  // instead of queued.
  http->server_->new_task_queue = [n = o.max_in_flight + o.max_streams + 4] {
    return new httplib::ThreadPool(static_cast<size_t>(n));
  };
  // Bodies over the API's bound are refused (413) before they are read in.
  http->server_->set_payload_max_length(actors::kMaxRequestBytes);
  http->routes();
  http->port_ = o.port == 0 ? http->server_->bind_to_any_port(o.host.c_str())
                            : (http->server_->bind_to_port(o.host.c_str(), o.port) ? o.port : -1);
  if (http->port_ <= 0)
    return make_error(Errc::unavailable,
                      "cannot listen on " + o.host + ":" + std::to_string(o.port) + " for HTTP");
  http->thread_ = std::thread([server = http->server_.get()] { server->listen_after_bind(); });
  // Running before it is handed out: stop() before listening would be lost.
  while (!http->server_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return http;
}

HttpGateway::~HttpGateway() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

void HttpGateway::routes() {
  auto& s = *server_;
  s.set_default_headers({{"Cache-Control", "no-store"},
                         {"X-Content-Type-Options", "nosniff"},
                         {"X-Frame-Options", "DENY"},
                         {"Referrer-Policy", "no-referrer"}});
  bool tls = !options_.cert_file.empty();
  // The request's Origin, when it may call: its own or an allowed one.
  // Its own origin as configured, never from the request's Host (which a
  // DNS-rebinding page sets to match its own Origin).
  auto origin_allowed = [this, tls](const httplib::Request& req) {
    auto origin = req.get_header_value("Origin");
    if (origin.empty()) return true;  // not a browser's cross-site call
    auto own =
        std::string(tls ? "https://" : "http://") + options_.host + ":" + std::to_string(port_);
    const auto& allowed = options_.allowed_origins;
    return origin == own || std::find(allowed.begin(), allowed.end(), origin) != allowed.end();
  };
  auto allow_origin = [](const httplib::Request& req, httplib::Response& res) {
    auto origin = req.get_header_value("Origin");
    if (origin.empty()) return;
    res.set_header("Access-Control-Allow-Origin", origin);
    res.set_header("Access-Control-Expose-Headers", "Retry-After");
    res.set_header("Vary", "Origin");
  };
  const std::string pattern = R"(/coach\.v1\.CoachService/([A-Za-z]+))";
  s.Post(pattern, [this, origin_allowed, allow_origin](const httplib::Request& req,
                                                       httplib::Response& res) {
    if (!origin_allowed(req))
      return answer_error(res, 403, "permission_denied",
                          "origin " + req.get_header_value("Origin") + " may not call coach");
    allow_origin(req, res);
    if (req.path == kPrefix + "WatchNotifications") return watch(req, res);
    auto method = methods().find(req.path);
    if (method == methods().end())
      return answer_error(res, 404, "not_found", "no method " + req.path);
    if (!is_json(req))
      return answer_error(res, 415, "invalid_argument",
                          "send the request as Content-Type: application/json");
    CoachCall call{method->second->name,
                   req.body.empty() ? std::string("{}") : req.body,
                   kJson,
                   req.get_header_value("Authorization"),
                   req.get_header_value("Coach-User"),
                   req.get_header_value("Coach-Idempotency-Key"),
                   {}};
    long timeout_ms = options_.default_timeout_ms;
    if (auto timeout = req.get_header_value("Connect-Timeout-Ms"); !timeout.empty()) {
      char* end = nullptr;
      timeout_ms = std::strtol(timeout.c_str(), &end, 10);
      if (*end != '\0' || timeout_ms <= 0 || timeout_ms > kMaxWait.count())
        return answer_error(res, 400, "invalid_argument",
                            "Connect-Timeout-Ms must be 1 to " + std::to_string(kMaxWait.count()) +
                                ", got " + timeout);
    }
    call.deadline = std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms);
    auto answered = bounded_call(call, res);
    if (!answered) return;
    const auto* reply = &answered->reply;
    res.status = 200;
    if (reply->has_error()) {
      res.status = http_status_for(reply->error().code());
      if (reply->error().retry_after_ms() > 0)
        res.set_header("Retry-After",
                       std::to_string((reply->error().retry_after_ms() + 999) / 1000));
    }
    res.set_content(answered->json, kJson);
  });
  s.Options(pattern, [this, origin_allowed](const httplib::Request& req, httplib::Response& res) {
    if (req.get_header_value("Origin").empty() || !origin_allowed(req)) {
      res.status = 403;
      return;
    }
    res.status = 204;
    res.set_header("Access-Control-Allow-Origin", req.get_header_value("Origin"));
    res.set_header("Vary", "Origin");
    res.set_header("Access-Control-Allow-Methods", "POST");
    res.set_header("Access-Control-Allow-Headers",
                   "Authorization, Content-Type, Coach-User, Coach-Idempotency-Key, "
                   "Connect-Timeout-Ms, Last-Event-ID");
    res.set_header("Access-Control-Max-Age", "600");
  });
  auto wrong_verb = [](const httplib::Request&, httplib::Response& res) {
    res.set_header("Allow", "POST, OPTIONS");
    answer_error(res, 405, "invalid_argument", "call methods with POST");
  };
  s.Get(pattern, wrong_verb);
  s.Put(pattern, wrong_verb);
  s.Delete(pattern, wrong_verb);
  s.Get(R"(/calendar/[^/]+/[^/]+\.ics)",
        [this](const httplib::Request& req, httplib::Response& res) { calendar_feed(req, res); });
  // The web client: static files, scripts from here only.
  s.Get(R"(/[a-z.\-]*)", [](const httplib::Request& req, httplib::Response& res) {
    const auto* file = find_web_file(req.path);
    if (!file) return answer_error(res, 404, "not_found", "no page " + req.path);
    res.set_header("Content-Security-Policy",
                   "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                   "img-src 'self' data:; base-uri 'none'; form-action 'self'; "
                   "frame-ancestors 'none'");
    res.set_content(std::string(file->body), std::string(file->content_type).c_str());
  });
}

std::optional<HttpGateway::Answered> HttpGateway::bounded_call(const CoachCall& call,
                                                               httplib::Response& res) {
  // Bounded: slow answers must not hold every thread of the server.
  struct InFlight {
    std::atomic<int>& count;
    ~InFlight() { --count; }
  } held{in_flight_};
  if (++in_flight_ > options_.max_in_flight) {
    res.set_header("Retry-After", "1");
    answer_error(res, 429, "busy", "the gateway has too many calls waiting; retry");
    return std::nullopt;
  }
  auto waits = std::chrono::duration_cast<std::chrono::milliseconds>(
                   call.deadline - std::chrono::system_clock::now())
                   .count();
  auto answer = call_coach(nats_, call);
  if (answer.outcome == CoachAnswer::Outcome::timed_out) {
    answer_error(res, 504, "unavailable",
                 "coach did not answer within " + std::to_string(waits) + " ms");
    return std::nullopt;
  }
  if (answer.outcome == CoachAnswer::Outcome::unreachable) {
    answer_error(res, 503, "unavailable", "coach is not reachable: " + answer.why);
    return std::nullopt;
  }
  auto reply = actors::decode_reply(answer.reply, actors::Encoding::json);
  if (!reply) {
    answer_error(res, 500, "internal", "coach's answer is not a Reply");
    return std::nullopt;
  }
  return Answered{std::move(answer.reply), std::move(*reply)};
}

void HttpGateway::calendar_feed(const httplib::Request& req, httplib::Response& res) {
  // /calendar/<user id>/<64 hex digits>.ics; anything else is no feed.
  static const std::regex kPath(R"(/calendar/([0-9a-f-]{36})/([0-9a-f]{64})\.ics)");
  std::smatch match;
  if (!std::regex_match(req.path, match, kPath))
    return answer_error(res, 404, "not_found", "no such calendar feed");
  CoachCall call{
      "calendar.feed.read",
      R"({"secret": ")" + match[2].str() + R"("})",
      kJson,
      {},
      match[1].str(),
      {},
      std::chrono::system_clock::now() + std::chrono::milliseconds(options_.default_timeout_ms)};
  auto answered = bounded_call(call, res);
  if (!answered) return;
  const auto* reply = &answered->reply;
  if (reply->has_error()) {
    const auto& code = reply->error().code();
    bool busy = code == "busy" || code == "unavailable";
    return answer_error(res, busy ? http_status_for(code) : 404,
                        busy ? code : std::string("not_found"),
                        busy ? reply->error().message() : "no such calendar feed");
  }
  res.status = 200;
  res.set_header("Content-Disposition", "inline; filename=\"coach.ics\"");
  res.set_content(reply->calendar().ics(), "text/calendar; charset=utf-8");
}

void HttpGateway::watch(const httplib::Request& req, httplib::Response& res) {
  if (!req.body.empty() && !is_json(req))
    return answer_error(res, 415, "invalid_argument",
                        "send the request as Content-Type: application/json");
  std::string why;
  auto after = resume_position(req, &why);
  if (!after) return answer_error(res, 400, "invalid_argument", why);
  // Counted from here until the stream's end (the releaser below).
  auto streams = streams_;
  if (++*streams > options_.max_streams) {
    --*streams;
    res.set_header("Retry-After", "1");
    return answer_error(res, 429, "busy", "the gateway has too many event streams open; retry");
  }
  auto opened = watches_->open(
      {req.get_header_value("Authorization"), req.get_header_value("Coach-User"), *after,
       std::chrono::system_clock::now() + std::chrono::milliseconds(options_.default_timeout_ms)});
  if (!opened.watch) {
    --*streams;
    res.status = http_status_for(opened.error.code());
    if (opened.error.code() == "busy") res.set_header("Retry-After", "1");
    return res.set_content(error_json(opened.error), kJson);
  }
  auto watch = opened.watch;
  res.set_header("X-Accel-Buffering", "no");  // proxies: pass each event on at once
  res.set_chunked_content_provider(
      "text/event-stream",
      [watch, opened_sent = false](size_t, httplib::DataSink& sink) mutable {
        // The client learns the stream is open before any notification.
        std::string out = opened_sent ? "" : ": open\n\n";
        if (opened_sent) watch->wait(std::chrono::seconds(10));
        opened_sent = true;
        while (auto record = watch->pop())
          out += "id: " + std::to_string(record->position()) +
                 "\nevent: nudge\ndata: " + actors::to_json(*record) + "\n\n";
        auto end = out.empty() ? watch->ended() : std::nullopt;  // what waits goes first
        if (end) out = "event: end\ndata: " + error_json(*end) + "\n\n";
        if (out.empty()) out = ": keep-alive\n\n";
        if (!sink.write(out.data(), out.size())) return false;  // the client left
        if (end) sink.done();
        return true;
      },
      [watch, streams](bool) {
        v1::ErrorReply left;
        left.set_code("cancelled");
        left.set_message("the client left");
        watch->end(left);
        --*streams;
      });
}

}  // namespace coach::apps
