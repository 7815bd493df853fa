#include "node/node.h"

#include <atomic>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <filesystem>
#include <random>
#include <thread>

#include <signal.h>
#include <unistd.h>

#include "adapters/jetstream_log.h"
#include "adapters/node_lease.h"
#include "adapters/notifier.h"
#include "adapters/nudge_writer.h"
#include "events/event_store.h"
#include "gateway/nats_gateway.h"
#include "gateway/ops_http.h"
#include "node/partition_host.h"
#include "offline/offline_access.h"
#include "ops/command_metrics.h"
#include "ops/ops_view.h"
#include "schema/internal.pb.h"
#include "wire/log.h"

namespace coach::node {

using namespace coach::actors;

// Declared in the order they start; stop() closes them in its own order.
struct Node::Parts {
  NodeOptions options;
  std::unique_ptr<events::EventStore> store;
  // CAF's actor_system keeps a reference to its config: it lives as long.
  std::unique_ptr<caf::actor_system_config> config;
  std::unique_ptr<caf::actor_system> system;
  std::unique_ptr<NudgeWriter> writer;
  // Dead-lettered notifications go through the registry; null while none.
  std::atomic<Registry*> registry_for_dead{nullptr};
  std::unique_ptr<Notifier> notifier;
  std::unique_ptr<Registry> registry;
  std::unique_ptr<BatchJob> batch;     // a node serving every user
  std::unique_ptr<BatchJobs> batches;  // a partitioned node: one job per partition
  BatchControl* batch_control = nullptr;
  CommandMetrics metrics;
  std::unique_ptr<OpsView> ops;
  std::unique_ptr<OpsHttp> http;
  std::unique_ptr<NatsGateway> gateway;
  // The node lease (adapters/node_lease.h) and what losing it stops.
  std::unique_ptr<NodeLease> lease;
  std::atomic<NatsGateway*> gateway_for_lease{nullptr};
  std::atomic<bool> lease_lost{false};
  // A partitioned cluster node's partitions (instead of store and lease).
  std::unique_ptr<PartitionHost> host;
  std::atomic<PartitionHost*> host_for_gateway{nullptr};
  bool stopped = false;
};

namespace {

std::string beside_data(const NodeOptions& o, const char* name) {
  return beside_data_dir(o.data_dir, name);
}

// The store at `path` (default: <data_dir>/events).
Result<std::unique_ptr<events::EventStore>> open_store(
    NodeOptions& o, std::shared_ptr<events::LogReplica> replica = nullptr,
    std::function<void(const std::string&)> on_fenced = nullptr, std::string path = "") {
  events::StoreOptions store_options;
  store_options.path = path.empty() ? o.data_dir + "/events" : path;
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(store_options.path).parent_path(), ec);
  if (o.master_key_file.empty()) o.master_key_file = beside_data(o, "master.key");
  // A new key only for a new store: an existing store without its key must
  // not be met with a fresh key it cannot use.
  bool new_store = !std::filesystem::exists(store_options.path + "/CURRENT");
  auto master = events::SecretKey::load_master(o.master_key_file, new_store);
  if (!master && !new_store && master.error().code == Errc::not_found)
    return make_error(Errc::not_found, master.error().message + ", but the store at " +
                                           store_options.path +
                                           " exists and needs the master key it was made with: set "
                                           "COACH_MASTER_KEY or --master-key-file");
  if (!master) return master.error();
  store_options.master_key = *master;
  store_options.recover_wal = o.recover_wal;
  store_options.replica = std::move(replica);
  store_options.on_fenced = std::move(on_fenced);
  store_options.log = [](events::StoreLogLevel level, bool rocksdb, std::string_view line) {
    log_line(level == events::StoreLogLevel::error ? LogLevel::error : LogLevel::warn,
             rocksdb ? "rocksdb" : "event_store", line);
  };
  auto store = events::EventStore::open(store_options);
  if (!store) return store.error();
  if (!(*store)->wal_recovery_report().empty())
    log_line(LogLevel::warn, "coachd",
             "damaged WAL recovered to its last good point; what was dropped is in the report",
             {{"report", (*store)->wal_recovery_report()}});
  return store;
}

std::unique_ptr<caf::actor_system_config> actor_system_config(const NodeOptions& o) {
  auto config = std::make_unique<caf::actor_system_config>();
  config->set("scheduler.max-threads",
              o.threads > 0 ? o.threads : std::max(2u, std::thread::hardware_concurrency()));
  config->set("scheduler.policy", caf::atom_from_string(o.scheduler));
  mark_caf_threads_nonblocking(*config);  // counted: coach_store_blocking_on_scheduler_total
  return config;
}

std::unique_ptr<NudgeWriter> start_writer(const NodeOptions& o) {
  NudgeWriterOptions writer_options;
  writer_options.llm.base_url = o.llm_url;
  writer_options.llm.model = o.llm_model;
  writer_options.llm.api_key = o.llm_api_key;
  writer_options.llm.timeout = std::chrono::milliseconds(o.llm_timeout_ms);
  writer_options.workers = o.llm_workers;
  writer_options.node_tokens_per_day = o.llm_tokens_per_day;
  writer_options.user_tokens_per_day = o.llm_user_tokens_per_day;
  writer_options.breaker_failures = o.llm_breaker_failures;
  writer_options.breaker_cooldown = std::chrono::milliseconds(o.llm_breaker_cooldown_ms);
  return std::make_unique<NudgeWriter>(writer_options);
}

NatsConfig nats_config(const NodeOptions& o) {
  NatsConfig nats;
  nats.url = o.nats_url;
  nats.plaintext = o.plaintext;
  nats.creds_file = o.nats_creds;
  nats.use_tls_dir(o.tls_dir.empty() ? beside_data(o, "tls") : o.tls_dir);
  return nats;
}

// A notification dead-lettered by JetStream is recorded as failed in its
// user's log, through the registry like any command.
void record_dead_letter(Registry* registry, const v1::OutboundNotification& out,
                        uint64_t deliveries) {
  auto user = Uuid::parse(out.notification().user_id(), "user_id");
  if (!registry || !user) return;
  v1::Command command;
  auto* report = command.mutable_report_delivery();
  report->set_notification_id(out.notification().id());
  report->set_status(v1::NOTIFICATION_STATUS_FAILED);
  report->set_attempts(static_cast<uint32_t>(deliveries));
  report->set_error("dead-lettered after " + std::to_string(deliveries) + " delivery attempts");
  report->set_dead_lettered(true);
  registry->dispatch(std::make_shared<Request>(
      *user, std::move(command), "dead/" + out.notification().id(), [](const v1::Reply&) {}));
}

// Every user's nudge triggers are checked once soon after a start, spread
// out so that a big node does not load every user at once.
void schedule_first_checks(Registry& registry, const events::EventStore& store,
                           const NodeOptions& o) {
  auto users = store.users();
  if (!users) return;
  std::mt19937_64 rng(std::random_device{}());
  auto spread = std::max(1, o.nudge_startup_spread_s) * 1000;
  auto now = std::chrono::system_clock::now();
  for (const auto& user : *users)
    registry.schedule_check(user, now + std::chrono::milliseconds(rng() % spread));
}

v1::BusFigures bus_figures(const NatsGateway& gateway) {
  auto stats = gateway.stats();
  v1::BusFigures bus;
  bus.set_requests(stats.requests);
  bus.set_bad_requests(stats.bad_requests);
  bus.set_failed_publishes(stats.failed_publishes);
  bus.set_dropped(stats.dropped);
  bus.set_forwarded(stats.forwarded);
  return bus;
}

}  // namespace

