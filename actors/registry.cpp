#include "actors/registry.h"

#include <caf/all.hpp>

#include <algorithm>
#include <condition_variable>
#include <thread>

#include "actors/handoff.h"
#include "adapters/notifier.h"
#include "adapters/nudge_writer.h"
#include "events/envelope.h"
#include "wire/log.h"

namespace coach::actors {
namespace {

v1::ActorInfo actor_info(const Uuid& user, int mailbox,
                         std::chrono::system_clock::time_point since) {
  v1::ActorInfo info;
  info.set_user_id(user.to_string());
  info.set_mailbox(mailbox);
  *info.mutable_since() = coach::to_timestamp(since);
  return info;
}

}  // namespace

Registry::Registry(caf::actor_system& system, events::EventStore& store, RegistryOptions options)
    : Registry(system, 0, std::move(options)) {
  context_->store = &store;
}

Registry::Registry(caf::actor_system& system, uint32_t partitions, RegistryOptions options)
    : system_(system),
      options_(options),
      context_(std::make_shared<UserActorContext>()),
      partitions_(partitions),
      partition_contexts_(partitions) {
  io_ = std::make_unique<BlockingPool>(options.io_threads);
  context_->io = io_.get();
  context_->registry = this;
  context_->options = options.actor;
  context_->writer = options.writer;
  context_->notifier = options.notifier;
  clock_ = std::make_unique<NudgeClock>([this](const Uuid& user) { wake(user); });
  context_->clock = clock_.get();
  exit_guard_->registry = this;
}

Registry::~Registry() {
  {
    std::unique_lock guard(exit_guard_->mu);  // waits for an on_exit under way
    exit_guard_->registry = nullptr;
  }
  stopping_ = true;
  clock_.reset();  // no more wake-ups
  std::vector<caf::actor> actors;
  for (auto& shard : shards_) {
    std::lock_guard lock(shard.mu);
    for (auto& [user, entry] : shard.users) actors.push_back(entry.actor);
    shard.users.clear();
  }
  // Actors finish the message at hand; queued requests answer "unavailable".
  for (auto& a : actors) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  caf::scoped_actor self{system_};
  for (auto& a : actors) self->wait_for(a);
  io_.reset();  // the last snapshots the actors handed it are written now
}

std::shared_ptr<const UserActorContext> Registry::context_for(const Uuid& user) const {
  if (!partitions_) return context_;
  std::shared_lock lock(partitions_mu_);
  return partition_contexts_[partition_of(user, partitions_)];
}

caf::actor Registry::spawn(const Uuid& user, std::shared_ptr<const UserActorContext> context) {
  auto actor = spawn_user_actor(system_, user, std::move(context));
  auto address = actor.address();
  actor->attach_functor([guard = exit_guard_, user, address](const caf::error& reason) {
    std::shared_lock lock(guard->mu);
    if (guard->registry) guard->registry->on_exit(user, address, reason);
  });
  spawned_.fetch_add(1, std::memory_order_relaxed);
  return actor;
}

Registry::Entry* Registry::entry_for(Shard& shard, const Uuid& user,
                                     std::shared_ptr<const UserActorContext> context) {
  auto it = shard.users.find(user);
  if (it == shard.users.end()) {
    if (!context) return nullptr;
    it = shard.users
             .emplace(user,
                      Entry{spawn(user, std::move(context)), std::make_shared<std::atomic<int>>(0)})
             .first;
  }
  return &it->second;
}

void Registry::dispatch(RequestPtr request) {
  auto busy = [&](const std::string& what) {
    busy_.fetch_add(1, std::memory_order_relaxed);
    request->reply_error(
        make_error(Errc::busy, what + " is overloaded; retry after " +
                                   std::to_string(options_.busy_retry_after_ms) + " ms"),
        options_.busy_retry_after_ms);
  };
  if (node_in_flight_->load(std::memory_order_relaxed) >= options_.max_in_flight_node)
    return busy("this node");
  if (stopping_) {
    request->reply_error(make_error(Errc::unavailable, "the node is shutting down; retry"), 500);
    return;
  }
  // Held shared until the request counts as in flight: detach, which takes
  // it exclusively, then sees every request of the partition it must wait for.
  std::shared_lock partitions(partitions_mu_, std::defer_lock);
  if (partitions_) partitions.lock();
  auto context =
      partitions_ ? partition_contexts_[partition_of(request->user(), partitions_)] : context_;
  auto& shard = shard_for(request->user());
  std::unique_lock lock(shard.mu);
  auto* found = context ? entry_for(shard, request->user(), std::move(context)) : nullptr;
  if (!found) {
    lock.unlock();
    request->reply_error(
        make_error(Errc::unavailable,
                   "partition " + std::to_string(partition_of(request->user(), partitions_)) +
                       " is not served by this node now (moving to another node); retry"),
        kMovingRetryAfterMs);
    return;
  }
  auto& entry = *found;
  if (entry.in_flight->load(std::memory_order_relaxed) >= options_.max_in_flight_per_user) {
    lock.unlock();
    return busy("this user's actor");
  }
  entry.in_flight->fetch_add(1, std::memory_order_acq_rel);
  node_in_flight_->fetch_add(1, std::memory_order_acq_rel);
  request->track(entry.in_flight, node_in_flight_);
  send_to_actor(entry.actor, std::move(request));
}

void Registry::wake(const Uuid& user) {
  if (stopping_) return;
  auto context = context_for(user);  // before the shard's lock (dispatch's order)
  if (!context) return;
  auto& shard = shard_for(user);
  std::unique_lock lock(shard.mu);
  if (auto* entry = entry_for(shard, user, std::move(context)))
    send_to_actor(entry->actor, nudge_check_atom::value);
}

void Registry::schedule_check(const Uuid& user, std::chrono::system_clock::time_point when) {
  if (clock_) clock_->schedule(user, when);
}

size_t Registry::checks_scheduled() const {
  return clock_ ? clock_->scheduled() : 0;
}

bool Registry::try_passivate(const Uuid& user, const caf::actor_addr& actor) {
  auto& shard = shard_for(user);
  std::lock_guard lock(shard.mu);
  auto it = shard.users.find(user);
  if (it == shard.users.end() || it->second.actor.address() != actor) return true;
  if (it->second.in_flight->load(std::memory_order_acquire) > 0) return false;
  shard.users.erase(it);
  passivated_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

std::optional<caf::actor_addr> Registry::kill(const Uuid& user) {
  auto& shard = shard_for(user);
  std::lock_guard lock(shard.mu);
  auto it = shard.users.find(user);
  if (it == shard.users.end()) return std::nullopt;
  caf::anon_send_exit(it->second.actor, caf::exit_reason::kill);
  return it->second.actor.address();
}

bool Registry::kill_actor(const Uuid& user) {
  return kill(user).has_value();
}

std::optional<v1::ActorInfo> Registry::kill_and_revive(const Uuid& user,
                                                       std::chrono::milliseconds wait) {
  auto old = kill(user);
  if (!old) return std::nullopt;
  auto until = std::chrono::steady_clock::now() + wait;
  auto& shard = shard_for(user);
  while (true) {
    {
      std::lock_guard lock(shard.mu);
      auto it = shard.users.find(user);
      if (it != shard.users.end() && it->second.actor.address() != *old)
        return actor_info(user, it->second.in_flight->load(), it->second.since);
      if (it == shard.users.end() || std::chrono::steady_clock::now() >= until) {
        v1::ActorInfo gone;  // passivated meanwhile, or slow to revive
        gone.set_user_id(user.to_string());
        return gone;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void Registry::on_exit(const Uuid& user, const caf::actor_addr& actor, const caf::error& reason) {
  if (!reason || reason == caf::exit_reason::normal || stopping_) return;  // passivated
  auto context = context_for(user);  // before the shard's lock (dispatch's order)
  auto& shard = shard_for(user);
  std::lock_guard lock(shard.mu);
  auto it = shard.users.find(user);
  if (it == shard.users.end() || it->second.actor.address() != actor) return;
  // Replace the actor; the same in-flight counter stays, since requests that
  // died with the old actor answer "unavailable" and count themselves down.
  if (!context) {  // its partition left the node meanwhile
    shard.users.erase(it);
    return;
  }
  it->second.actor = spawn(user, std::move(context));
  it->second.since = std::chrono::system_clock::now();
  restarts_.fetch_add(1, std::memory_order_relaxed);
  auto why = caf::to_string(reason);
  log_line(LogLevel::warn, "registry", "user actor restarted",
           {{"user", user.to_string()}, {"reason", why}});
  std::lock_guard reasons(reasons_mu_);
  ++restarts_by_reason_[why];
}

namespace {

// Has every actor save its snapshot and stop; how many stopped by `until`.
size_t stop_gracefully(const std::vector<caf::actor>& actors,
                       std::chrono::steady_clock::time_point until) {
  struct Latch {
    std::mutex mu;
    std::condition_variable cv;
    size_t left = 0;
  };
  auto latch = std::make_shared<Latch>();
  latch->left = actors.size();
  for (const auto& actor : actors) {
    actor->attach_functor([latch] {
      std::lock_guard lock(latch->mu);
      if (--latch->left == 0) latch->cv.notify_all();
    });
    send_to_actor(actor, shutdown_atom::value);
  }
  std::unique_lock lock(latch->mu);
  latch->cv.wait_until(lock, until, [&] { return latch->left == 0; });
  return actors.size() - latch->left;
}

}  // namespace

void Registry::attach(uint32_t partition, events::EventStore& store) {
  if (partition >= partitions_) return;
  auto context = std::make_shared<UserActorContext>(*context_);
  context->store = &store;
  std::unique_lock lock(partitions_mu_);
  partition_contexts_[partition] = std::move(context);
}

void Registry::detach(uint32_t partition, std::chrono::milliseconds bound) {
  using Steady = std::chrono::steady_clock;
  if (partition >= partitions_) return;
  auto until = Steady::now() + bound;
  {
    std::unique_lock lock(partitions_mu_);
    if (!partition_contexts_[partition]) return;
    partition_contexts_[partition] = nullptr;  // dispatch refuses it from now on
  }
  auto in_partition = [&](const Uuid& user) {
    return partition_of(user, partitions_) == partition;
  };
  auto in_flight = [&] {
    int n = 0;
    for (auto& shard : shards_) {
      std::lock_guard lock(shard.mu);
      for (auto& [user, entry] : shard.users)
        if (in_partition(user)) n += entry.in_flight->load();
    }
    return n;
  };
  while (in_flight() > 0 && Steady::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  // Forgotten first, so that supervision does not replace them.
  std::vector<caf::actor> actors;
  for (auto& shard : shards_) {
    std::lock_guard lock(shard.mu);
    for (auto it = shard.users.begin(); it != shard.users.end();) {
      if (!in_partition(it->first)) {
        ++it;
        continue;
      }
      actors.push_back(it->second.actor);
      it = shard.users.erase(it);
    }
  }
  if (stop_gracefully(actors, until) < actors.size()) {
    for (auto& actor : actors) caf::anon_send_exit(actor, caf::exit_reason::kill);
    caf::scoped_actor self{system_};
    for (auto& actor : actors) self->wait_for(actor);
  }
  io_->drain();  // their last snapshot saves, and any other job on the store
}

std::vector<uint32_t> Registry::attached() const {
  std::shared_lock lock(partitions_mu_);
  std::vector<uint32_t> out;
  for (uint32_t p = 0; p < partitions_; ++p)
    if (partition_contexts_[p]) out.push_back(p);
  return out;
}

void Registry::for_each_store(const std::function<void(const events::EventStore&)>& visit) const {
  if (!partitions_) return visit(*context_->store);
  std::shared_lock lock(partitions_mu_);
  for (const auto& context : partition_contexts_)
    if (context) visit(*context->store);
}

events::StoreStats Registry::store_stats() const {
  if (!partitions_) return context_->store->stats();
  events::StoreStats sum;
  for_each_store([&](const events::EventStore& store) {
    auto s = store.stats();
    sum.appends += s.appends;
    sum.events += s.events;
    sum.groups += s.groups;
    sum.largest_group = std::max(sum.largest_group, s.largest_group);
    sum.feed_head += s.feed_head;
    sum.write_micros += s.write_micros;
    sum.blocking_on_scheduler += s.blocking_on_scheduler;
    sum.replica_position += s.replica_position;
    sum.caught_up_groups += s.caught_up_groups;
    sum.caught_up_events += s.caught_up_events;
  });
  return sum;
}

ShutdownReport Registry::shutdown(std::chrono::milliseconds bound) {
  using Steady = std::chrono::steady_clock;
  auto start = Steady::now();
  auto until = start + bound;
  stopping_ = true;  // dispatch and wake refuse from now on
  while (node_in_flight_->load() > 0 && Steady::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ShutdownReport report;
  report.requests_unanswered = node_in_flight_->load();
  std::vector<caf::actor> actors;
  for (auto& shard : shards_) {
    std::lock_guard lock(shard.mu);
    for (auto& [user, entry] : shard.users) actors.push_back(entry.actor);
  }
  report.actors = actors.size();
  report.actors_stopped = stop_gracefully(actors, until);
  report.took = std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - start);
  return report;
}

std::vector<v1::ActorInfo> Registry::actors(size_t limit) const {
  // Plain rows first: a node may hold many actors, and only `limit` of them
  // become messages.
  struct Row {
    Uuid user;
    int mailbox;
    std::chrono::system_clock::time_point since;
  };
  std::vector<Row> rows;
  for (auto& shard : shards_) {
    std::lock_guard lock(const_cast<Shard&>(shard).mu);
    for (const auto& [user, entry] : shard.users)
      rows.push_back({user, entry.in_flight->load(std::memory_order_relaxed), entry.since});
  }
  auto deeper = [](const Row& a, const Row& b) {
    return a.mailbox != b.mailbox ? a.mailbox > b.mailbox : a.since < b.since;
  };
  auto n = std::min(limit, rows.size());
  std::partial_sort(rows.begin(), rows.begin() + static_cast<ptrdiff_t>(n), rows.end(), deeper);
  std::vector<v1::ActorInfo> out;
  for (size_t i = 0; i < n; ++i)
    out.push_back(actor_info(rows[i].user, rows[i].mailbox, rows[i].since));
  return out;
}

v1::NodeStats Registry::node_stats() const {
  return node_stats(stats(), store_stats());
}

v1::NodeStats Registry::node_stats(const RegistryStats& r, const events::StoreStats& store) const {
  v1::NodeStats out;
  out.set_resident_actors(r.resident);
  out.set_actors_spawned(r.spawned);
  out.set_actors_passivated(r.passivated);
  out.set_actor_restarts(r.restarts);
  out.set_busy_replies(r.busy_replies);
  out.set_requests_in_flight(r.in_flight);
  out.set_events_stored(store.feed_head);
  out.set_group_commits(store.groups);
  if (const auto* writer = context_->writer) {
    auto w = writer->stats();
    if (w.llm_configured) out.set_llm_breaker(std::string(breaker_name(w.breaker)));
    out.set_nudges_by_llm(w.written_by_llm);
    out.set_nudges_by_template(w.written_by_template);
    out.set_llm_retries(w.retries);
    out.set_llm_tokens_today(w.tokens_today);
    out.set_llm_tokens_total(w.tokens_total);
    out.set_llm_tokens_per_day(w.tokens_per_day);
    out.set_llm_queue(w.queued);
    out.mutable_template_fallbacks()->insert(w.fallbacks.begin(), w.fallbacks.end());
  }
  if (const auto* notifier = context_->notifier) {
    auto n = notifier->stats();
    out.set_notifications_published(n.published);
    out.set_notification_publish_errors(n.publish_errors);
    out.set_notifications_pending(n.pending);
    out.set_dead_letters(n.dead_stored);
  }
  out.set_nudge_checks_scheduled(checks_scheduled());
  return out;
}

RegistryStats Registry::stats() const {
  RegistryStats s;
  for (auto& shard : shards_) {
    std::lock_guard lock(const_cast<Shard&>(shard).mu);
    s.resident += shard.users.size();
  }
  s.spawned = spawned_.load();
  s.passivated = passivated_.load();
  s.restarts = restarts_.load();
  s.busy_replies = busy_.load();
  s.in_flight = node_in_flight_->load();
  std::lock_guard reasons(reasons_mu_);
  s.restarts_by_reason = restarts_by_reason_;
  return s;
}

}  // namespace coach::actors
