#include "events/upcast.h"

#include <string>

#include "events/codec.h"

namespace coach::events {
namespace {

// The only reader of TaskCreated's v1 fields, which the schema marks
// deprecated so that the compiler flags any other.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
bool has_v1_fields(const v1::TaskCreated& c) {
  return !c.title().empty() || !c.description().empty() || c.has_due_at() ||
         !c.category().empty() || c.priority() != 0 || c.estimated_minutes() != 0 ||
         c.tags_size() > 0;
}

void task_created_v1_to_v2(v1::TaskEvent& event) {
  auto& created = *event.mutable_task_created();
  auto& fields = *created.mutable_fields();
  fields.set_allocated_title(created.release_title());
  fields.set_allocated_description(created.release_description());
  if (created.has_due_at()) fields.set_allocated_due_at(created.release_due_at());
  fields.set_allocated_category(created.release_category());
  fields.set_priority(created.priority());
  fields.set_estimated_minutes(created.estimated_minutes());
  fields.mutable_tags()->Swap(created.mutable_tags());
  created.clear_priority();
  created.clear_estimated_minutes();
}
#pragma GCC diagnostic pop

Status malformed(const v1::TaskEvent& event, const char* what) {
  return make_error(Errc::malformed_event, "event " + event.event_id() + " (schema_version " +
                                               std::to_string(event.schema_version()) +
                                               "): " + what);
}

}  // namespace

Status check_shape(const v1::TaskEvent& event) {
  if (!event.has_task_created()) return Ok{};
  const auto& created = event.task_created();
  if (event.schema_version() == 1 && created.has_fields())
    return malformed(event, "a v1 task_created holds its fields flat, not in `fields`");
  if (event.schema_version() >= 2 && has_v1_fields(created))
    return malformed(event, "task_created fields 1-7 are v1 only; put them in `fields`");
  return Ok{};
}

Status upcast(v1::TaskEvent& event) {
  uint32_t version = event.schema_version();
  if (version < 1 || version > kCurrentSchemaVersion)
    return make_error(Errc::malformed_event, "event " + event.event_id() +
                                                 ": schema_version must be 1.." +
                                                 std::to_string(kCurrentSchemaVersion) + ", got " +
                                                 std::to_string(version));
  if (auto s = check_shape(event); !s) return s;
  if (version == 1 && event.has_task_created()) task_created_v1_to_v2(event);
  event.set_schema_version(kCurrentSchemaVersion);
  return Ok{};
}

}  // namespace coach::events
