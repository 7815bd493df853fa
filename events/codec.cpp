#include "events/codec.h"

#include "events/keys.h"
#include "events/upcast.h"

namespace coach::events {
namespace {

constexpr char kFormatSealed = 0x02;

std::string sealed_value(const SecretKey& key, std::string_view plain, std::string_view context) {
  return std::string(1, kFormatSealed) + seal_bytes(key, plain, context);
}

// The plain bytes of a sealed value, or what is wrong with it.
Result<std::string> open_value(const SecretKey& key, std::string_view stored,
                               std::string_view context) {
  if (stored.empty()) return make_error(Errc::corrupted, "value is empty");
  if (stored[0] != kFormatSealed)
    return make_error(Errc::corrupted,
                      "unknown value format " + std::to_string(static_cast<uint8_t>(stored[0])));
  std::string plain;
  if (!open_bytes(key, stored.substr(1), context, plain))
    return make_error(Errc::corrupted,
                      "value does not open with the user's key (altered, "
                      "truncated or moved)");
  return plain;
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
    case P::kTaskNoteAdded:
      return v1::EVENT_TYPE_TASK_NOTE_ADDED;
    case P::kTaskMissed:
      return v1::EVENT_TYPE_TASK_MISSED;
    case P::kUserRegistered:
      return v1::EVENT_TYPE_USER_REGISTERED;
    case P::kPreferencesChanged:
      return v1::EVENT_TYPE_PREFERENCES_CHANGED;
    case P::kCalendarFeedChanged:
      return v1::EVENT_TYPE_CALENDAR_FEED_CHANGED;
    case P::kRecommendationAccepted:
      return v1::EVENT_TYPE_RECOMMENDATION_ACCEPTED;
    case P::kRecommendationRejected:
      return v1::EVENT_TYPE_RECOMMENDATION_REJECTED;
    case P::kNudgeDelivered:
      return v1::EVENT_TYPE_NUDGE_DELIVERED;
    case P::kNudgeRated:
      return v1::EVENT_TYPE_NUDGE_RATED;
    case P::kNudgeCreated:
      return v1::EVENT_TYPE_NUDGE_CREATED;
    case P::kNotificationFailed:
      return v1::EVENT_TYPE_NOTIFICATION_FAILED;
    case P::kNudgeDecided:
      return v1::EVENT_TYPE_NUDGE_DECIDED;
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
  if (auto s = check_shape(event); !s) return s;
  if (event.idempotency_key().size() > kMaxIdempotencyKeyBytes)
    return make_error(
        Errc::invalid_argument,
        "idempotency_key is longer than " + std::to_string(kMaxIdempotencyKeyBytes) + " bytes");
  return Ok{};
}

Result<std::string> encode_event(const v1::TaskEvent& event, size_t max_event_bytes,
                                 const SecretKey& data_key, const Uuid& user, uint64_t sequence) {
  return encode_event(event, max_event_bytes, data_key, keys::event_key(user, sequence));
}

Result<std::string> encode_event(const v1::TaskEvent& event, size_t max_event_bytes,
                                 const SecretKey& data_key, std::string_view event_key) {
  if (auto s = validate_event(event); !s) return s.error();
  size_t size = event.ByteSizeLong();
  if (size > max_event_bytes)
    return make_error(Errc::payload_too_large, "event " + event.event_id() + " is " +
                                                   std::to_string(size) + " bytes; the limit is " +
                                                   std::to_string(max_event_bytes));
  return sealed_value(data_key, event.SerializeAsString(), event_key);
}

Result<v1::TaskEvent> decode_event(std::string_view stored, const Uuid& user, uint64_t sequence,
                                   const SecretKey& data_key) {
  return decode_event(stored, user, user.to_string(), sequence, keys::event_key(user, sequence),
                      data_key);
}

Result<v1::TaskEvent> decode_event(std::string_view stored, const Uuid& user,
                                   std::string_view user_text, uint64_t sequence,
                                   std::string_view event_key, const SecretKey& data_key) {
  auto body = open_value(data_key, stored, event_key);
  if (!body) return corrupted_at(user, sequence, body.error().message);
  v1::TaskEvent event;
  if (!event.ParseFromString(*body)) return corrupted_at(user, sequence, "protobuf does not parse");
  if (event.sequence() != sequence || event.user_id() != user_text)
    return corrupted_at(
        user, sequence,
        "envelope says user " + event.user_id() + " sequence " + std::to_string(event.sequence()));
  if (auto s = upcast(event); !s) return corrupted_at(user, sequence, s.error().message);
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
  if (auto s = upcast(event); !s) return s.error();
  return event;
}

std::string encode_snapshot(const Snapshot& snapshot, const SecretKey& data_key, const Uuid& user,
                            std::string_view projection) {
  std::string body;
  keys::put_u64(body, snapshot.version);
  body.append(snapshot.state);
  return sealed_value(data_key, body, keys::snapshot_key(user, projection));
}

Result<Snapshot> decode_snapshot(std::string_view stored, const Uuid& user,
                                 std::string_view projection, const SecretKey& data_key) {
  auto body = open_value(data_key, stored, keys::snapshot_key(user, projection));
  if (!body || body->size() < 8)
    return make_error(
        Errc::corrupted,
        "snapshot '" + std::string(projection) + "' of user " + user.to_string() +
            " is corrupted: " + (body ? std::string("too short") : body.error().message));
  return Snapshot{keys::get_u64(body->data()), body->substr(8)};
}

}  // namespace coach::events
