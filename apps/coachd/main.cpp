// coachd: the coach node. Opens the event store, starts the actor system and
// the user registry, and serves commands from NATS until SIGINT or SIGTERM.
#include <signal.h>

#include <fmt/core.h>
#include <CLI/CLI.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "actors/registry.h"
#include "adapters/notifier.h"
#include "adapters/nudge_writer.h"
#include "events/event_store.h"
#include "gateway/nats_gateway.h"
#include "gateway/ops_http.h"
#include "offline/offline_access.h"
#include "ops/command_metrics.h"
#include "ops/ops_view.h"
#include "schema/internal.pb.h"
#include "wire/log.h"

namespace {

struct Flags {
  std::string data_dir = ".coach/data";
  std::string master_key_file;  // default: <data dir>/../master.key
  std::string token_key_file;   // default: <data dir>/../token.key
  std::string nats_url = "tls://127.0.0.1:4222";
  std::string tls_dir;  // default: tls/ beside the data dir
  std::string nats_creds;
  bool plaintext = false;
  bool recover_wal = false;
  int threads = 0;  // 0: one per core
  int idle_seconds = 300;
  int max_in_flight_per_user = 256;
  int max_in_flight_node = 20000;
  int subscriptions = 2;
  int pending_limit = 65536;
  // CAF's scheduler: "sharing" blocks idle workers on a condition variable;
  // "stealing" polls, which costs a small machine CPU and, measured with
  // bench/crud_bench on 2 cores, 20% more single-client latency.
  std::string scheduler = "sharing";
  int batch_every_minutes = 1440;  // incremental batch runs; 0: only on request
  double batch_rate = 25'000;      // events per second the batch job may fold
  // Nudges and notifications (issue #7).
  std::string llm_url;  // empty: templates only
  std::string llm_model = "coach";
  std::string llm_api_key_file;  // COACH_LLM_API_KEY overrides it
  int llm_timeout_ms = 4000;
  int llm_workers = 4;
  uint64_t llm_tokens_per_day = 2'000'000;
  uint64_t llm_user_tokens_per_day = 20'000;
  int llm_breaker_failures = 5;
  int llm_breaker_cooldown_ms = 30'000;
  int nudge_check_delay_ms = 5000;
  int nudge_startup_spread_s = 600;
  int notify_max_deliver = 5;
  int notify_ack_wait_ms = 30'000;
  // Operations (issue #8).
  std::string ops_host = "127.0.0.1";
  int ops_port = 9464;  // 0: any free port
  std::string ops_tls_cert, ops_tls_key;
  std::string log_level = "info";
  int shutdown_timeout_ms = 10'000;
};

// The API key for the LLM: COACH_LLM_API_KEY, else the first line of the file.
std::string llm_api_key(const Flags& f) {
  if (const char* env = std::getenv("COACH_LLM_API_KEY")) return env;
  if (f.llm_api_key_file.empty()) return "";
  std::ifstream in(f.llm_api_key_file);
  std::string key;
  std::getline(in, key);
  return key;
}

// A file or folder next to the data dir: where keys and certificates live
// unless their flags say otherwise.
std::string beside_data(const Flags& f, const char* name) {
  return coach::actors::beside_data_dir(f.data_dir, name);
}

int fail(const coach::Error& error) {
  coach::actors::log_line(
      coach::actors::LogLevel::error, "coachd", "cannot start",
      {{"code", std::string(coach::errc_name(error.code))}, {"error", error.message}});
  return 1;
}

// A graceful stop (SIGTERM, SIGINT) must end within the bound; should it
// hang anyway, the process exits hard: the log is durable, so nothing
// acknowledged is lost, and the supervisor restarts the node.
void arm_exit_watchdog(std::chrono::milliseconds bound) {
  std::thread([bound] {
    std::this_thread::sleep_for(bound);
    coach::actors::log_line(coach::actors::LogLevel::error, "coachd",
                            "shutdown overran its bound; exiting now",
                            {{"bound_ms", static_cast<int64_t>(bound.count())}});
    std::_Exit(3);
  }).detach();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"coachd: the coach node"};
  Flags f;
  if (const char* c = std::getenv("COACH_NATS_CREDS")) f.nats_creds = c;
  app.set_config("--config", "", "read these options from a TOML or INI file");
  app.allow_config_extras(false);  // a misspelt option in the file is an error
  app.add_option("--data-dir", f.data_dir, "where coach keeps its data")->capture_default_str();
  app.add_option("--master-key-file", f.master_key_file,
                 "file with the 64-hex-digit master key (COACH_MASTER_KEY overrides it); "
                 "made on the first start. Default: master.key beside the data dir");
  app.add_option("--token-key-file", f.token_key_file,
                 "Ed25519 key that signs and checks bearer tokens; made when missing. "
                 "Default: token.key beside the data dir");
  app.add_option("--nats-url", f.nats_url, "NATS server to serve on")->capture_default_str();
  app.add_flag("--recover-wal", f.recover_wal,
               "if the store's WAL is damaged mid-file, recover to the last good point (a copy "
               "of the WAL and a report of each dropped event are kept beside the store); "
               "without it coachd refuses to start on such damage");
  app.add_option("--nats-creds", f.nats_creds,
                 "coachd's NATS identity, mode 0600 (coachctl admin bus-creds --role coachd); "
                 "or COACH_NATS_CREDS");
  app.add_option("--tls-dir", f.tls_dir,
                 "ca.pem, client.pem, client.key for NATS (scripts/make-certs.sh); default: "
                 "tls/ beside the data dir");
  app.add_flag("--plaintext", f.plaintext, "connect to NATS without TLS (not for real data)");
  app.add_option("--threads", f.threads, "actor scheduler threads (0: one per core)")
      ->check(CLI::Range(0, 256));
  app.add_option("--idle-seconds", f.idle_seconds, "passivate a user's actor after this idle time")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  app.add_option("--max-in-flight-per-user", f.max_in_flight_per_user,
                 "requests one user may have waiting before getting 'busy'")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app.add_option("--max-in-flight", f.max_in_flight_node,
                 "requests the node may have waiting before answering 'busy'")
      ->check(CLI::Range(1, 10000000))
      ->capture_default_str();
  app.add_option("--scheduler", f.scheduler, "CAF scheduler policy")
      ->check(CLI::IsMember({"sharing", "stealing"}))
      ->capture_default_str();
  app.add_option("--subscriptions", f.subscriptions, "NATS subscriptions decoding in parallel")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--pending-limit", f.pending_limit,
                 "requests each NATS subscription holds before NATS drops more (a slow "
                 "consumer: counted in coach_bus_dropped_total and logged)")
      ->check(CLI::Range(1, 10000000))
      ->capture_default_str();
  app.add_option("--batch-every", f.batch_every_minutes,
                 "minutes between incremental runs of the behavior batch job (0: only when "
                 "an admin asks, admin.batch.run)")
      ->check(CLI::Range(0, 7 * 24 * 60))
      ->capture_default_str();
  app.add_option("--batch-rate", f.batch_rate,
                 "most events per second the batch job folds (0: no limit); it runs on its "
                 "own low-priority thread either way")
      ->check(CLI::Range(0.0, 1e9))
      ->capture_default_str();
  app.add_option("--llm-url", f.llm_url,
                 "base URL of an OpenAI-compatible LLM (llama.cpp server, Ollama, vLLM, "
                 "OpenAI), e.g. http://127.0.0.1:8080; empty: nudges from templates only");
  app.add_option("--llm-model", f.llm_model, "model name sent to the LLM")->capture_default_str();
  app.add_option("--llm-api-key-file", f.llm_api_key_file,
                 "file holding the LLM's API key (COACH_LLM_API_KEY overrides it)");
  app.add_option("--llm-timeout-ms", f.llm_timeout_ms, "timeout of one LLM request")
      ->check(CLI::Range(50, 120000))
      ->capture_default_str();
  app.add_option("--llm-workers", f.llm_workers, "LLM requests in parallel")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--llm-tokens-per-day", f.llm_tokens_per_day,
                 "LLM token budget of the node per UTC day")
      ->capture_default_str();
  app.add_option("--llm-user-tokens-per-day", f.llm_user_tokens_per_day,
                 "LLM token budget of one user per UTC day")
      ->capture_default_str();
  app.add_option("--llm-breaker-failures", f.llm_breaker_failures,
                 "failed LLM requests in a row that open the circuit breaker")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_option("--llm-breaker-cooldown-ms", f.llm_breaker_cooldown_ms,
                 "how long the open breaker waits before one probe request")
      ->check(CLI::Range(10, 3600000))
      ->capture_default_str();
  app.add_option("--nudge-check-delay-ms", f.nudge_check_delay_ms,
                 "after a change, how soon the user's nudge triggers are checked")
      ->check(CLI::Range(0, 3600000))
      ->capture_default_str();
  app.add_option("--nudge-startup-spread", f.nudge_startup_spread_s,
                 "seconds over which every user's first nudge check is spread after a start")
      ->check(CLI::Range(0, 86400))
      ->capture_default_str();
  app.add_option("--notify-max-deliver", f.notify_max_deliver,
                 "delivery attempts of a notification before it is dead-lettered")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  app.add_option("--notify-ack-wait-ms", f.notify_ack_wait_ms,
                 "how long a delivery gateway has to acknowledge before redelivery")
      ->check(CLI::Range(100, 3600000))
      ->capture_default_str();
  app.add_option("--ops-host", f.ops_host,
                 "address of the ops dashboard, /metrics, /livez, /readyz (other than loopback "
                 "only with --ops-tls-cert/--ops-tls-key)")
      ->capture_default_str();
  app.add_option("--ops-port", f.ops_port, "port of the ops endpoints (0: any free port)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  app.add_option("--ops-tls-cert", f.ops_tls_cert,
                 "PEM certificate: serve the ops endpoints on HTTPS");
  app.add_option("--ops-tls-key", f.ops_tls_key, "PEM private key of --ops-tls-cert");
  app.add_option("--log-level", f.log_level, "least level logged (JSON lines on stderr)")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}))
      ->capture_default_str();
  app.add_option("--shutdown-timeout-ms", f.shutdown_timeout_ms,
                 "on SIGTERM: how long to drain requests and save snapshots before exiting "
                 "regardless")
      ->check(CLI::Range(100, 600000))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  coach::actors::set_log_level(*coach::actors::parse_log_level(f.log_level));
  coach::actors::route_protobuf_logs();
  coach::actors::OpsHttpOptions http_options;
  http_options.host = f.ops_host;
  http_options.port = f.ops_port;
  http_options.tls_cert = f.ops_tls_cert;
  http_options.tls_key = f.ops_tls_key;
  if (auto ok = coach::actors::OpsHttp::check(http_options); !ok) return fail(ok.error());

  // Signals are taken by sigwait below, in this thread only: block them
  // before any other thread starts, so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::error_code ec;
  std::filesystem::create_directories(f.data_dir, ec);
  coach::events::StoreOptions store_options;
  store_options.path = f.data_dir + "/events";
  if (f.master_key_file.empty()) f.master_key_file = beside_data(f, "master.key");
  // A new key only for a new store: an existing store without its key must
  // not be met with a fresh key it cannot use.
  bool new_store = !std::filesystem::exists(store_options.path + "/CURRENT");
  auto master = coach::events::SecretKey::load_master(f.master_key_file, new_store);
  if (!master && !new_store && master.error().code == coach::Errc::not_found)
    return fail(coach::make_error(
        coach::Errc::not_found,
        master.error().message + ", but the store at " + store_options.path +
            " exists and needs the master key it was made with: set COACH_MASTER_KEY or "
            "--master-key-file"));
  if (!master) return fail(master.error());
  store_options.master_key = *master;
  if (f.token_key_file.empty()) f.token_key_file = beside_data(f, "token.key");
  auto signer = coach::actors::TokenSigner::load(f.token_key_file, /*create=*/true);
  if (!signer) return fail(signer.error());
  store_options.recover_wal = f.recover_wal;
  store_options.log = [](coach::events::StoreLogLevel level, bool rocksdb, std::string_view line) {
    coach::actors::log_line(level == coach::events::StoreLogLevel::error
                                ? coach::actors::LogLevel::error
                                : coach::actors::LogLevel::warn,
                            rocksdb ? "rocksdb" : "event_store", line);
  };
  auto store = coach::events::EventStore::open(store_options);
  if (!store) return fail(store.error());
  if (!(*store)->wal_recovery_report().empty())
    coach::actors::log_line(coach::actors::LogLevel::warn, "coachd",
                            "damaged WAL recovered to its last good point; what was dropped is "
                            "in the report",
                            {{"report", (*store)->wal_recovery_report()}});

  caf::actor_system_config config;
  config.set("scheduler.max-threads",
             f.threads > 0 ? f.threads : std::max(2u, std::thread::hardware_concurrency()));
  config.set("scheduler.policy", caf::atom_from_string(f.scheduler));
  coach::actors::mark_caf_threads_nonblocking(
      config);  // counted: coach_store_blocking_on_scheduler_total
  auto system = std::make_unique<caf::actor_system>(config);
  coach::actors::NudgeWriterOptions writer_options;
  writer_options.llm.base_url = f.llm_url;
  writer_options.llm.model = f.llm_model;
  writer_options.llm.api_key = llm_api_key(f);
  writer_options.llm.timeout = std::chrono::milliseconds(f.llm_timeout_ms);
  writer_options.workers = f.llm_workers;
  writer_options.node_tokens_per_day = f.llm_tokens_per_day;
  writer_options.user_tokens_per_day = f.llm_user_tokens_per_day;
  writer_options.breaker_failures = f.llm_breaker_failures;
  writer_options.breaker_cooldown = std::chrono::milliseconds(f.llm_breaker_cooldown_ms);
  auto writer = std::make_unique<coach::actors::NudgeWriter>(writer_options);

  coach::actors::NatsConfig nats;
  nats.url = f.nats_url;
  nats.plaintext = f.plaintext;
  nats.creds_file = f.nats_creds;
  nats.use_tls_dir(f.tls_dir.empty() ? beside_data(f, "tls") : f.tls_dir);
  // A notification dead-lettered by JetStream is recorded as failed in its
  // user's log, through the registry like any command.
  std::atomic<coach::actors::Registry*> registry_for_dead{nullptr};
  coach::actors::NotifierOptions notifier_options;
  notifier_options.nats = nats;
  notifier_options.max_deliver = f.notify_max_deliver;
  notifier_options.ack_wait = std::chrono::milliseconds(f.notify_ack_wait_ms);
  notifier_options.on_dead = [&registry_for_dead](const coach::v1::OutboundNotification& out,
                                                  uint64_t deliveries) {
    auto* registry = registry_for_dead.load();
    auto user = coach::Uuid::parse(out.notification().user_id(), "user_id");
    if (!registry || !user) return;
    coach::v1::Command command;
    auto* report = command.mutable_report_delivery();
    report->set_notification_id(out.notification().id());
    report->set_status(coach::v1::NOTIFICATION_STATUS_FAILED);
    report->set_attempts(static_cast<uint32_t>(deliveries));
    report->set_error("dead-lettered after " + std::to_string(deliveries) + " delivery attempts");
    report->set_dead_lettered(true);
    registry->dispatch(std::make_shared<coach::actors::Request>(*user, std::move(command),
                                                                "dead/" + out.notification().id(),
                                                                [](const coach::v1::Reply&) {}));
  };
  auto notifier = coach::actors::Notifier::start(notifier_options);
  if (!notifier) return fail(notifier.error());

  coach::actors::RegistryOptions registry_options;
  registry_options.writer = writer.get();
  registry_options.notifier = notifier->get();
  registry_options.actor.nudges.check_delay = std::chrono::milliseconds(f.nudge_check_delay_ms);
  registry_options.max_in_flight_per_user = f.max_in_flight_per_user;
  registry_options.max_in_flight_node = f.max_in_flight_node;
  registry_options.actor.idle_timeout = std::chrono::seconds(f.idle_seconds);
  auto registry = std::make_unique<coach::actors::Registry>(*system, **store, registry_options);
  registry_for_dead = registry.get();
  // Every user's nudge triggers are checked once soon after a start, spread
  // out so that a big node does not load every user at once.
  if (auto users = (*store)->users()) {
    std::mt19937_64 rng(std::random_device{}());
    auto spread = std::max(1, f.nudge_startup_spread_s) * 1000;
    auto now = std::chrono::system_clock::now();
    for (const auto& user : *users)
      registry->schedule_check(user, now + std::chrono::milliseconds(rng() % spread));
  }
  coach::actors::BatchOptions batch_options;
  batch_options.every = std::chrono::minutes(f.batch_every_minutes);
  batch_options.max_events_per_second = f.batch_rate;
  auto batch = std::make_unique<coach::actors::BatchJob>(**store, batch_options);
  coach::actors::CommandMetrics metrics;
  coach::actors::OpsView ops(*registry, **store, metrics, batch.get());
  http_options.verifier = signer->verifier();
  auto http = coach::actors::OpsHttp::start(ops, http_options);
  if (!http) return fail(http.error());
  coach::actors::GatewayOptions gateway_options;
  gateway_options.nats = nats;
  gateway_options.verifier = signer->verifier();
  gateway_options.subscriptions = f.subscriptions;
  gateway_options.pending_limit = f.pending_limit;
  gateway_options.batch = batch.get();
  gateway_options.metrics = &metrics;
  gateway_options.ops = &ops;
  gateway_options.drain_timeout = std::chrono::milliseconds(f.shutdown_timeout_ms / 2);
  auto gateway = coach::actors::NatsGateway::start(*registry, gateway_options);
  if (!gateway) return fail(gateway.error());
  ops.set_connected_probe([g = gateway->get()] { return g->connected(); });
  ops.set_bus_probe([g = gateway->get()] {
    auto stats = g->stats();
    coach::v1::BusFigures bus;
    bus.set_requests(stats.requests);
    bus.set_bad_requests(stats.bad_requests);
    bus.set_failed_publishes(stats.failed_publishes);
    bus.set_dropped(stats.dropped);
    return bus;
  });

  using coach::actors::log_line;
  using coach::actors::LogLevel;
  log_line(LogLevel::info, "coachd", "ready",
           {{"nats", f.nats_url},
            {"data_dir", f.data_dir},
            {"events_stored", static_cast<int64_t>((*store)->stats().feed_head)},
            {"nudges_by", f.llm_url.empty() ? std::string("templates") : "LLM at " + f.llm_url},
            {"ops", (*http)->url()}});

  int signal = 0;
  sigwait(&signals, &signal);
  auto bound = std::chrono::milliseconds(f.shutdown_timeout_ms);
  arm_exit_watchdog(bound + std::chrono::seconds(2));
  log_line(LogLevel::info, "coachd", "stopping",
           {{"signal", std::string(signal == SIGINT ? "SIGINT" : "SIGTERM")},
            {"bound_ms", static_cast<int64_t>(bound.count())}});
  auto stop_started = std::chrono::steady_clock::now();
  ops.set_draining();            // /readyz answers 503 from now on
  (*gateway)->stop_accepting();  // requests already received still reach their actors
  registry_for_dead = nullptr;
  auto left = bound - std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - stop_started);
  auto report = registry->shutdown(std::max(left, std::chrono::milliseconds(100)));
  log_line(report.actors_stopped == report.actors && report.requests_unanswered == 0
               ? LogLevel::info
               : LogLevel::warn,
           "coachd", "drained",
           {{"actors", static_cast<int64_t>(report.actors)},
            {"actors_snapshotted", static_cast<int64_t>(report.actors_stopped)},
            {"requests_unanswered", static_cast<int64_t>(report.requests_unanswered)},
            {"took_ms", static_cast<int64_t>(report.took.count())}});
  http->reset();      // the ops endpoints read the registry
  registry.reset();   // actors left stop; requests not yet answered answer "unavailable"
  notifier->reset();  // what was published reaches JetStream
  writer.reset();     // jobs still queued end on templates
  gateway->reset();   // flushes the last replies
  batch.reset();      // a run in progress stops between two users
  system.reset();
  store->reset();
  log_line(LogLevel::info, "coachd", "stopped",
           {{"took_ms", static_cast<int64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                 std::chrono::steady_clock::now() - stop_started)
                                                 .count())}});
  return 0;
}
