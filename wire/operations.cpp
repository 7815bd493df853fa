#include "wire/operations.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <stdexcept>
#include <unordered_map>

namespace coach::actors {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using K = OperationKind;
using H = Handler;

Operation row(std::string name, std::string field_path, Access access, OperationKind kind,
              Handler handler) {
  if (node_handler(handler) != (kind == K::node))
    throw std::logic_error("operation " + name + ": node kind and node handler disagree");
  Operation op{std::move(name), std::move(field_path), access, kind, handler, 0, {}};
  const auto* type = v1::Command::descriptor();
  size_t from = 0;
  while (from <= op.field_path.size()) {
    auto dot = op.field_path.find('.', from);
    auto part = op.field_path.substr(from, dot == std::string::npos ? dot : dot - from);
    const auto* field = type ? type->FindFieldByName(part) : nullptr;
    // A row naming a field the schema lacks is a bug found at start-up.
    if (!field || field->type() != FieldDescriptor::TYPE_MESSAGE)
      throw std::logic_error("operation " + op.name + ": no message field " + op.field_path);
    op.fields.push_back(field);
    type = field->message_type();
    if (dot == std::string::npos) break;
    from = dot + 1;
  }
  return op;
}

std::vector<Operation> make_table();

std::vector<Operation> indexed_table() {
  auto table = make_table();
  for (size_t i = 0; i < table.size(); ++i) table[i].index = i;
  return table;
}

std::vector<Operation> make_table() {
  using A = Access;
  // "task" operations live in Command.task (a TaskCommand).
  return {
      row("user.register", "register_user", A::own_data, K::write, H::decide),
      row("user.get", "get_profile", A::own_data, K::read, H::state_reply),
      row("preferences.get", "get_profile", A::own_data, K::read, H::state_reply),
      row("preferences.set", "set_preferences", A::own_data, K::write, H::decide),
      row("task.create", "task.create", A::own_data, K::write, H::decide),
      row("task.edit", "task.edit", A::own_data, K::write, H::decide),
      row("task.snooze", "task.snooze", A::own_data, K::write, H::decide),
      row("task.complete", "task.complete", A::own_data, K::write, H::decide),
      row("task.delete", "task.delete", A::own_data, K::write, H::decide),
      row("task.reopen", "task.reopen", A::own_data, K::write, H::decide),
      row("task.restore", "task.restore", A::own_data, K::write, H::decide),
      row("task.note", "task.note", A::own_data, K::write, H::decide),
      row("task.get", "get_task", A::own_data, K::read, H::state_reply),
      row("task.list", "list_tasks", A::own_data, K::read, H::state_reply),
      row("user.export", "export_user", A::own_data, K::special, H::export_page),
      row("user.insights", "get_insights", A::analytics, K::special, H::insights),
      row("user.features", "get_features", A::analytics, K::special, H::features),
      row("schedule.get", "get_schedule", A::own_data, K::read, H::state_reply),
      row("schedule.accept", "accept_recommendation", A::own_data, K::write, H::decide),
      row("schedule.reject", "reject_recommendation", A::own_data, K::write, H::decide),
      row("nudge.now", "nudge_now", A::own_data, K::write, H::nudge_now),
      row("nudge.list", "list_nudges", A::own_data, K::read, H::state_reply),
      row("nudge.rate", "rate_nudge", A::own_data, K::write, H::decide),
      row("admin.notification.report", "report_delivery", A::delivery, K::write, H::decide),
      row("admin.node", "get_node_stats", A::admin, K::node, H::node_stats),
      row("admin.ops", "get_ops", A::admin, K::node, H::ops_snapshot),
      row("admin.actors", "list_actors", A::admin, K::node, H::list_actors),
      row("admin.actor.stop", "stop_actor", A::admin, K::node, H::stop_actor),
      row("admin.batch.run", "run_batch", A::admin, K::node, H::batch),
      row("admin.batch.status", "get_batch_status", A::admin, K::node, H::batch),
      row("analytics.metrics", "get_metrics", A::aggregates, K::node, H::metrics),
      row("calendar.get", "get_calendar", A::own_data, K::read, H::state_reply),
      row("calendar.feed.create", "create_calendar_feed", A::own_data, K::write, H::decide),
      row("calendar.feed.revoke", "revoke_calendar_feed", A::own_data, K::write, H::decide),
      row("calendar.feed.read", "read_calendar_feed", A::feed_secret, K::read, H::state_reply),
      row("user.delete", "delete_user", A::own_data, K::special, H::erase),
  };
}

// Oneof case of Command, and of TaskCommand for Command.task, to the row.
struct CaseIndex {
  std::unordered_map<int, const Operation*> command;
  std::unordered_map<int, const Operation*> task;
};

const CaseIndex& case_index() {
  static const CaseIndex index = [] {
    CaseIndex i;
    for (const auto& op : operation_table()) {
      auto& cases = op.fields.size() > 1 ? i.task : i.command;
      cases.emplace(op.fields.back()->number(), &op);  // the first row wins
    }
    return i;
  }();
  return index;
}

}  // namespace

Message& Operation::message_in(v1::Command& command) const {
  Message* message = &command;
  for (const auto* field : fields)
    message = message->GetReflection()->MutableMessage(message, field);
  return *message;
}

const Message* Operation::message_of(const v1::Command& command) const {
  const Message* message = &command;
  for (const auto* field : fields) {
    const auto* reflection = message->GetReflection();
    if (!reflection->HasField(*message, field)) return nullptr;
    message = &reflection->GetMessage(*message, field);
  }
  return message;
}

const std::vector<Operation>& operation_table() {
  static const std::vector<Operation> table = indexed_table();
  return table;
}

const Operation* find_operation(std::string_view name) {
  static const auto by_name = [] {
    std::unordered_map<std::string_view, const Operation*> map;
    for (const auto& op : operation_table()) map.emplace(op.name, &op);
    return map;
  }();
  auto it = by_name.find(name);
  return it == by_name.end() ? nullptr : it->second;
}

const Operation* operation_of(const v1::Command& command) {
  const auto& index = case_index();
  if (command.has_task()) {
    auto it = index.task.find(static_cast<int>(command.task().command_case()));
    return it == index.task.end() ? nullptr : it->second;
  }
  auto it = index.command.find(static_cast<int>(command.command_case()));
  return it == index.command.end() ? nullptr : it->second;
}

}  // namespace coach::actors
