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
  for (;;) {
    uint32_t p = 0;
    {
      std::lock_guard open_lock(open_mu_);
      if (open_.empty()) break;
      p = open_.begin()->first;
    }
    close(p, /*release=*/true);
  }
}

void PartitionHost::take(uint32_t p) {
  if (std::lock_guard lock(open_mu_); open_.count(p)) return;
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
  if (options_.batches) options_.batches->add(p, **store);
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  {
    std::lock_guard lock(open_mu_);
    open_[p] = Open{std::move(shared), std::move(*store), took};
  }
  log_line(LogLevel::info, "partitions", "partition served",
           {{"partition", static_cast<int64_t>(p)},
            {"position", static_cast<int64_t>(figures.replica_position)},
            {"caught_up_events", static_cast<int64_t>(figures.caught_up_events)},
            {"took_ms", static_cast<int64_t>(took * 1000)}});
}

void PartitionHost::close(uint32_t p, bool release) {
  decltype(open_)::node_type closing;
  {
    std::lock_guard lock(open_mu_);
    closing = open_.extract(p);
  }
  if (!closing.empty()) {
    registry_.detach(p, release ? options_.detach_bound : std::chrono::milliseconds(100));
    if (options_.batches) options_.batches->remove(p);
    closing = {};  // the store closes, then its log
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
  for (const auto& member : f.member_ids) out.add_member_ids(member);
  std::lock_guard lock(open_mu_);
  for (uint32_t p = 0; p < f.partitions; ++p) {
    auto* state = out.add_partition_map();
    state->set_partition(p);
    if (auto owner = f.owners.find(p); owner != f.owners.end()) state->set_owner(owner->second);
    if (auto age = f.lease_age_s.find(p); age != f.lease_age_s.end())
      state->set_lease_age_seconds(age->second);
    auto open = open_.find(p);
    if (open == open_.end()) continue;
    auto stats = open->second.store->stats();
    state->set_served_here(true);
    state->set_log_position(stats.replica_position);
    state->set_caught_up_events(stats.caught_up_events);
    state->set_catch_up_seconds(open->second.catch_up_seconds);
    state->set_events(stats.feed_head);
  }
  return out;
}

}  // namespace coach::node
