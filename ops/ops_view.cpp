#include "ops/ops_view.h"

#include "events/envelope.h"

namespace coach::actors {

OpsView::OpsView(Registry& registry, const CommandMetrics& commands, const BatchControl* batch)
    : registry_(registry), commands_(commands), batch_(batch) {}

namespace {

// The first write fault of the registry's stores.
std::optional<std::string> write_fault(const Registry& registry) {
  std::optional<std::string> fault;
  registry.for_each_store([&](const events::EventStore& store) {
    if (!fault) fault = store.write_fault();
  });
  return fault;
}

}  // namespace

void OpsView::set_connected_probe(std::function<bool()> connected) {
  std::lock_guard lock(mu_);
  connected_ = std::move(connected);
}

void OpsView::set_bus_probe(std::function<v1::BusFigures()> bus) {
  std::lock_guard lock(mu_);
  bus_ = std::move(bus);
}

void OpsView::set_cluster_probe(std::function<v1::ClusterFigures()> cluster) {
  std::lock_guard lock(mu_);
  cluster_ = std::move(cluster);
}

std::optional<std::string> OpsView::not_ready_because() const {
  if (draining_) return "draining";
  {
    std::lock_guard lock(mu_);
    if (!connected_ || !connected_()) return "not connected to NATS";
  }
  if (auto fault = write_fault(registry_)) return "event store not writable: " + *fault;
  return std::nullopt;
}

uint64_t OpsView::users_known() const {
  constexpr auto kRecount = std::chrono::seconds(5);
  auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mu_);
    if (users_counted_ != std::chrono::steady_clock::time_point{} &&
        now - users_counted_ < kRecount)
      return users_known_;
  }
  uint64_t known = 0;
  registry_.for_each_store([&](const events::EventStore& store) {
    if (auto users = store.users()) known += users->size();
  });
  std::lock_guard lock(mu_);
  users_known_ = known;
  users_counted_ = now;
  return users_known_;
}

v1::OpsSnapshot OpsView::snapshot() const {
  v1::OpsSnapshot s;
  *s.mutable_at() = coach::to_timestamp(std::chrono::system_clock::now());
  s.set_uptime_seconds(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count());
  s.set_ready(ready());
  if (auto fault = write_fault(registry_)) s.set_store_fault(*fault);
  uint64_t resumes = 0;
  registry_.for_each_store([&](const events::EventStore& store) { resumes += store.resumes(); });
  s.set_store_resumes(resumes);
  auto registry = registry_.stats();
  auto store = registry_.store_stats();
  s.set_store_blocking_on_scheduler(store.blocking_on_scheduler);
  s.set_draining(draining_);
  *s.mutable_node() = registry_.node_stats(registry, store);
  s.set_users_known(std::max<uint64_t>(users_known(), registry.resident));
  s.set_users_passivated(s.users_known() - registry.resident);
  s.mutable_restarts_by_reason()->insert(registry.restarts_by_reason.begin(),
                                         registry.restarts_by_reason.end());
  for (auto& actor : registry_.actors(10)) *s.add_busiest() = std::move(actor);
  for (auto& figures : commands_.snapshot()) *s.add_commands() = std::move(figures);
  s.set_appends(store.appends);
  s.set_events_appended(store.events);
  *s.mutable_append_group_size() = to_proto(store.group_appends);
  *s.mutable_append_write_seconds() = to_proto(store.write_seconds);
  if (batch_) *s.mutable_batch() = batch_->status();
  std::function<v1::BusFigures()> bus;
  std::function<v1::ClusterFigures()> cluster;
  {
    std::lock_guard lock(mu_);
    bus = bus_;
    cluster = cluster_;
  }
  if (bus) *s.mutable_bus() = bus();
  if (cluster) *s.mutable_cluster() = cluster();
  s.mutable_cluster()->set_log_position(store.replica_position);
  s.mutable_cluster()->set_caught_up_groups(store.caught_up_groups);
  s.mutable_cluster()->set_caught_up_events(store.caught_up_events);
  return s;
}

}  // namespace coach::actors
