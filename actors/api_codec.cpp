#include "actors/api_codec.h"

#include <google/protobuf/util/json_util.h>

#include <cstdio>
#include <functional>

namespace coach::actors {
namespace {

using google::protobuf::Message;

// Where an operation's message lives inside a Command.
struct Operation {
  std::string name;
  std::function<Message*(v1::Command&)> target;
  std::function<const Message*(const v1::Command&)> source;
};

template <class Get, class Mutable>
Operation op(std::string name, Get get, Mutable mut) {
  return {std::move(name), [mut](v1::Command& c) -> Message* { return mut(c); },
          [get](const v1::Command& c) -> const Message* { return get(c); }};
}

const std::vector<Operation>& operations() {
  using C = v1::Command;
  static const std::vector<Operation> ops = {
      op(
          "user.register",
          [](const C& c) { return c.has_register_user() ? &c.register_user() : nullptr; },
          [](C& c) { return c.mutable_register_user(); }),
      op(
          "user.get", [](const C& c) { return c.has_get_profile() ? &c.get_profile() : nullptr; },
          [](C& c) { return c.mutable_get_profile(); }),
      op(
          "preferences.get",
          [](const C& c) { return c.has_get_profile() ? &c.get_profile() : nullptr; },
          [](C& c) { return c.mutable_get_profile(); }),
      op(
          "preferences.set",
          [](const C& c) { return c.has_set_preferences() ? &c.set_preferences() : nullptr; },
          [](C& c) { return c.mutable_set_preferences(); }),
      op(
          "task.create",
          [](const C& c) { return c.task().has_create() ? &c.task().create() : nullptr; },
          [](C& c) { return c.mutable_task()->mutable_create(); }),
      op(
          "task.edit", [](const C& c) { return c.task().has_edit() ? &c.task().edit() : nullptr; },
          [](C& c) { return c.mutable_task()->mutable_edit(); }),
      op(
          "task.snooze",
          [](const C& c) { return c.task().has_snooze() ? &c.task().snooze() : nullptr; },
          [](C& c) { return c.mutable_task()->mutable_snooze(); }),
      op(
          "task.complete",
          [](const C& c) { return c.task().has_complete() ? &c.task().complete() : nullptr; },
          [](C& c) { return c.mutable_task()->mutable_complete(); }),
      op(
          "task.delete",
          [](const C& c) { return c.task().has_delete_() ? &c.task().delete_() : nullptr; },
          [](C& c) { return c.mutable_task()->mutable_delete_(); }),
      op(
          "task.reopen",
          [](const C& c) { return c.task().has_reopen() ? &c.task().reopen() : nullptr; },
          [](C& c) { return c.mutable_task()->mutable_reopen(); }),
      op(
          "task.restore",
          [](const C& c) { return c.task().has_restore() ? &c.task().restore() : nullptr; },
          [](C& c) { return c.mutable_task()->mutable_restore(); }),
      op(
          "task.get", [](const C& c) { return c.has_get_task() ? &c.get_task() : nullptr; },
          [](C& c) { return c.mutable_get_task(); }),
      op(
          "task.list", [](const C& c) { return c.has_list_tasks() ? &c.list_tasks() : nullptr; },
          [](C& c) { return c.mutable_list_tasks(); }),
      op(
          "user.export",
          [](const C& c) { return c.has_export_user() ? &c.export_user() : nullptr; },
          [](C& c) { return c.mutable_export_user(); }),
      op(
          "user.delete",
          [](const C& c) { return c.has_delete_user() ? &c.delete_user() : nullptr; },
          [](C& c) { return c.mutable_delete_user(); }),
      op(
          "user.insights",
          [](const C& c) { return c.has_get_insights() ? &c.get_insights() : nullptr; },
          [](C& c) { return c.mutable_get_insights(); }),
      op(
          "admin.node",
          [](const C& c) { return c.has_get_node_stats() ? &c.get_node_stats() : nullptr; },
          [](C& c) { return c.mutable_get_node_stats(); }),
      op(
          "schedule.get",
          [](const C& c) { return c.has_get_schedule() ? &c.get_schedule() : nullptr; },
          [](C& c) { return c.mutable_get_schedule(); }),
      op(
          "schedule.accept",
          [](const C& c) {
            return c.has_accept_recommendation() ? &c.accept_recommendation() : nullptr;
          },
          [](C& c) { return c.mutable_accept_recommendation(); }),
      op(
          "schedule.reject",
          [](const C& c) {
            return c.has_reject_recommendation() ? &c.reject_recommendation() : nullptr;
          },
          [](C& c) { return c.mutable_reject_recommendation(); }),
      op(
          "admin.batch.run",
          [](const C& c) { return c.has_run_batch() ? &c.run_batch() : nullptr; },
          [](C& c) { return c.mutable_run_batch(); }),
      op(
          "admin.batch.status",
          [](const C& c) { return c.has_get_batch_status() ? &c.get_batch_status() : nullptr; },
          [](C& c) { return c.mutable_get_batch_status(); }),
      op(
          "user.features",
          [](const C& c) { return c.has_get_features() ? &c.get_features() : nullptr; },
          [](C& c) { return c.mutable_get_features(); }),
      op(
          "nudge.now", [](const C& c) { return c.has_nudge_now() ? &c.nudge_now() : nullptr; },
          [](C& c) { return c.mutable_nudge_now(); }),
      op(
          "nudge.rate", [](const C& c) { return c.has_rate_nudge() ? &c.rate_nudge() : nullptr; },
          [](C& c) { return c.mutable_rate_nudge(); }),
      op(
          "nudge.list", [](const C& c) { return c.has_list_nudges() ? &c.list_nudges() : nullptr; },
          [](C& c) { return c.mutable_list_nudges(); }),
      op(
          "admin.notification.report",
          [](const C& c) { return c.has_report_delivery() ? &c.report_delivery() : nullptr; },
          [](C& c) { return c.mutable_report_delivery(); }),
      op(
          "admin.ops", [](const C& c) { return c.has_get_ops() ? &c.get_ops() : nullptr; },
          [](C& c) { return c.mutable_get_ops(); }),
      op(
          "admin.actors",
          [](const C& c) { return c.has_list_actors() ? &c.list_actors() : nullptr; },
          [](C& c) { return c.mutable_list_actors(); }),
      op(
          "admin.actor.stop",
          [](const C& c) { return c.has_stop_actor() ? &c.stop_actor() : nullptr; },
          [](C& c) { return c.mutable_stop_actor(); }),
  };
  return ops;
}

const Operation* find_operation(std::string_view name) {
  for (const auto& o : operations())
    if (o.name == name) return &o;
  return nullptr;
}

Error unknown_operation(std::string_view name) {
  std::string known;
  for (const auto& o : operations()) known += (known.empty() ? "" : ", ") + o.name;
  return make_error(Errc::invalid_argument, "unknown subject " + std::string(kSubjectPrefix) +
                                                std::string(name.substr(0, 80)) +
                                                "; known operations: " + known);
}

Status parse_into(Message& message, std::string_view body, Encoding encoding) {
  if (encoding == Encoding::protobuf) {
    if (!message.ParseFromArray(body.data(), static_cast<int>(body.size())))
      return make_error(Errc::invalid_argument,
                        "body is not a valid protobuf " + message.GetTypeName());
    return Ok{};
  }
  if (body.empty()) return Ok{};  // an empty body is an empty message
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;  // a misspelt field is an error, not silence
  auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(body.data(), body.size()), &message, options);
  if (!status.ok())
    return make_error(Errc::invalid_argument, "body is not valid JSON for " +
                                                  message.GetTypeName() + ": " +
                                                  std::string(status.message()));
  return Ok{};
}

}  // namespace

