// Registry: finds or spawns the actor of a user and hands it requests.
//
// - Sharded by user id, one mutex per shard: no global lock on the hot path.
// - Bounded: a request beyond max_in_flight_per_user for one user, or beyond
//   max_in_flight_node for the whole node, is answered at once with "busy,
//   retry after N ms" instead of queueing without end.
// - Supervision: an actor that stops abnormally (crash, kill) is replaced by
//   a fresh one, which rebuilds its state from the log on its next request.
//   Other users' actors are untouched.
// - Passivation: an idle actor asks to be forgotten (try_passivate); the
//   registry agrees only when none of that user's requests is in flight, so
//   no request can reach an actor that is stopping.
#pragma once

#include <array>
#include <atomic>
#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "actors/blocking_pool.h"
#include "actors/nudge_clock.h"
#include "actors/request.h"
#include "actors/user_actor.h"
#include "base/partition.h"

namespace coach::actors {

// The retry hint of a request for a partition this node does not serve
// (moving between nodes): a new owner serves it within a lease round.
inline constexpr uint32_t kMovingRetryAfterMs = 250;

struct RegistryOptions {
  // Nudges: the writer (LLM with template fallback) and the notifier
  // (JetStream); null: templates at once, nothing published.
  NudgeWriter* writer = nullptr;
  Notifier* notifier = nullptr;
  int max_in_flight_per_user = 256;
  int max_in_flight_node = 20000;
  uint32_t busy_retry_after_ms = 20;
  // Threads of the pool that runs the actors' blocking store calls
  // (loading a user, snapshots, export, erasure). Default: 2.
  size_t io_threads = 2;
  UserActorOptions actor;
};

struct RegistryStats {
  size_t resident = 0;        // user actors alive now
  uint64_t spawned = 0;       // actors started (first use, revival, restart)
  uint64_t passivated = 0;    // actors stopped for being idle
  uint64_t restarts = 0;      // actors replaced after an abnormal stop
  uint64_t busy_replies = 0;  // requests refused for overload
  int in_flight = 0;          // requests handed over and not yet answered
  std::map<std::string, uint64_t> restarts_by_reason;
};

// What a graceful shutdown achieved within its bound.
struct ShutdownReport {
  size_t actors = 0;            // resident when it began
  size_t actors_stopped = 0;    // that saved their snapshot and stopped in time
  int requests_unanswered = 0;  // still in flight when the bound ran out
  std::chrono::milliseconds took{0};
};

class Registry {
 public:
  // A single node: every user's actor uses `store`.
  Registry(caf::actor_system& system, events::EventStore& store, RegistryOptions options);
  // A cluster node (issue 18): users fall into `partitions` partitions
  // (base/partition.h) and the registry serves only those attached to it,
  // each from its own store. Requests for any other partition are answered
  // "unavailable" with a retry hint (it is moving, or served elsewhere).
  Registry(caf::actor_system& system, uint32_t partitions, RegistryOptions options);
  ~Registry();  // stops every actor and waits for them
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Hands the request to its user's actor (spawning it if needed), or
  // answers "busy" when too much is in flight.
  void dispatch(RequestPtr request);

  // Called by an idle actor: true when it may stop (it is then forgotten).
  bool try_passivate(const Uuid& user, const caf::actor_addr& actor);

  // Sends the user's actor (spawned if needed) a nudge check; the nudge
  // clock calls it when a check is due.
  void wake(const Uuid& user);
  // Asks the nudge clock to check `user` at `when` (earliest request wins).
  void schedule_check(const Uuid& user, std::chrono::system_clock::time_point when);
  size_t checks_scheduled() const;

  // Kills a user's actor, as a crash would (ops, tests); supervision
  // replaces it. False when the user has no actor.
  bool kill_actor(const Uuid& user);
  // The same, then waits (up to `wait`) for supervision to start the new
  // actor, and describes it.
  std::optional<v1::ActorInfo> kill_and_revive(const Uuid& user, std::chrono::milliseconds wait);

  // Graceful stop, within `bound`: refuses new requests ("unavailable",
  // retry elsewhere), waits for those in flight to be answered, then has
  // every actor save its snapshot and stop. Whatever is left when the bound
  // runs out is stopped by the destructor as in a crash (the log is durable).
  ShutdownReport shutdown(std::chrono::milliseconds bound);
  bool stopping() const { return stopping_; }

