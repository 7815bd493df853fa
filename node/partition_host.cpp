#include "node/partition_host.h"

#include <nats/nats.h>

#include "wire/log.h"

namespace coach::node {

using namespace coach::actors;

PartitionHost::PartitionHost(actors::Registry& registry, PartitionHostOptions options)
    : registry_(registry), options_(std::move(options)) {}

Result<std::unique_ptr<PartitionHost>> PartitionHost::start(actors::Registry& registry,
                                                            PartitionHostOptions options) {
  std::unique_ptr<PartitionHost> host(new PartitionHost(registry, std::move(options)));
  auto& o = host->options_;
  auto connection = connect_nats(actors::log_connection_config(o.nats));
  if (!connection) return connection.error();
  host->log_connection_ = *connection;
  host->worker_ = std::thread([h = host.get()] { h->run(); });
  actors::PartitionLeasesOptions leases;
  leases.nats = o.nats;
  leases.node_id = o.node_id;
  leases.partitions = o.partitions;
  leases.replicas = o.replicas;
  leases.ttl = o.ttl;
  leases.renew_every = o.ttl / 3;
  auto* h = host.get();
  leases.on_taken = [h](uint32_t p) { h->post(Work::take, p); };
  leases.on_handoff = [h](uint32_t p) { h->post(Work::hand_off, p); };
  leases.on_lost = [h](uint32_t p, const std::string&) { h->post(Work::lose, p); };
  auto started = PartitionLeases::start(leases);
  if (!started) return started.error();  // the destructor stops the worker
  host->leases_ = std::move(*started);
  return host;
}

PartitionHost::~PartitionHost() {
  stop();
  leases_.reset();  // the releases stop() asked for are made first
  if (log_connection_) natsConnection_Destroy(log_connection_);
}

void PartitionHost::post(Work work, uint32_t partition) {
  std::unique_lock lock(mu_);
  if (stopped_) {
    // Taken by a lease round that ran while the node was leaving: given
    // back at once instead of lapsing.
    lock.unlock();
    if (work == Work::take && leases_) leases_->release(partition);
    return;
  }
  queue_.emplace_back(work, partition);
  wake_.notify_all();
}

void PartitionHost::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  if (leases_) leases_->leave();
  wake_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void PartitionHost::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) break;  // stopping, and every asked work is done
    auto [work, partition] = queue_.front();
    queue_.pop_front();
    bool stopping = stopping_;
    lock.unlock();
    if (work == Work::take && !stopping)
      take(partition);
    else
      close(partition, work != Work::lose);
    lock.lock();
  }
  stopped_ = true;
  lock.unlock();
  // A graceful leave: every partition handed off.
  while (!open_.empty()) close(open_.begin()->first, /*release=*/true);
}

void PartitionHost::take(uint32_t p) {
  if (open_.count(p)) return;
  auto started = std::chrono::steady_clock::now();
  actors::JetStreamLogOptions log_options;
  log_options.nats = options_.nats;
  log_options.connection = log_connection_;
  log_options.stream = actors::partition_stream(p);
  log_options.subject = actors::partition_subject(p);
  log_options.writer_id = options_.node_id;
  log_options.replicas = options_.replicas;
  log_options.may_write = [leases = leases_.get(), p] { return leases->may_write(p); };
  auto failed = [&](const Error& error) {
    log_line(LogLevel::error, "partitions", "partition not opened; released for another try",
             {{"partition", static_cast<int64_t>(p)}, {"error", error.message}});
    leases_->release(p);
  };
  auto log = JetStreamLog::open(log_options);
  if (!log) return failed(log.error());
  std::shared_ptr<JetStreamLog> shared = std::move(*log);
  auto store =
      options_.open_store(p, shared, [this, p](const std::string&) { post(Work::lose, p); });
  if (!store) return failed(store.error());
  auto figures = (*store)->stats();
  registry_.attach(p, **store);
  if (options_.on_served) options_.on_served(**store);
  open_[p] = Open{std::move(shared), std::move(*store)};
  log_line(LogLevel::info, "partitions", "partition served",
           {{"partition", static_cast<int64_t>(p)},
            {"position", static_cast<int64_t>(figures.replica_position)},
            {"caught_up_events", static_cast<int64_t>(figures.caught_up_events)},
            {"took_ms", static_cast<int64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                 std::chrono::steady_clock::now() - started)
                                                 .count())}});
}

void PartitionHost::close(uint32_t p, bool release) {
  auto it = open_.find(p);
  if (it != open_.end()) {
    registry_.detach(p, release ? options_.detach_bound : std::chrono::milliseconds(100));
    open_.erase(it);  // the store closes, then its log
  }
  if (release) leases_->release(p);
}

std::string PartitionHost::forward_to(const Uuid& user) const {
  auto owner = leases_->owner(partition_of(user, options_.partitions));
  return owner && *owner != options_.node_id ? *owner : std::string();
}

v1::ClusterFigures PartitionHost::figures() const {
  auto f = leases_->figures();
  v1::ClusterFigures out;
  out.set_node_id(options_.node_id);
  out.set_lease_held(f.held > 0);
  out.set_lease_age_seconds(f.oldest_renewal_s);
  out.set_log_replicas(static_cast<uint32_t>(options_.replicas));
  out.set_partitions(f.partitions);
  out.set_partitions_held(static_cast<uint32_t>(registry_.attached().size()));
  out.set_members(f.members);
  return out;
}

}  // namespace coach::node