Result<Encoding> encoding_from_content_type(std::string_view content_type) {
  if (content_type.empty() || content_type.substr(0, 16) == "application/json")
    return Encoding::json;
  if (content_type == "application/protobuf" || content_type == "application/x-protobuf")
    return Encoding::protobuf;
  return make_error(Errc::invalid_argument,
                    "Content-Type must be application/json or application/protobuf, got \"" +
                        std::string(content_type.substr(0, 80)) + "\"");
}

std::string_view content_type_of(Encoding encoding) {
  return encoding == Encoding::json ? "application/json" : "application/protobuf";
}

const std::vector<std::string>& api_operations() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto& o : operations()) n.push_back(o.name);
    return n;
  }();
  return names;
}

Result<v1::Command> decode_command(std::string_view operation, std::string_view body,
                                   Encoding encoding) {
  const auto* op = find_operation(operation);
  if (!op) return unknown_operation(operation);
  if (body.size() > kMaxRequestBytes)
    return make_error(Errc::payload_too_large, "body is " + std::to_string(body.size()) +
                                                   " bytes; the limit is " +
                                                   std::to_string(kMaxRequestBytes));
  v1::Command command;
  if (auto s = parse_into(*op->target(command), body, encoding); !s) return s.error();
  return command;
}

std::optional<Access> access_of(std::string_view operation) {
  if (!find_operation(operation)) return std::nullopt;
  if (operation == "user.insights" || operation == "user.features") return Access::analytics;
  if (operation == "admin.notification.report") return Access::delivery;
  if (operation.substr(0, 6) == "admin.") return Access::admin;
  return Access::own_data;
}