// A node without partitions: it takes the one lease for every user of the
// NATS system (or waits for it as a standby), then opens its store.
Status serve_every_user(Node::Parts& p) {
  auto& o = p.options;
  // A single node opens its store first, so that a wrong master key or a
  // damaged store is what it reports; a replicated node catches up from
  // the log once it holds the lease, so it opens the store after that.
  if (!o.log_replicas) {
    auto store = open_store(o);
    if (!store) return store.error();
    p.store = std::move(*store);
  }
  // Only the owner of this NATS system's users serves them: a second
  // coachd stops here (or, with a replicated log, waits here as a
  // standby), before it takes any request.
  auto node_id = load_node_id(o.data_dir);
  if (!node_id) return node_id.error();
  NodeLeaseOptions lease_options;
  lease_options.nats = nats_config(o);
  lease_options.node_id = *node_id;
  lease_options.replicas = o.log_replicas ? o.log_replicas : o.lease_replicas;
  if (o.log_replicas) {
    lease_options.ttl = std::chrono::milliseconds(o.lease_ttl_ms);
    lease_options.renew_every = std::chrono::milliseconds(o.lease_ttl_ms / 3);
    lease_options.wait = true;
    lease_options.keep_waiting = [&o, waited = false]() mutable {
      if (!waited)
        log_line(LogLevel::info, "coachd", "standby: another node holds the lease; waiting");
      waited = true;
      return !o.keep_waiting || o.keep_waiting();
    };
  }
  auto lost = [parts = &p](const std::string& why) {
    if (parts->lease_lost.exchange(true)) return;
    log_line(LogLevel::error, "coachd", "node lease lost: stopping", {{"why", why}});
    if (auto* gateway = parts->gateway_for_lease.load()) gateway->stop_accepting();
    ::kill(::getpid(), SIGTERM);  // coachd's orderly stop, then exit code 3
  };
  lease_options.on_lost = lost;
  auto lease = NodeLease::acquire(lease_options);
  if (!lease) return lease.error();
  p.lease = std::move(*lease);
  std::shared_ptr<events::LogReplica> replica;
  if (o.log_replicas) {
    JetStreamLogOptions log_options;
    log_options.nats = nats_config(o);
    log_options.writer_id = *node_id;
    log_options.replicas = o.log_replicas;
    log_options.may_write = [lease = p.lease.get()] { return lease->may_write(); };
    auto log = JetStreamLog::open(log_options);
    if (!log) return log.error();
    replica = std::move(*log);
  }
  if (replica) {
    auto catch_up_started = std::chrono::steady_clock::now();
    // Off the store's writer thread (which holds the log's lock): the stop
    // waits for the gateway's drain.
    auto fenced = [lost](const std::string& why) {
      std::thread([lost, why] { lost(why); }).detach();
    };
    auto store = open_store(o, replica, fenced);
    if (!store) return store.error();
    p.store = std::move(*store);
    auto figures = p.store->stats();
    log_line(
        LogLevel::info, "coachd", "caught up from the replicated log",
        {{"position", static_cast<int64_t>(figures.replica_position)},
         {"groups", static_cast<int64_t>(figures.caught_up_groups)},
         {"events", static_cast<int64_t>(figures.caught_up_events)},
         {"took_ms", static_cast<int64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                              std::chrono::steady_clock::now() - catch_up_started)
                                              .count())}});
  }
  return Ok{};
}

