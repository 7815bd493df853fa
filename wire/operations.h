// The operation table: every operation of coach's API, one row each, in the
// order docs/api.md lists them (a test checks the two against each other).
// The gateway, the user actor, the command metrics, the access check and
// the codec all read it; adding an operation is its messages in
// schema/commands.proto, one row in operations.cpp, and its decide/reply
// case. Pure data: no NATS, no actors.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "schema/commands.pb.h"
#include "wire/auth.h"

namespace google::protobuf {
class FieldDescriptor;
}

namespace coach::actors {

// How an operation is served.
enum class OperationKind {
  read,     // answered by the user's actor from its state; appends nothing
  write,    // decided by the user's actor; may append events
  node,     // node-wide, answered by the gateway: no user actor involved
  special,  // the user actor's own path (export pages, erasure, features, insights)
};

// What answers an operation: the row's handler. The user actor and the
// gateway each switch over it with no default, so a handler without its
// case does not compile (-Wswitch, -Werror).
enum class Handler {
  // In the user's actor:
  decide,       // projections::run_command: decide, append, evolve, reply
  state_reply,  // projections::reply_for: answered from the state
  export_page,  // one page of user.export: state here, log slice on the pool
  features,     // user.features: live signals or the feature store
  insights,     // user.insights: the state's, and the user's metrics from the log
  nudge_now,    // a nudge written at once (LLM or template)
  erase,        // user.delete: the store's erasure, then the terminal state
  // In the gateway (node-wide, no user actor):
  node_stats,    // admin.node
  ops_snapshot,  // admin.ops
  list_actors,   // admin.actors
  stop_actor,    // admin.actor.stop
  batch,         // admin.batch.run and admin.batch.status
  metrics,       // analytics.metrics
};

// True for the handlers the gateway runs itself.
constexpr bool node_handler(Handler h) {
  return h >= Handler::node_stats;
}

struct Operation {
  std::string name;        // the subject after "coach.v1.", e.g. "task.create"
  std::string field_path;  // where its message lives in a v1::Command, e.g. "task.create"
  Access access;           // what the caller must be allowed (auth.h)
  OperationKind kind;
  Handler handler;   // what answers it; node_handler(handler) == (kind == node)
  size_t index = 0;  // its position in operation_table() (metrics slots by it)
  // Resolved from field_path: the fields from Command down to the message.
  std::vector<const google::protobuf::FieldDescriptor*> fields;

  // The operation's message inside `command`, created if absent.
  google::protobuf::Message& message_in(v1::Command& command) const;
  // The operation's message inside `command`, or nullptr when it holds
  // another operation.
  const google::protobuf::Message* message_of(const v1::Command& command) const;
};

// Every row, in documentation order.
const std::vector<Operation>& operation_table();
// The row named `name`; nullptr for an unknown operation.
const Operation* find_operation(std::string_view name);
// The operation a command holds (the first row for its message: user.get
// for a GetProfile); nullptr for an empty command. O(1): a table indexed by
// the command's oneof cases.
const Operation* operation_of(const v1::Command& command);

}  // namespace coach::actors
