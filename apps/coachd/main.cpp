// coachd: the coach node. Opens the event store, starts the actor system and
// the user registry, and serves commands from NATS until SIGINT or SIGTERM.
#include <signal.h>

#include <fmt/core.h>
#include <CLI/CLI.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <filesystem>
#include <thread>

#include "actors/nats_gateway.h"
#include "actors/offline_access.h"
#include "actors/registry.h"
#include "events/event_store.h"

namespace {

struct Flags {
  std::string data_dir = ".coach/data";
  std::string master_key_file;  // default: <data dir>/../master.key
  std::string token_key_file;   // default: <data dir>/../token.key
  std::string nats_url = "tls://127.0.0.1:4222";
  std::string tls_dir;  // default: tls/ beside the data dir
  bool plaintext = false;
  int threads = 0;  // 0: one per core
  int idle_seconds = 300;
  int max_in_flight_per_user = 256;
  int max_in_flight_node = 20000;
  int subscriptions = 2;
  // CAF's scheduler: "sharing" blocks idle workers on a condition variable;
  // "stealing" polls, which costs a small machine CPU and, measured with
  // bench/crud_bench on 2 cores, 20% more single-client latency.
  std::string scheduler = "sharing";
  int batch_every_minutes = 1440;  // incremental batch runs; 0: only on request
  double batch_rate = 25'000;      // events per second the batch job may fold
};

// A file or folder next to the data dir: where keys and certificates live
// unless their flags say otherwise.
std::string beside_data(const Flags& f, const char* name) {
  return coach::actors::beside_data_dir(f.data_dir, name);
}

int fail(const coach::Error& error) {
  fmt::print(stderr, "coachd: {}: {}\n", coach::errc_name(error.code), error.message);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"coachd: the coach node"};
  Flags f;
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
  CLI11_PARSE(app, argc, argv);

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
  auto store = coach::events::EventStore::open(store_options);
  if (!store) return fail(store.error());

  caf::actor_system_config config;
  config.set("scheduler.max-threads",
             f.threads > 0 ? f.threads : std::max(2u, std::thread::hardware_concurrency()));
  config.set("scheduler.policy", caf::atom_from_string(f.scheduler));
  auto system = std::make_unique<caf::actor_system>(config);
  coach::actors::RegistryOptions registry_options;
  registry_options.max_in_flight_per_user = f.max_in_flight_per_user;
  registry_options.max_in_flight_node = f.max_in_flight_node;
  registry_options.actor.idle_timeout = std::chrono::seconds(f.idle_seconds);
  auto registry = std::make_unique<coach::actors::Registry>(*system, **store, registry_options);
  coach::actors::BatchOptions batch_options;
  batch_options.every = std::chrono::minutes(f.batch_every_minutes);
  batch_options.max_events_per_second = f.batch_rate;
  auto batch = std::make_unique<coach::actors::BatchJob>(**store, batch_options);
  coach::actors::GatewayOptions gateway_options;
  gateway_options.nats.url = f.nats_url;
  gateway_options.nats.plaintext = f.plaintext;
  gateway_options.nats.use_tls_dir(f.tls_dir.empty() ? beside_data(f, "tls") : f.tls_dir);
  gateway_options.verifier = signer->verifier();
  gateway_options.subscriptions = f.subscriptions;
  gateway_options.batch = batch.get();
  auto gateway = coach::actors::NatsGateway::start(*registry, gateway_options);
  if (!gateway) return fail(gateway.error());

  fmt::print("coachd: ready, serving coach.v1.> on {} with data in {} ({} events stored)\n",
             f.nats_url, f.data_dir, (*store)->stats().feed_head);
  std::fflush(stdout);

  int signal = 0;
  sigwait(&signals, &signal);
  fmt::print("coachd: {} received, stopping\n", signal == SIGINT ? "SIGINT" : "SIGTERM");
  (*gateway)->stop_accepting();
  registry.reset();  // actors stop; requests not yet answered answer "unavailable"
  gateway->reset();  // flushes the last replies
  batch.reset();     // a run in progress stops between two users
  system.reset();
  store->reset();
  fmt::print("coachd: stopped\n");
  return 0;
}