// A cluster node's partitions: its fair share, taken from now on, each
// from its own store under <data_dir>/partitions.
Status start_partitions(Node::Parts& p, const std::string& node_id) {
  auto& o = p.options;
  PartitionHostOptions host;
  host.nats = nats_config(o);
  host.node_id = node_id;
  host.partitions = o.partitions;
  host.replicas = o.log_replicas;
  host.ttl = std::chrono::milliseconds(o.lease_ttl_ms);
  host.detach_bound = std::chrono::milliseconds(o.shutdown_timeout_ms / 2);
  host.open_store = [&o](uint32_t partition, std::shared_ptr<events::LogReplica> replica,
                         std::function<void(const std::string&)> on_fenced) {
    char name[16];
    std::snprintf(name, sizeof name, "p%03u", partition);
    return open_store(o, std::move(replica), std::move(on_fenced),
                      o.data_dir + "/partitions/" + name + "/events");
  };
  host.on_served = [registry = p.registry.get(), &o](const events::EventStore& store) {
    schedule_first_checks(*registry, store, o);
  };
  host.batches = p.batches.get();
  auto started = PartitionHost::start(*p.registry, std::move(host));
  if (!started) return started.error();
  p.host = std::move(*started);
  p.host_for_gateway = p.host.get();
  p.ops->set_cluster_probe([host = p.host.get(), gateway = p.gateway.get()] {
    auto figures = host->figures();
    figures.set_forwarded(gateway->stats().forwarded);
    return figures;
  });
  return Ok{};
}

