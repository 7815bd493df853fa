// The user actor: one per active user. It loads the user's state (snapshot
// plus the log's tail), and for each command decides, appends through the
// event store without blocking, folds the new events in and replies. One
// command at a time per user: commands that arrive while an append is in
// flight wait in the actor, in order. After `idle_timeout` without commands it
// saves a snapshot and passivates (stops); the registry revives it on the
// next command.
#pragma once

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <chrono>
#include <memory>

#include "events/event_store.h"
#include "events/ids.h"

namespace coach::actors {

class Registry;

struct UserActorOptions {
  std::chrono::milliseconds idle_timeout{std::chrono::minutes(5)};
  uint64_t snapshot_every = 200;  // events folded between two snapshots
};

// What every user actor of a node shares.
struct UserActorContext {
  events::EventStore* store = nullptr;
  Registry* registry = nullptr;
  UserActorOptions options;
};

// The name under which user actors save their snapshot.
inline constexpr std::string_view kUserSnapshot = "user";
// The node meta value (EventStore::put_meta) holding the behavior-mode model
// of the last batch run (v1::ClusterModelState).
inline constexpr std::string_view kClusterModelMeta = "cluster-model";

caf::actor spawn_user_actor(caf::actor_system& system, const Uuid& user,
                            std::shared_ptr<const UserActorContext> context);

}  // namespace coach::actors
