#include "wire/api_codec.h"

#include <google/protobuf/util/json_util.h>

#include <cstdio>
#include <functional>
#include <vector>

namespace coach::actors {
namespace {

using google::protobuf::Message;

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

Error unknown_operation(std::string_view name) {
  std::string known;
  for (const auto& o : operation_table()) known += (known.empty() ? "" : ", ") + o.name;
  return make_error(Errc::invalid_argument, "unknown subject " + std::string(kSubjectPrefix) +
                                                std::string(name.substr(0, 80)) +
                                                "; known operations: " + known);
}

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
    for (const auto& o : operation_table()) n.push_back(o.name);
    return n;
  }();
  return names;
}

Result<v1::Command> decode_command(std::string_view operation, std::string_view body,
                                   Encoding encoding) {
  const auto* op = find_operation(operation);
  if (!op) return unknown_operation(operation);
  return decode_command(*op, body, encoding);
}

Result<v1::Command> decode_command(const Operation& operation, std::string_view body,
                                   Encoding encoding) {
  const auto* op = &operation;
  if (body.size() > kMaxRequestBytes)
    return make_error(Errc::payload_too_large, "body is " + std::to_string(body.size()) +
                                                   " bytes; the limit is " +
                                                   std::to_string(kMaxRequestBytes));
  v1::Command command;
  auto& message = op->message_in(command);
  if (auto s = parse_into(message, body, encoding); !s) return s.error();
  canonicalize_ids(message);
  return command;
}

void canonicalize_ids(Message& message) {
  using google::protobuf::FieldDescriptor;
  const auto* reflection = message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);  // only the fields that are set
  for (const auto* field : fields) {
    if (field->type() == FieldDescriptor::TYPE_MESSAGE) {
      if (field->is_map()) continue;
      if (field->is_repeated()) {
        for (int i = 0; i < reflection->FieldSize(message, field); ++i)
          canonicalize_ids(*reflection->MutableRepeatedMessage(&message, field, i));
      } else {
        canonicalize_ids(*reflection->MutableMessage(&message, field));
      }
      continue;
    }
    const auto& name = field->name();
    bool id_field = name == "id" || (name.size() > 3 && name.ends_with("_id"));
    if (field->type() != FieldDescriptor::TYPE_STRING || field->is_repeated() || !id_field)
      continue;
    auto text = reflection->GetString(message, field);
    if (auto id = Uuid::parse(text); id && id->to_string() != text)
      reflection->SetString(&message, field, id->to_string());
  }
}

std::optional<Access> access_of(std::string_view operation) {
  const auto* op = find_operation(operation);
  if (!op) return std::nullopt;
  return op->access;
}

Result<std::string> encode_command(std::string_view operation, const v1::Command& command,
                                   Encoding encoding) {
  const auto* op = find_operation(operation);
  if (!op) return unknown_operation(operation);
  const Message* message = op->message_of(command);
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
