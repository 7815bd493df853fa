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
#include <caf/atom.hpp>
#include <chrono>
#include <memory>

#include "base/ids.h"
#include "events/event_store.h"
#include "schema/snapshots.pb.h"

namespace coach::actors {

class Registry;

class BlockingPool;
class NudgeWriter;
class Notifier;
class NudgeClock;

// Coaching nudges (issue #7): how soon after a change the triggers are
// checked (changes in a burst are checked once), and how long a nudge's
// text may take (LLM) before the template stands in.
struct NudgeOptions {
  std::chrono::milliseconds check_delay{5000};
  std::chrono::milliseconds on_demand_deadline{3000};  // nudge.now: the client waits
  std::chrono::milliseconds triggered_deadline{20000};
  // The nudge trial (projections/nudge_trial.h): the chance that a
  // triggered nudge is held back; 0 (default): off.
  double hold_back = 0;
};

struct UserActorOptions {
  std::chrono::milliseconds idle_timeout{std::chrono::minutes(5)};
  uint64_t snapshot_every = 200;  // events folded between two snapshots
  NudgeOptions nudges;
};

// What every user actor of a node shares. writer, notifier and clock may be
// null (no nudges written, none published, no timed checks).
struct UserActorContext {
  events::EventStore* store = nullptr;
  // Where the actor's blocking store calls run (never on a CAF thread).
  BlockingPool* io = nullptr;
  Registry* registry = nullptr;
  UserActorOptions options;
  NudgeWriter* writer = nullptr;
  Notifier* notifier = nullptr;
  NudgeClock* clock = nullptr;
};

// The message the nudge clock sends (through Registry::wake) to check a
// user's nudge triggers.
using nudge_check_atom = caf::atom_constant<caf::atom("nudgecheck")>;
// The message the registry sends at a graceful shutdown: finish what is in
// flight, save the snapshot, stop.
using shutdown_atom = caf::atom_constant<caf::atom("shutdown")>;

// The name under which user actors save their snapshot.
inline constexpr std::string_view kUserSnapshot = "user";
// The node meta value (EventStore::put_meta) holding the behavior-mode model
// of the last batch run (v1::ClusterModelState).
inline constexpr std::string_view kClusterModelMeta = "cluster-model";
// The node meta value holding the population's late rates by category of
// the last full batch run (v1::PopulationRatesState), read as users load.
inline constexpr std::string_view kPopulationRatesMeta = "population-rates";
// Those rates as `store` holds them; null when none were written or they do
// not parse (the risk then uses the model's neutral rate).
std::shared_ptr<const v1::PopulationRatesState> stored_population(const events::EventStore& store);

caf::actor spawn_user_actor(caf::actor_system& system, const Uuid& user,
                            std::shared_ptr<const UserActorContext> context);

}  // namespace coach::actors
