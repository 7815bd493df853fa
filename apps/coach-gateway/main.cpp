// coach-gateway: coach's API for gRPC clients (grpc_gateway.h), forwarded
// to coachd over NATS with this gateway's own bus identity.
//
//   coach-gateway --listen 127.0.0.1:50051 --nats-url tls://127.0.0.1:4222
//                 --tls-dir .coach/tls --nats-creds .coach/bus/gateway.creds
//
// With --tls-dir it serves TLS with that directory's server.pem and
// server.key (scripts/make-certs.sh; clients trust its ca.pem) and speaks
// TLS to NATS with client.pem; --plaintext turns both off (loopback tests).
// Logs one JSON line "ready" with the address it listens on; SIGTERM or
// SIGINT stops it after the calls in flight (at most 5 s).
#include <signal.h>

#include <CLI/CLI.hpp>
#include <filesystem>

#include "apps/coach-gateway/grpc_gateway.h"
#include "wire/log.h"

namespace {

int wait_for_stop_signal() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  int received = 0;
  sigwait(&signals, &received);
  return received;
}

}  // namespace

int main(int argc, char** argv) {
  using coach::actors::log_line;
  using coach::actors::LogLevel;
  // Blocked in every thread, received by sigwait alone.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  CLI::App app{"coach-gateway: coach's API over gRPC"};
  coach::apps::GrpcGatewayOptions o;
  std::string tls_dir = ".coach/tls";
  bool plaintext = false;
  int timeout_ms = static_cast<int>(o.default_timeout.count());
  app.add_option("--listen", o.listen, "host:port to serve gRPC on (port 0: any free one)")
      ->capture_default_str();
  app.add_option("--nats-url", o.nats.url, "coach's NATS")->capture_default_str();
  app.add_option("--nats-creds", o.nats.creds_file,
                 "this gateway's NATS identity (coachctl admin bus-creds --role gateway)");
  app.add_option("--tls-dir", tls_dir, "ca.pem, server.pem/key (gRPC), client.pem/key (NATS)")
      ->capture_default_str();
  app.add_flag("--plaintext", plaintext, "no TLS for gRPC nor NATS (loopback only)");
  std::string http_listen;
  std::vector<std::string> allowed_origins;
  app.add_option("--http-listen", http_listen,
                 "host:port for the JSON mapping for browsers (docs/api.md); port 0: any free "
                 "one. Default: none");
  app.add_option("--allow-origin", allowed_origins,
                 "an origin besides the gateway's own whose pages may call it, e.g. "
                 "https://app.example (repeatable)");
  int http_max_in_flight = 64;
  app.add_option("--http-max-in-flight", http_max_in_flight,
                 "HTTP calls waiting for coach at once; more are answered 429 busy")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  int http_max_streams = 32;
  app.add_option("--http-max-streams", http_max_streams,
                 "notification event streams open at once; more are answered 429 busy")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app.add_option("--watch-buffer", o.watch.buffer,
                 "notifications waiting for a slow client; one more ends its stream")
      ->check(CLI::Range(size_t{1}, size_t{100000}))
      ->capture_default_str();
  int recheck_ms = static_cast<int>(o.watch.recheck.count());
  app.add_option("--watch-recheck-ms", recheck_ms,
                 "how often a live feed's token is checked again with coach")
      ->check(CLI::Range(100, 3600000))
      ->capture_default_str();
  app.add_option("--max-watches", o.watch.max_watches,
                 "live feeds (gRPC and HTTP) open at once; more are refused busy")
      ->check(CLI::Range(size_t{1}, size_t{1000000}))
      ->capture_default_str();
  app.add_option("--max-watches-per-user", o.watch.max_per_user,
                 "live feeds of one user open at once; more are refused busy")
      ->check(CLI::Range(size_t{1}, size_t{1000}))
      ->capture_default_str();
  app.add_option("--workers", o.workers, "threads waiting on coach's answers")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--queue", o.queue, "calls waiting for a worker at most; more are refused (busy)")
      ->check(CLI::Range(size_t{1}, size_t{1000000}))
      ->capture_default_str();
  app.add_option("--timeout-ms", timeout_ms, "how long a call without a deadline waits for coach")
      ->check(CLI::Range(100, 600000))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  o.default_timeout = std::chrono::milliseconds(timeout_ms);
  o.watch.recheck = std::chrono::milliseconds(recheck_ms);
  o.nats.name = "coach-gateway";
  o.nats.reconnect_forever = true;
  o.nats.plaintext = plaintext;
  if (!plaintext) {
    o.nats.use_tls_dir(tls_dir);
    o.cert_file = tls_dir + "/server.pem";
    o.key_file = tls_dir + "/server.key";
  }
  if (!http_listen.empty()) {
    auto colon = http_listen.rfind(':');
    coach::apps::HttpGatewayOptions http;
    http.host = http_listen.substr(0, colon);
    http.port = colon == std::string::npos ? -1 : std::atoi(http_listen.c_str() + colon + 1);
    if (http.port < 0 || http.port > 65535) {
      log_line(LogLevel::error, "coach-gateway", "cannot start",
               {{"code", std::string("invalid_argument")},
                {"error", "--http-listen wants host:port, got " + http_listen}});
      return 1;
    }
    http.cert_file = o.cert_file;
    http.key_file = o.key_file;
    http.allowed_origins = allowed_origins;
    http.default_timeout_ms = timeout_ms;
    http.max_in_flight = http_max_in_flight;
    http.max_streams = http_max_streams;
    o.http = http;
  }
  auto gateway = coach::apps::GrpcGateway::start(o);
  if (!gateway) {
    log_line(LogLevel::error, "coach-gateway", "cannot start",
             {{"code", std::string(coach::errc_name(gateway.error().code))},
              {"error", gateway.error().message}});
    return 1;
  }
  auto host = o.listen.substr(0, o.listen.rfind(':'));
  log_line(LogLevel::info, "coach-gateway", "ready",
           {{"grpc", host + ":" + std::to_string((*gateway)->port())},
            {"http", o.http ? (o.cert_file.empty() ? "http://" : "https://") + o.http->host + ":" +
                                  std::to_string((*gateway)->http_port())
                            : std::string()},
            {"tls", !plaintext},
            {"nats", o.nats.url}});
  int received = wait_for_stop_signal();
  log_line(LogLevel::info, "coach-gateway", "stopping", {{"signal", int64_t{received}}});
  (*gateway)->shutdown();
  log_line(LogLevel::info, "coach-gateway", "stopped");
  return 0;
}
