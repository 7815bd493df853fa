// PartitionHost: the partitions a cluster node serves (issue 18, step
// three). It holds the node's partition leases (adapters/partition_leases.h)
// and, for each partition it owns, the partition's replicated log (stream
// COACH_LOG_P<p>, adapters/jetstream_log.h) and its store, attached to the
// node's registry.
//
// One worker thread does the slow parts in the order the leases asked:
//   taken     open the log, open the store (catching up from the log),
//             attach it: the registry serves the partition's users, and
//             the partition's batch job starts (actors::BatchJobs);
//   handoff   detach (in-flight requests finish, actors save snapshots),
//             stop its batch job, close the store, release the lease: the
//             preferred owner
//             takes it within a lease round and catches up from the log;
//   lost      (another node holds the lease, or the log's fence broke)
//             detach and close at once: nothing more is written.
// Requests for a partition between two owners are answered "unavailable"
// with a retry hint (actors/registry.h), never lost: an acknowledged write
// is in the replicated log, which the next owner applies before it serves.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "actors/batch_job.h"
#include "actors/registry.h"
#include "adapters/jetstream_log.h"
#include "adapters/partition_leases.h"
#include "base/result.h"
#include "events/event_store.h"
#include "schema/commands.pb.h"

namespace coach::node {

struct PartitionHostOptions {
  actors::NatsConfig nats;  // the leases' and the logs' connections (one each)
  std::string node_id;      // load_node_id
  uint32_t partitions = kDefaultPartitions;
  int replicas = 1;  // of the streams and buckets
  std::chrono::milliseconds ttl{6000};
  // Opens partition p's store with `replica` as its log; on_fenced as in
  // events::StoreOptions.
  std::function<Result<std::unique_ptr<events::EventStore>>(
      uint32_t partition, std::shared_ptr<events::LogReplica> replica,
      std::function<void(const std::string&)> on_fenced)>
      open_store;
  // Called once a partition is served, with its store (e.g. to schedule
  // its users' first nudge checks). Default: none.
  std::function<void(const events::EventStore&)> on_served;
  // How long a handoff waits for the partition's requests and snapshots.
  std::chrono::milliseconds detach_bound{5000};
  // Each served partition's batch job runs here; null (default): none.
  // Must outlive the host.
  actors::BatchJobs* batches = nullptr;
};

class PartitionHost {
 public:
  // Connects, joins the cluster and starts taking this node's share.
  static Result<std::unique_ptr<PartitionHost>> start(actors::Registry& registry,
                                                      PartitionHostOptions options);
  // stop(), then closes.
  ~PartitionHost();

  // A graceful leave: takes nothing more, hands off every partition it
  // owns (detach, close, release). Idempotent.
  void stop();

  // The node serving the user's partition when it is another node; empty
  // when it is this one or nobody now (gateway/nats_gateway.h).
  std::string forward_to(const Uuid& user) const;
  // The leases' view of the cluster and every partition's state
  // (partition_map), with this node's partitions' log and store figures.
  v1::ClusterFigures figures() const;

 private:
  enum class Work { take, hand_off, lose };
  PartitionHost(actors::Registry& registry, PartitionHostOptions options);
  void post(Work work, uint32_t partition);
  void run();
  void take(uint32_t partition);
  void close(uint32_t partition, bool release);

  struct Open {
    std::shared_ptr<actors::JetStreamLog> log;
    std::unique_ptr<events::EventStore> store;
    double catch_up_seconds = 0;  // from the lease's take to serving
  };

  actors::Registry& registry_;
  PartitionHostOptions options_;
  natsConnection* log_connection_ = nullptr;  // shared by the partitions' logs
  std::unique_ptr<actors::PartitionLeases> leases_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::pair<Work, uint32_t>> queue_;
  bool stopping_ = false, stopped_ = false;
  // Changed by the worker alone, under open_mu_ (figures() reads it).
  mutable std::mutex open_mu_;
  std::map<uint32_t, Open> open_;
  std::thread worker_;
};

}  // namespace coach::node
