// The wire format of coach's NATS API (docs/api.md): which subject carries
// which command, and how payloads are encoded. Pure functions: no NATS here.
//
// A request is sent to "coach.v1.<operation>", e.g. "coach.v1.task.create",
// with headers
//   Authorization          "Bearer <token>" (required; auth.h)
//   Coach-User             the target user's UUID (optional: the token's user)
//   Coach-Idempotency-Key  optional, at most 128 bytes
//   Content-Type           "application/json" (default) or "application/protobuf"
//   Coach-Deadline         optional: milliseconds since the Unix epoch (UTC)
//                          after which the caller no longer waits; coach does
//                          not start the command after it
// and a body holding the operation's message (CreateTask, ...). The reply is
// a Reply message in the request's encoding, with header Coach-Status "ok" or
// "error".
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "schema/commands.pb.h"
#include "wire/auth.h"
#include "wire/operations.h"

namespace coach::actors {

inline constexpr std::string_view kSubjectPrefix = "coach.v1.";
// The request headers of the API (docs/api.md), spelt once for the gateway
// and every client. NATS header names are case-sensitive.
inline constexpr const char* kAuthorizationHeader = "Authorization";        // "Bearer <token>"
inline constexpr const char* kUserHeader = "Coach-User";                    // the user acted on
inline constexpr const char* kIdempotencyHeader = "Coach-Idempotency-Key";  // at most 128 bytes
inline constexpr const char* kContentTypeHeader = "Content-Type";  // JSON (default) or protobuf
inline constexpr const char* kDeadlineHeader = "Coach-Deadline";  // epoch milliseconds
inline constexpr size_t kMaxRequestBytes = 64 * 1024;

enum class Encoding { json, protobuf };

// From a Content-Type header value; empty means JSON. invalid_argument for
// anything else.
Result<Encoding> encoding_from_content_type(std::string_view content_type);
std::string_view content_type_of(Encoding encoding);

// Every operation of the API, as "task.create", ... in documentation order
// (the names of operation_table()).
const std::vector<std::string>& api_operations();

// The command a request carries: `operation` is the subject without
// kSubjectPrefix. Errors name what is wrong: unknown operation, body too
// large, body that does not parse (with the parser's words), wrong types.
Result<v1::Command> decode_command(std::string_view operation, std::string_view body,
                                   Encoding encoding);
// The same for an operation already looked up (operations.h).
Result<v1::Command> decode_command(const Operation& operation, std::string_view body,
                                   Encoding encoding);
// Ids are canonical: every string field named "id" or "..._id" in
// `message` (and the messages inside it) that holds a UUID in either case
// is rewritten in lower case, so "F4F9BF6F-..." (Swift's uuidString) and
// "f4f9bf6f-..." name the same task. Other values are left for the
// deciders to judge. decode_command applies it to every request.
void canonicalize_ids(google::protobuf::Message& message);

// invalid_argument naming the subject and listing the known operations.
Error unknown_operation(std::string_view operation);

// What the caller must be allowed to do to run the operation; nullopt for
// an unknown operation.
std::optional<Access> access_of(std::string_view operation);

// The body of a command for an operation, for clients (coachctl, tests):
// the inverse of decode_command.
Result<std::string> encode_command(std::string_view operation, const v1::Command& command,
                                   Encoding encoding);

std::string encode_reply(const v1::Reply& reply, Encoding encoding);
Result<v1::Reply> decode_reply(std::string_view body, Encoding encoding);

// JSON text of any message (protobuf's JSON mapping, snake_case names).
std::string to_json(const google::protobuf::Message& message);

// A JSON string literal of `text`, quotes included (for JSON written by
// hand: log lines, tables).
std::string json_quote(std::string_view text);

// `text` as valid UTF-8 (RFC 3629): every byte that does not belong to a
// well-formed sequence (stray continuation bytes, overlong forms,
// surrogates, code points past U+10FFFF, cut sequences) becomes the four
// characters "\xNN". Error messages pass through it, since they may quote a
// client's bytes and a reply must always be valid JSON.
std::string valid_utf8(std::string_view text);

}  // namespace coach::actors
