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
  special,  // the user actor's own path (export pages, erasure, features)
};

struct Operation {
  std::string name;        // the subject after "coach.v1.", e.g. "task.create"
  std::string field_path;  // where its message lives in a v1::Command, e.g. "task.create"
  Access access;           // what the caller must be allowed (auth.h)
  OperationKind kind;
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
