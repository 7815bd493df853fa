// coachd: the coach node. Parses its flags into NodeOptions, runs a
// coach::node::Node (node/node.h: the composition of store, actors,
// adapters, ops and gateway) and serves until SIGINT or SIGTERM.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "base/partition.h"
#include "node/node.h"
#include "wire/log.h"

namespace {

using coach::actors::log_line;
using coach::actors::LogLevel;

// The API key for the LLM: COACH_LLM_API_KEY, else the first line of the file.
std::string llm_api_key(const std::string& file) {
  if (const char* env = std::getenv("COACH_LLM_API_KEY")) return env;
  if (file.empty()) return "";
  std::ifstream in(file);
  std::string key;
  std::getline(in, key);
  return key;
}

int fail(const coach::Error& error) {
  log_line(LogLevel::error, "coachd", "cannot start",
           {{"code", std::string(coach::errc_name(error.code))}, {"error", error.message}});
  return 1;
}

// A graceful stop (SIGTERM, SIGINT) must end within the bound; should it
// hang anyway, the process exits hard: the log is durable, so nothing
// acknowledged is lost, and the supervisor restarts the node.
void arm_exit_watchdog(std::chrono::milliseconds bound) {
  std::thread([bound] {
    std::this_thread::sleep_for(bound);
    log_line(LogLevel::error, "coachd", "shutdown overran its bound; exiting now",
             {{"bound_ms", static_cast<int64_t>(bound.count())}});
    std::_Exit(3);
  }).detach();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"coachd: the coach node"};
  coach::node::NodeOptions o;
  std::string llm_api_key_file;  // COACH_LLM_API_KEY overrides it
  std::string log_level = "info";
  if (const char* c = std::getenv("COACH_NATS_CREDS")) o.nats_creds = c;
  app.set_config("--config", "", "read these options from a TOML or INI file");
  app.allow_config_extras(false);  // a misspelt option in the file is an error
  app.add_option("--data-dir", o.data_dir, "where coach keeps its data")->capture_default_str();
  app.add_option("--master-key-file", o.master_key_file,
                 "file with the 64-hex-digit master key (COACH_MASTER_KEY overrides it); "
                 "made on the first start. Default: master.key beside the data dir");
  app.add_option("--token-key-file", o.token_key_file,
                 "Ed25519 key that signs and checks bearer tokens; made when missing. "
                 "Default: token.key beside the data dir");
  app.add_option("--nats-url", o.nats_url, "NATS server to serve on")->capture_default_str();
  app.add_flag("--recover-wal", o.recover_wal,
               "if the store's WAL is damaged mid-file, recover to the last good point (a copy "
               "of the WAL and a report of each dropped event are kept beside the store); "
               "without it coachd refuses to start on such damage");
  app.add_option("--nats-creds", o.nats_creds,
                 "coachd's NATS identity, mode 0600 (coachctl admin bus-creds --role coachd); "
                 "or COACH_NATS_CREDS");
  app.add_option("--tls-dir", o.tls_dir,
                 "ca.pem, client.pem, client.key for NATS (scripts/make-certs.sh); default: "
                 "tls/ beside the data dir");
  app.add_flag("--plaintext", o.plaintext, "connect to NATS without TLS (not for real data)");
  app.add_option("--threads", o.threads, "actor scheduler threads (0: one per core)")
      ->check(CLI::Range(0, 256));
  app.add_option("--idle-seconds", o.idle_seconds, "passivate a user's actor after this idle time")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  app.add_option("--max-in-flight-per-user", o.max_in_flight_per_user,
                 "requests one user may have waiting before getting 'busy'")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app.add_option("--max-in-flight", o.max_in_flight_node,
                 "requests the node may have waiting before answering 'busy'")
      ->check(CLI::Range(1, 10000000))
      ->capture_default_str();
  app.add_option("--scheduler", o.scheduler, "CAF scheduler policy")
      ->check(CLI::IsMember({"sharing", "stealing"}))
      ->capture_default_str();
  app.add_option("--subscriptions", o.subscriptions, "NATS subscriptions decoding in parallel")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--pending-limit", o.pending_limit,
                 "requests each NATS subscription holds before NATS drops more (a slow "
                 "consumer: counted in coach_bus_dropped_total and logged)")
      ->check(CLI::Range(1, 10000000))
      ->capture_default_str();
  app.add_option("--batch-every", o.batch_every_minutes,
                 "minutes between incremental runs of the behavior batch job (0: only when "
                 "an admin asks, admin.batch.run)")
      ->check(CLI::Range(0, 7 * 24 * 60))
      ->capture_default_str();
  app.add_option("--batch-rate", o.batch_rate,
                 "most events per second the batch job folds (0: no limit); it runs on its "
                 "own low-priority thread either way")
      ->check(CLI::Range(0.0, 1e9))
      ->capture_default_str();
  app.add_option("--llm-url", o.llm_url,
                 "base URL of an OpenAI-compatible LLM (llama.cpp server, Ollama, vLLM, "
                 "OpenAI), e.g. http://127.0.0.1:8080; empty: nudges from templates only");
  app.add_option("--llm-model", o.llm_model, "model name sent to the LLM")->capture_default_str();
  app.add_option("--llm-api-key-file", llm_api_key_file,
                 "file holding the LLM's API key (COACH_LLM_API_KEY overrides it)");
  app.add_option("--llm-timeout-ms", o.llm_timeout_ms, "timeout of one LLM request")
      ->check(CLI::Range(50, 120000))
      ->capture_default_str();
  app.add_option("--llm-workers", o.llm_workers, "LLM requests in parallel")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--llm-tokens-per-day", o.llm_tokens_per_day,
                 "LLM token budget of the node per UTC day")
      ->capture_default_str();
  app.add_option("--llm-user-tokens-per-day", o.llm_user_tokens_per_day,
                 "LLM token budget of one user per UTC day")
      ->capture_default_str();
  app.add_option("--llm-breaker-failures", o.llm_breaker_failures,
                 "failed LLM requests in a row that open the circuit breaker")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_option("--llm-breaker-cooldown-ms", o.llm_breaker_cooldown_ms,
                 "how long the open breaker waits before one probe request")
      ->check(CLI::Range(10, 3600000))
      ->capture_default_str();
  app.add_option("--nudge-check-delay-ms", o.nudge_check_delay_ms,
                 "after a change, how soon the user's nudge triggers are checked")
      ->check(CLI::Range(0, 3600000))
      ->capture_default_str();
  app.add_option("--nudge-hold-back", o.nudge_hold_back,
                 "nudge trial: chance that a triggered nudge is held back, to measure "
                 "whether nudges help (0: off; docs/metrics.md)")
      ->check(CLI::Range(0.0, 0.9))
      ->capture_default_str();
  app.add_option("--nudge-startup-spread", o.nudge_startup_spread_s,
                 "seconds over which every user's first nudge check is spread after a start")
      ->check(CLI::Range(0, 86400))
      ->capture_default_str();
  app.add_option("--notify-max-deliver", o.notify_max_deliver,
                 "delivery attempts of a notification before it is dead-lettered")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  app.add_option("--notify-ack-wait-ms", o.notify_ack_wait_ms,
                 "how long a delivery gateway has to acknowledge before redelivery")
      ->check(CLI::Range(100, 3600000))
      ->capture_default_str();
  app.add_option("--ops-host", o.ops_host,
                 "address of the ops dashboard, /metrics, /livez, /readyz (other than loopback "
                 "only with --ops-tls-cert/--ops-tls-key)")
      ->capture_default_str();
  app.add_option("--ops-port", o.ops_port, "port of the ops endpoints (0: any free port)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  app.add_option("--ops-tls-cert", o.ops_tls_cert,
                 "PEM certificate: serve the ops endpoints on HTTPS");
  app.add_option("--ops-tls-key", o.ops_tls_key, "PEM private key of --ops-tls-cert");
  app.add_option("--log-level", log_level, "least level logged (JSON lines on stderr)")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}))
      ->capture_default_str();
  app.add_option("--lease-replicas", o.lease_replicas,
                 "replicas of the node lease's JetStream bucket: 1 on one nats-server, 3 on a "
                 "3-server cluster")
      ->check(CLI::IsMember({1, 3, 5}))
      ->capture_default_str();
  app.add_option("--replicate-log", o.log_replicas,
                 "replicate every write through JetStream stream COACH_LOG with this many "
                 "replicas before acknowledging it (3 on a 3-server cluster); a second coachd "
                 "then waits as a standby and takes over when this one stops renewing its "
                 "lease. 0: a single node")
      ->check(CLI::IsMember({0, 1, 3, 5}))
      ->capture_default_str();
  app.add_option("--lease-ttl-ms", o.lease_ttl_ms,
                 "with --replicate-log: the lease expires this long after the owner's last "
                 "renewal (a standby takes over after about this long)")
      ->check(CLI::Range(600, 600000))
      ->capture_default_str();
  app.add_option("--partitions", o.partitions,
                 "with --replicate-log: split the users into this many partitions (64 is the "
                 "documented choice), each with its own lease, stream COACH_LOG_P<n> and "
                 "store; every coachd serves a fair share and forwards the rest. Fixed for the "
                 "life of the cluster. 0: one lease for all users (one node serves, others "
                 "wait as standbys)")
      ->check(CLI::Range(0u, coach::kMaxPartitions))
      ->capture_default_str();
  app.add_option("--shutdown-timeout-ms", o.shutdown_timeout_ms,
                 "on SIGTERM: how long to drain requests and save snapshots before exiting "
                 "regardless")
      ->check(CLI::Range(100, 600000))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  coach::actors::set_log_level(*coach::actors::parse_log_level(log_level));
  coach::actors::route_protobuf_logs();
  o.llm_api_key = llm_api_key(llm_api_key_file);

  // Signals are taken by sigwait below, in this thread only: block them
  // before any other thread starts, so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // A standby waits inside start(): a SIGTERM meanwhile ends the wait.
  auto stop_pending = [] {
    sigset_t pending;
    sigpending(&pending);
    return sigismember(&pending, SIGTERM) == 1 || sigismember(&pending, SIGINT) == 1;
  };
  o.keep_waiting = [&] { return !stop_pending(); };
  auto node = coach::node::Node::start(o);
  if (!node && stop_pending()) {
    log_line(LogLevel::info, "coachd", "stopped", {{"while", std::string("a standby")}});
    return 0;
  }
  if (!node) return fail(node.error());
  log_line(LogLevel::info, "coachd", "ready",
           {{"nats", o.nats_url},
            {"data_dir", o.data_dir},
            {"events_stored", static_cast<int64_t>((*node)->events_stored())},
            {"nudges_by", o.llm_url.empty() ? std::string("templates") : "LLM at " + o.llm_url},
            {"ops", (*node)->ops_url()}});

  int signal = 0;
  sigwait(&signals, &signal);
  auto bound = std::chrono::milliseconds(o.shutdown_timeout_ms);
  arm_exit_watchdog(bound + std::chrono::seconds(2));
  log_line(LogLevel::info, "coachd", "stopping",
           {{"signal", std::string(signal == SIGINT ? "SIGINT" : "SIGTERM")},
            {"bound_ms", static_cast<int64_t>(bound.count())}});
  auto stop_started = std::chrono::steady_clock::now();
  auto report = (*node)->stop();
  log_line(report.actors_stopped == report.actors && report.requests_unanswered == 0
               ? LogLevel::info
               : LogLevel::warn,
           "coachd", "drained",
           {{"actors", static_cast<int64_t>(report.actors)},
            {"actors_snapshotted", static_cast<int64_t>(report.actors_stopped)},
            {"requests_unanswered", static_cast<int64_t>(report.requests_unanswered)},
            {"took_ms", static_cast<int64_t>(report.took.count())}});
  bool lease_lost = (*node)->lease_lost();
  node->reset();
  log_line(LogLevel::info, "coachd", "stopped",
           {{"took_ms", static_cast<int64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                 std::chrono::steady_clock::now() - stop_started)
                                                 .count())}});
  return lease_lost ? 3 : 0;
}