  // Partitions (second constructor only). attach: serve `partition` from
  // `store` from now on (the store must stay open until detach returns).
  // detach: refuse the partition's new requests, wait up to `bound` for
  // those in flight, have its actors save their snapshots and stop (those
  // left at the bound are killed), and wait for their blocking jobs: once
  // it returns nothing of the registry touches the store. Call neither
  // from an actor or a pool thread.
  void attach(uint32_t partition, events::EventStore& store);
  void detach(uint32_t partition, std::chrono::milliseconds bound);
  std::vector<uint32_t> attached() const;
  // Whether the user's requests are served here now (always true without
  // partitions).
  bool serves(const Uuid& user) const { return context_for(user) != nullptr; }
  uint32_t partitions() const { return partitions_; }
  // Calls `visit` with each store the registry serves from now (the one,
  // or each attached partition's), under the lock that keeps detach from
  // returning meanwhile: the store stays open during the call. `visit`
  // must not call the registry.
  void for_each_store(const std::function<void(const events::EventStore&)>& visit) const;
  // The store's figures; a cluster node's attached stores' counters summed
  // (without the histograms).
  events::StoreStats store_stats() const;

  // Resident actors, deepest mailbox first, at most `limit`.
  std::vector<v1::ActorInfo> actors(size_t limit) const;

  RegistryStats stats() const;
  // Registry and event store figures, for admins (admin.node).
  v1::NodeStats node_stats() const;
  // The same from figures the caller already has (the ops view).
  v1::NodeStats node_stats(const RegistryStats& stats, const events::StoreStats& store) const;

 private:
  struct Entry {
    caf::actor actor;
    std::shared_ptr<std::atomic<int>> in_flight;
    std::chrono::system_clock::time_point since = std::chrono::system_clock::now();
  };
  struct Shard {
    std::mutex mu;
    std::unordered_map<Uuid, Entry, UuidHash> users;
  };
  static constexpr size_t kShards = 64;
  // Spawns when needed, with the shard's lock held; null when the user's
  // partition is not attached.
  Entry* entry_for(Shard& shard, const Uuid& user, std::shared_ptr<const UserActorContext> context);
  // Kills the user's actor; the address it had, or nullopt without one.
  std::optional<caf::actor_addr> kill(const Uuid& user);

  Shard& shard_for(const Uuid& user) { return shards_[UuidHash{}(user) % kShards]; }
  caf::actor spawn(const Uuid& user,
                   std::shared_ptr<const UserActorContext> context);  // shard's lock held
  // The context of the user's partition; null when it is not attached.
  std::shared_ptr<const UserActorContext> context_for(const Uuid& user) const;

  void on_exit(const Uuid& user, const caf::actor_addr& actor, const caf::error& reason);

  // What an actor's exit functor reaches the registry through. CAF runs an
  // exiting actor's attached functors after whoever waited for its exit has
  // woken, so the destructor's wait_for can return while on_exit is still
  // to run on a CAF thread: the destructor clears `registry` (under the
  // unique lock) first, and later functors find it null.
  struct ExitGuard {
    std::shared_mutex mu;
    Registry* registry = nullptr;
  };

  caf::actor_system& system_;
  std::shared_ptr<ExitGuard> exit_guard_ = std::make_shared<ExitGuard>();
  RegistryOptions options_;
  std::shared_ptr<UserActorContext> context_;
  // With partitions: each attached partition's context (its store); null
  // for the others. dispatch holds the lock shared while it hands a
  // request over, detach exclusively while it clears a slot.
  uint32_t partitions_ = 0;
  mutable std::shared_mutex partitions_mu_;
  std::vector<std::shared_ptr<const UserActorContext>> partition_contexts_;
  std::array<Shard, kShards> shards_;
  std::shared_ptr<std::atomic<int>> node_in_flight_ = std::make_shared<std::atomic<int>>(0);
  std::atomic<bool> stopping_{false};
  std::unique_ptr<NudgeClock> clock_;
  std::unique_ptr<BlockingPool> io_;  // the actors' blocking store calls
  std::atomic<uint64_t> spawned_{0}, passivated_{0}, restarts_{0}, busy_{0};
  mutable std::mutex reasons_mu_;
  std::map<std::string, uint64_t> restarts_by_reason_;
};

}  // namespace coach::actors
