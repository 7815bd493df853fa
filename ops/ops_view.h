// OpsView: the node as ops see it. Gathers the registry's actors, the event
// store's appends, the commands' rates and latencies, the batch job, the LLM
// writer and the notification queues into one v1::OpsSnapshot: what the
// dashboard draws, /metrics exports and admin.ops answers.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "actors/batch_job.h"
#include "actors/registry.h"
#include "events/event_store.h"
#include "ops/command_metrics.h"
#include "schema/commands.pb.h"

namespace coach::actors {

class OpsView {
 public:
  // batch may be null. Each must outlive the view. The event store figures
  // are those of the stores the registry serves from (summed over a
  // cluster node's partitions).
  OpsView(Registry& registry, const CommandMetrics& commands, const BatchControl* batch);

  v1::OpsSnapshot snapshot() const;

  // Readiness: serving commands (NATS connected, not draining, the event
  // store writable).
  bool ready() const { return !not_ready_because().has_value(); }
  // Why the node is not ready ("draining", "not connected to NATS", "event
  // store not writable: ..."), or nullopt when it is.
  std::optional<std::string> not_ready_because() const;
  // How to tell whether NATS is connected (set once the gateway is up).
  void set_connected_probe(std::function<bool()> connected);
  // Where the bus figures come from (set once the gateway is up; zeros
  // until then).
  void set_bus_probe(std::function<v1::BusFigures()> bus);
  // Where the lease's figures come from (node id, held, age); the log's
  // figures are the store's. Zeros until set.
  void set_cluster_probe(std::function<v1::ClusterFigures()> cluster);
  // From now on ready() is false: the node is shutting down.
  void set_draining() { draining_ = true; }
  bool draining() const { return draining_; }

 private:
  uint64_t users_known() const;

  Registry& registry_;
  const CommandMetrics& commands_;
  const BatchControl* batch_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::atomic<bool> draining_{false};
  mutable std::mutex mu_;
  std::function<bool()> connected_;
  std::function<v1::BusFigures()> bus_;
  std::function<v1::ClusterFigures()> cluster_;
  // Counting users walks the store's keys: done at most every few seconds.
  mutable uint64_t users_known_ = 0;
  mutable std::chrono::steady_clock::time_point users_counted_{};
};

}  // namespace coach::actors
