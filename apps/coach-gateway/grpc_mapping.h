// How coach's API looks through gRPC and its JSON mapping (docs/api.md,
// "gRPC"): method names and status codes. Pure functions over the operation table: no gRPC here,
// so the mapping is tested without a server.
#pragma once

#include <string>
#include <string_view>

namespace coach::apps {

inline constexpr std::string_view kGrpcService = "coach.v1.CoachService";

// The method of operation `operation` (wire/operations.h): its name in
// CamelCase, "task.create" -> "TaskCreate", "admin.batch.run" ->
// "AdminBatchRun". schema/coach_service.proto declares one per operation.
std::string grpc_method_name(std::string_view operation);

// The gRPC status code (the number of grpc::StatusCode) for coach's error
// code `code` (base/result.h, errc_name):
//   invalid_argument, empty_batch, malformed_event, payload_too_large -> INVALID_ARGUMENT (3)
//   not_found, unknown_stream                      -> NOT_FOUND (5)
//   conflict, wrong_expected_version, sequence_gap -> ABORTED (10)
//   user_mismatch                                  -> FAILED_PRECONDITION (9)
//   busy                                           -> RESOURCE_EXHAUSTED (8)
// and the gateway's own, for live feeds (notification_watch.h):
//   resource_exhausted (a client that reads too slowly) -> RESOURCE_EXHAUSTED (8)
//   timeout (coach did not answer in time)         -> DEADLINE_EXCEEDED (4)
//   cancelled (the client left)                    -> CANCELLED (1)
//   unauthenticated                                -> UNAUTHENTICATED (16)
//   permission_denied                              -> PERMISSION_DENIED (7)
//   unavailable, io_error                          -> UNAVAILABLE (14)
//   corrupted                                      -> DATA_LOSS (15)
//   internal and any other                         -> INTERNAL (13)
int grpc_code_for(std::string_view code);

// The HTTP status of the JSON mapping for coach's error code `code`, by its
// gRPC code as Connect maps them: INVALID_ARGUMENT and FAILED_PRECONDITION
// 400, UNAUTHENTICATED 401, PERMISSION_DENIED 403, NOT_FOUND 404, ABORTED
// 409, RESOURCE_EXHAUSTED 429, UNAVAILABLE 503, DEADLINE_EXCEEDED 504,
// CANCELLED 499, DATA_LOSS and INTERNAL 500.
int http_status_for(std::string_view code);

}  // namespace coach::apps
