#include "events/codec.h"

#include <zlib.h>

#include "events/keys.h"

namespace coach::events {
namespace {

constexpr char kFormatV1 = 0x01;
constexpr size_t kHeaderBytes = 5;

uint32_t checksum(std::string_view body) {
  return static_cast<uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size())));
}

void put_crc(char* at, uint32_t crc) {
  for (int i = 0; i < 4; ++i) at[i] = static_cast<char>((crc >> (24 - 8 * i)) & 0xff);
}

std::string frame(std::string_view body) {
  std::string out(kHeaderBytes, kFormatV1);
  put_crc(out.data() + 1, checksum(body));
  out.append(body);
  return out;
}

// The body of a framed value, or an error message saying what is wrong.
Result<std::string_view> unframe(std::string_view stored) {
  if (stored.size() < kHeaderBytes)
    return make_error(Errc::corrupted,
                      "value truncated to " + std::to_string(stored.size()) + " bytes");
  if (stored[0] != kFormatV1)
    return make_error(Errc::corrupted,
                      "unknown value format " + std::to_string(static_cast<uint8_t>(stored[0])));
  uint32_t want = 0;
  for (size_t i = 1; i < kHeaderBytes; ++i) want = (want << 8) | static_cast<uint8_t>(stored[i]);
  auto body = stored.substr(kHeaderBytes);
  if (checksum(body) != want) return make_error(Errc::corrupted, "checksum mismatch");
  return body;
}

Error corrupted_at(const Uuid& user, uint64_t sequence, const std::string& why) {
  return make_error(Errc::corrupted, "stored event of user " + user.to_string() + " at sequence " +
                                         std::to_string(sequence) + " is corrupted: " + why);
}

Status check_uuid(const std::string& text, std::string_view what) {
  auto id = Uuid::parse(text, what);
  if (!id) return make_error(Errc::malformed_event, id.error().message);
  return Ok{};
}

}  // namespace

v1::EventType event_type_of(v1::TaskEvent::PayloadCase payload) {
  using P = v1::TaskEvent;
  switch (payload) {
    case P::kTaskCreated:
      return v1::EVENT_TYPE_TASK_CREATED;
    case P::kTaskModified:
      return v1::EVENT_TYPE_TASK_MODIFIED;
    case P::kTaskSnoozed:
      return v1::EVENT_TYPE_TASK_SNOOZED;
    case P::kTaskCompleted:
      return v1::EVENT_TYPE_TASK_COMPLETED;
    case P::kTaskDeleted:
      return v1::EVENT_TYPE_TASK_DELETED;
    case P::kTaskReopened:
      return v1::EVENT_TYPE_TASK_REOPENED;
    case P::kTaskRestored:
      return v1::EVENT_TYPE_TASK_RESTORED;
    case P::kUserRegistered:
      return v1::EVENT_TYPE_USER_REGISTERED;
    case P::kPreferencesChanged:
      return v1::EVENT_TYPE_PREFERENCES_CHANGED;
    case P::kRecommendationAccepted:
      return v1::EVENT_TYPE_RECOMMENDATION_ACCEPTED;
    case P::kRecommendationRejected:
      return v1::EVENT_TYPE_RECOMMENDATION_REJECTED;
    case P::kNudgeDelivered:
      return v1::EVENT_TYPE_NUDGE_DELIVERED;
    case P::kNudgeRated:
      return v1::EVENT_TYPE_NUDGE_RATED;
    case P::PAYLOAD_NOT_SET:
      break;
  }
  return v1::EVENT_TYPE_UNSPECIFIED;
}

