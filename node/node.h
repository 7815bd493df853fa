// Node: one coach node put together: the event store, CAF's actor system,
// the nudge writer (LLM), the JetStream notifier, the user registry, the
// batch job, the ops view and its HTTP endpoints, and the NATS gateway, in
// the order each needs the ones before it. coachd parses its flags into
// NodeOptions and runs a Node; tests and benchmarks can start the same
// composition in-process.
//
//   auto node = Node::start(options);    // serving once it returns
//   ...
//   auto report = (*node)->stop();        // drain, snapshot, close
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "actors/registry.h"
#include "base/result.h"

namespace coach::node {

// Every setting of a node, with its default. coachd's flags set them one
// to one (apps/coachd/main.cpp says what each flag means).
struct NodeOptions {
  std::string data_dir = ".coach/data";  // the store is <data_dir>/events
  std::string master_key_file;  // default: master.key beside the data dir; COACH_MASTER_KEY wins
  std::string token_key_file;   // default: token.key beside the data dir; made when missing
  std::string nats_url = "tls://127.0.0.1:4222";
  std::string tls_dir;       // ca.pem, client.pem, client.key; default: tls/ beside the data dir
  std::string nats_creds;    // coachd's NATS identity (0600); empty: none
  bool plaintext = false;    // NATS without TLS
  bool recover_wal = false;  // recover a WAL damaged mid-file to its last good point
  int threads = 0;           // CAF scheduler threads; 0: one per core, at least 2
  // CAF's scheduler: "sharing" blocks idle workers on a condition variable;
  // "stealing" polls, which costs a small machine CPU and, measured with
  // bench/crud_bench on 2 cores, 20% more single-client latency.
  std::string scheduler = "sharing";
  int idle_seconds = 300;  // a user's actor passivates after this idle time
  int max_in_flight_per_user = 256;
  int max_in_flight_node = 20000;
  int subscriptions = 2;           // NATS subscriptions decoding in parallel
  int pending_limit = 65536;       // requests one subscription holds before NATS drops
  int batch_every_minutes = 1440;  // incremental batch runs; 0: only on request
  double batch_rate = 25'000;      // events per second the batch job may fold; 0: no limit
  // Nudges and notifications.
  std::string llm_url;  // empty: templates only
  std::string llm_model = "coach";
  std::string llm_api_key;  // as read from COACH_LLM_API_KEY or the key file
  int llm_timeout_ms = 4000;
  int llm_workers = 4;
  uint64_t llm_tokens_per_day = 2'000'000;
  uint64_t llm_user_tokens_per_day = 20'000;
  int llm_breaker_failures = 5;
  int llm_breaker_cooldown_ms = 30'000;
  int nudge_check_delay_ms = 5000;
  // The nudge trial's hold-back probability (projections/nudge_trial.h);
  // 0 (default): off, every triggered nudge is sent.
  double nudge_hold_back = 0;
  int nudge_startup_spread_s = 600;  // every user's first nudge check is spread over this
  int notify_max_deliver = 5;
  int notify_ack_wait_ms = 30'000;
  // Operations.
  std::string ops_host = "127.0.0.1";  // other than loopback only with TLS
  int ops_port = 9464;                 // 0: any free port
  std::string ops_tls_cert, ops_tls_key;
  // stop(): the bound of the drain and snapshots; the gateway's drain has
  // half of it.
  int shutdown_timeout_ms = 10'000;
  // Replicas of the node lease's key-value bucket (adapters/node_lease.h):
  // 1 on one nats-server, 3 on a 3-server cluster.
  int lease_replicas = 1;
  // The replicated log (issue 18, step two; adapters/jetstream_log.h). 0
  // (default): none, a single node whose writes are acknowledged after the
  // synced RocksDB write. 1, 3 or 5: the replicas of stream COACH_LOG; every
  // write is acknowledged once JetStream has it too, the lease expires
  // lease_ttl_ms after the owner's last renewal (renewed every third of
  // it), and a second coachd waits as a standby, then catches up from the
  // log and serves. Every node of a system needs the same master key.
  int log_replicas = 0;
  int lease_ttl_ms = 6000;
  // With log_replicas: 0 (default) one lease for all users (one node
  // serves, others wait as standbys). N >= 1: users fall into N partitions
  // (base/partition.h), each with its own lease, replicated stream and
  // store (<data_dir>/partitions/p<N>/events); every node serves its fair
  // share and forwards the rest (adapters/partition_leases.h). Fixed for
  // the life of the cluster.
  uint32_t partitions = 0;
  // Asked while waiting as a standby: false stops the wait (start() then
  // answers unavailable). Default: wait on.
  std::function<bool()> keep_waiting;
};

class Node {
 public:
  // Takes the node lease (conflict when another node serves this NATS
  // system's users; with log_replicas, waits for it instead), opens the
  // store (making its keys on a first start; catching up from the
  // replicated log),
  // starts every part and subscribes to the command subjects: serving once
  // it returns. An error says what could not start; nothing is left
  // running then.
  static Result<std::unique_ptr<Node>> start(NodeOptions options);

  // Stops taking commands (/readyz 503), lets the received ones reach their
  // actors, has every actor save its snapshot within the bound, then
  // closes everything in order. Idempotent; the destructor calls it.
  actors::ShutdownReport stop();
  ~Node();

  std::string ops_url() const;     // e.g. "http://127.0.0.1:9464"
  uint64_t events_stored() const;  // the store's feed head
  const NodeOptions& options() const;
  // Whether the node lease was lost while serving (another node took the
  // users): coachd then exits with code 3 after its orderly stop.
  bool lease_lost() const;

  struct Parts;  // what a node is made of (node.cpp)

 private:
  explicit Node(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace coach::node