Result<std::unique_ptr<Node>> Node::start(NodeOptions options) {
  auto p = std::make_unique<Parts>();
  p->options = std::move(options);
  auto& o = p->options;
  OpsHttpOptions http_options;
  http_options.host = o.ops_host;
  http_options.port = o.ops_port;
  http_options.tls_cert = o.ops_tls_cert;
  http_options.tls_key = o.ops_tls_key;
  if (auto ok = OpsHttp::check(http_options); !ok) return ok.error();

  if (o.partitions && !o.log_replicas)
    return make_error(Errc::invalid_argument, "--partitions needs --replicate-log");
  if (!o.partitions)
    if (auto owner = serve_every_user(*p); !owner) return owner.error();
  if (o.token_key_file.empty()) o.token_key_file = beside_data(o, "token.key");
  auto signer = TokenSigner::load(o.token_key_file, /*create=*/true);
  if (!signer) return signer.error();
  p->config = actor_system_config(o);
  p->system = std::make_unique<caf::actor_system>(*p->config);
  p->writer = start_writer(o);
  auto nats = nats_config(o);

  NotifierOptions notifier_options;
  notifier_options.nats = nats;
  notifier_options.max_deliver = o.notify_max_deliver;
  notifier_options.ack_wait = std::chrono::milliseconds(o.notify_ack_wait_ms);
  notifier_options.on_dead = [parts = p.get()](const v1::OutboundNotification& out,
                                               uint64_t deliveries) {
    record_dead_letter(parts->registry_for_dead.load(), out, deliveries);
  };
  if (o.partitions)
    notifier_options.handles = [parts = p.get()](const std::string& user_id) {
      auto* registry = parts->registry_for_dead.load();
      auto user = Uuid::parse(user_id);
      return registry && user && registry->serves(*user);
    };
  auto notifier = Notifier::start(notifier_options);
  if (!notifier) return notifier.error();
  p->notifier = std::move(*notifier);

  RegistryOptions registry_options;
  registry_options.writer = p->writer.get();
  registry_options.notifier = p->notifier.get();
  registry_options.actor.nudges.check_delay = std::chrono::milliseconds(o.nudge_check_delay_ms);
  registry_options.actor.nudges.hold_back = o.nudge_hold_back;
  registry_options.max_in_flight_per_user = o.max_in_flight_per_user;
  registry_options.max_in_flight_node = o.max_in_flight_node;
  registry_options.actor.idle_timeout = std::chrono::seconds(o.idle_seconds);
  BatchOptions batch_options;
  batch_options.every = std::chrono::minutes(o.batch_every_minutes);
  batch_options.max_events_per_second = o.batch_rate;
  if (o.partitions) {
    p->registry = std::make_unique<Registry>(*p->system, o.partitions, registry_options);
    // Each partition's owner folds its store; the node's jobs take turns.
    p->batches = std::make_unique<BatchJobs>(batch_options);
    p->batch_control = p->batches.get();
  } else {
    p->registry = std::make_unique<Registry>(*p->system, *p->store, registry_options);
    schedule_first_checks(*p->registry, *p->store, o);
    p->batch = std::make_unique<BatchJob>(*p->store, batch_options);
    p->batch_control = p->batch.get();
  }
  p->registry_for_dead = p->registry.get();
  p->ops = std::make_unique<OpsView>(*p->registry, p->metrics, p->batch_control);
  http_options.verifier = signer->verifier();
  http_options.analytics = p->batch_control;
  auto http = OpsHttp::start(*p->ops, http_options);
  if (!http) return http.error();
  p->http = std::move(*http);

  GatewayOptions gateway_options;
  gateway_options.nats = nats;
  gateway_options.verifier = signer->verifier();
  gateway_options.subscriptions = o.subscriptions;
  gateway_options.pending_limit = o.pending_limit;
  gateway_options.batch = p->batch_control;
  gateway_options.metrics = &p->metrics;
  gateway_options.ops = p->ops.get();
  gateway_options.drain_timeout = std::chrono::milliseconds(o.shutdown_timeout_ms / 2);
  std::string node_id;
  if (o.partitions) {
    auto id = load_node_id(o.data_dir);
    if (!id) return id.error();
    node_id = *id;
    gateway_options.node_id = node_id;
    gateway_options.forward_to = [parts = p.get()](const Uuid& user) {
      auto* host = parts->host_for_gateway.load();
      return host ? host->forward_to(user) : std::string();
    };
  }
  auto gateway = NatsGateway::start(*p->registry, gateway_options);
  if (!gateway) return gateway.error();
  p->gateway = std::move(*gateway);
  p->gateway_for_lease = p->gateway.get();
  p->ops->set_connected_probe([g = p->gateway.get()] { return g->connected(); });
  p->ops->set_bus_probe([g = p->gateway.get()] { return bus_figures(*g); });
  if (o.partitions) {
    if (auto host = start_partitions(*p, node_id); !host) return host.error();
    return std::unique_ptr<Node>(new Node(std::move(p)));
  }
  p->ops->set_cluster_probe([lease = p->lease.get(), replicas = o.log_replicas] {
    v1::ClusterFigures figures;
    figures.set_node_id(lease->node_id());
    figures.set_lease_held(lease->held());
    figures.set_lease_age_seconds(std::chrono::duration<double>(lease->age()).count());
    figures.set_log_replicas(static_cast<uint32_t>(replicas));
    return figures;
  });
  return std::unique_ptr<Node>(new Node(std::move(p)));
}

