// Upcasting: reading events written by an earlier schema version as events
// of the current one (schema/events.proto, "Evolving this schema").
//
// The log is never rewritten: a value stays on disk as its writer sealed
// it, and each reader turns it into the current shape as it decodes it
// (decode_event and parse_event in codec.h call upcast). Everything past
// the reader (deciders, projections, exports) therefore sees one shape
// only, and an export shows every event in the current form.
//
// Versions and what upcasting does to them:
//   1 -> 2  TaskCreated: the flat task fields (1-7) move into
//           TaskCreated.fields; every other payload keeps its shape.
// An event of the current version is left as it is.
#pragma once

#include "base/result.h"
#include "schema/events.pb.h"

namespace coach::events {

// Turns `event` into the current schema version in place. An event newer
// than this build, or without a version, is `malformed_event` and is left
// as it was; so is a v1 TaskCreated that already holds v2 `fields`.
Status upcast(v1::TaskEvent& event);

// Whether the payload has the shape its schema_version says (a v2
// TaskCreated holds no v1 field, a v1 one no `fields`); malformed_event
// naming the event when not. Does not check the version's range.
Status check_shape(const v1::TaskEvent& event);

}  // namespace coach::events