Result<std::string> encode_command(std::string_view operation, const v1::Command& command,
                                   Encoding encoding) {
  const auto* op = find_operation(operation);
  if (!op) return unknown_operation(operation);
  const Message* message = op->source(command);
  if (!message) return make_error(Errc::invalid_argument, "command does not hold " + op->name);
  if (encoding == Encoding::protobuf) return message->SerializeAsString();
  return to_json(*message);
}

std::string encode_reply(const v1::Reply& reply, Encoding encoding) {
  return encoding == Encoding::protobuf ? reply.SerializeAsString() : to_json(reply);
}

Result<v1::Reply> decode_reply(std::string_view body, Encoding encoding) {
  v1::Reply reply;
  if (auto s = parse_into(reply, body, encoding); !s) return s.error();
  return reply;
}

std::string to_json(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
}

namespace {

// Length of the well-formed UTF-8 sequence at text[at], or 0 when none starts there.
size_t utf8_sequence(std::string_view text, size_t at) {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  unsigned char lead = byte(at);
  if (lead < 0x80) return 1;
  size_t length = lead >= 0xC2 && lead <= 0xDF   ? 2
                  : lead >= 0xE0 && lead <= 0xEF ? 3
                  : lead >= 0xF0 && lead <= 0xF4 ? 4
                                                 : 0;
  if (length == 0 || at + length > text.size()) return 0;
  // The second byte's range excludes overlongs, surrogates and > U+10FFFF.
  unsigned char low = lead == 0xE0 ? 0xA0 : lead == 0xF0 ? 0x90 : 0x80;
  unsigned char high = lead == 0xED ? 0x9F : lead == 0xF4 ? 0x8F : 0xBF;
  if (byte(at + 1) < low || byte(at + 1) > high) return 0;
  for (size_t i = 2; i < length; ++i)
    if ((byte(at + i) & 0xC0) != 0x80) return 0;
  return length;
}

}  // namespace

std::string valid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t at = 0; at < text.size();) {
    if (size_t n = utf8_sequence(text, at)) {
      out.append(text.substr(at, n));
      at += n;
    } else {
      char escaped[5];
      std::snprintf(escaped, sizeof escaped, "\\x%02X", static_cast<unsigned char>(text[at]));
      out += escaped;
      ++at;
    }
  }
  return out;
}

std::string json_quote(std::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c >= 0x20) {
          out += static_cast<char>(c);
        } else {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
          out += escaped;
        }
    }
  }
  return out + "\"";
}

}  // namespace coach::actors