Node::Node(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}

Node::~Node() {
  stop();
}

ShutdownReport Node::stop() {
  auto& p = *parts_;
  if (p.stopped) return {};
  p.stopped = true;
  auto bound = std::chrono::milliseconds(p.options.shutdown_timeout_ms);
  auto started = std::chrono::steady_clock::now();
  p.ops->set_draining();  // /readyz answers 503 from now on
  p.gateway_for_lease = nullptr;
  p.gateway->stop_accepting();  // requests already received still reach their actors
  p.registry_for_dead = nullptr;
  if (p.host) {
    // Every partition handed off: its requests answered, its actors'
    // snapshots saved, its lease released for the next owner.
    p.host_for_gateway = nullptr;
    p.host->stop();
  }
  auto left = bound - std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - started);
  auto report = p.registry->shutdown(std::max(left, std::chrono::milliseconds(100)));
  p.http.reset();      // the ops endpoints read the registry
  p.host.reset();      // its stores are detached already
  p.registry.reset();  // actors left stop; requests not yet answered answer "unavailable"
  p.notifier.reset();  // what was published reaches JetStream
  p.writer.reset();    // jobs still queued end on templates
  p.gateway.reset();   // flushes the last replies
  p.batch.reset();     // a run in progress stops between two users
  p.batches.reset();   // (the host removed each partition's job already)
  p.ops.reset();
  p.system.reset();
  p.store.reset();
  p.lease.reset();  // the key stays: this node is its users' home
  return report;
}

std::string Node::ops_url() const {
  return parts_->http ? parts_->http->url() : "";
}

uint64_t Node::events_stored() const {
  return parts_->registry ? parts_->registry->store_stats().feed_head : 0;
}

bool Node::lease_lost() const {
  return parts_->lease_lost;
}

const NodeOptions& Node::options() const {
  return parts_->options;
}

}  // namespace coach::node