Status validate_event(const v1::TaskEvent& event) {
  if (auto s = check_uuid(event.event_id(), "event_id"); !s) return s;
  if (auto s = check_uuid(event.user_id(), "user_id"); !s) return s;
  auto payload_type = event_type_of(event.payload_case());
  if (payload_type == v1::EVENT_TYPE_UNSPECIFIED)
    return make_error(Errc::malformed_event, "event " + event.event_id() + " has no payload");
  if (event.event_type() != payload_type)
    return make_error(Errc::malformed_event, "event " + event.event_id() + ": event_type " +
                                                 v1::EventType_Name(event.event_type()) +
                                                 " does not match payload " +
                                                 v1::EventType_Name(payload_type));
  bool task_event = payload_type < v1::EVENT_TYPE_USER_REGISTERED;
  if (task_event || !event.task_id().empty())
    if (auto s = check_uuid(event.task_id(), "task_id"); !s) return s;
  if (!event.has_created_at() || event.created_at().seconds() <= 0)
    return make_error(Errc::malformed_event, "event " + event.event_id() + " has no created_at");
  if (event.schema_version() < 1 || event.schema_version() > kCurrentSchemaVersion)
    return make_error(Errc::malformed_event, "event " + event.event_id() +
                                                 ": schema_version must be 1.." +
                                                 std::to_string(kCurrentSchemaVersion) + ", got " +
                                                 std::to_string(event.schema_version()));
  if (event.idempotency_key().size() > kMaxIdempotencyKeyBytes)
    return make_error(
        Errc::invalid_argument,
        "idempotency_key is longer than " + std::to_string(kMaxIdempotencyKeyBytes) + " bytes");
  return Ok{};
}

Result<std::string> encode_event(const v1::TaskEvent& event, size_t max_event_bytes) {
  if (auto s = validate_event(event); !s) return s.error();
  size_t size = event.ByteSizeLong();
  if (size > max_event_bytes)
    return make_error(Errc::payload_too_large, "event " + event.event_id() + " is " +
                                                   std::to_string(size) + " bytes; the limit is " +
                                                   std::to_string(max_event_bytes));
  // Serialize straight behind the header: no second copy of the body.
  std::string out(kHeaderBytes + size, kFormatV1);
  auto* body = reinterpret_cast<uint8_t*>(out.data() + kHeaderBytes);
  event.SerializeWithCachedSizesToArray(body);
  put_crc(out.data() + 1, checksum({out.data() + kHeaderBytes, size}));
  return out;
}

Result<v1::TaskEvent> decode_event(std::string_view stored, const Uuid& user, uint64_t sequence) {
  auto body = unframe(stored);
  if (!body) return corrupted_at(user, sequence, body.error().message);
  v1::TaskEvent event;
  if (!event.ParseFromArray(body->data(), static_cast<int>(body->size())))
    return corrupted_at(user, sequence, "protobuf does not parse");
  if (event.sequence() != sequence || event.user_id() != user.to_string())
    return corrupted_at(
        user, sequence,
        "envelope says user " + event.user_id() + " sequence " + std::to_string(event.sequence()));
  return event;
}

Result<v1::TaskEvent> parse_event(std::string_view bytes, size_t max_event_bytes) {
  if (bytes.size() > max_event_bytes)
    return make_error(Errc::payload_too_large, "event is " + std::to_string(bytes.size()) +
                                                   " bytes; the limit is " +
                                                   std::to_string(max_event_bytes));
  v1::TaskEvent event;
  if (!event.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return make_error(Errc::malformed_event, "event bytes are not a valid TaskEvent protobuf");
  if (auto s = validate_event(event); !s) return s.error();
  return event;
}

std::string encode_snapshot(const Snapshot& snapshot) {
  std::string body;
  keys::put_u64(body, snapshot.version);
  body.append(snapshot.state);
  return frame(body);
}

Result<Snapshot> decode_snapshot(std::string_view stored, const Uuid& user,
                                 std::string_view projection) {
  auto body = unframe(stored);
  if (!body || body->size() < 8)
    return make_error(
        Errc::corrupted,
        "snapshot '" + std::string(projection) + "' of user " + user.to_string() +
            " is corrupted: " + (body ? std::string("too short") : body.error().message));
  return Snapshot{keys::get_u64(body->data()), std::string(body->substr(8))};
}

}  // namespace coach::events
