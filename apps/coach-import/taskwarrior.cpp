// Taskwarrior's `task export` (a JSON array of tasks) as import rows.
//
// Each task becomes: created at `entry` (description -> title, project ->
// category, priority H/M/L -> 3/2/1, due); a waiting task is then snoozed
// until `wait`; a completed one completed at `end`; a deleted one deleted at
// `end` (or `modified`). Recurring templates are skipped with a note: their
// instances are exported as tasks of their own.
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <fmt/core.h>

#include <fstream>
#include <sstream>

#include "importer.h"

namespace coach::apps {
namespace {

using google::protobuf::Struct;

std::string field(const Struct& task, const char* name) {
  auto it = task.fields().find(name);
  return it == task.fields().end() ? std::string() : it->second.string_value();
}

// "20240115T093000Z" -> "2024-01-15T09:30:00Z"; anything else unchanged, so
// that the importer reports it.
std::string rfc3339(const std::string& t) {
  if (t.size() != 16 || t[8] != 'T' || t[15] != 'Z') return t;
  return t.substr(0, 4) + "-" + t.substr(4, 2) + "-" + t.substr(6, 2) + "T" + t.substr(9, 2) + ":" +
         t.substr(11, 2) + ":" + t.substr(13, 2) + "Z";
}

size_t line_of(const std::string& text, const std::string& needle) {
  auto at = needle.empty() ? std::string::npos : text.find(needle);
  if (at == std::string::npos) return 0;
  return 1 +
         static_cast<size_t>(std::count(text.begin(), text.begin() + static_cast<long>(at), '\n'));
}

}  // namespace

Result<std::vector<ImportRow>> read_taskwarrior(const std::string& path, const std::string& user_id,
                                                std::vector<std::string>& notes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(Errc::not_found, "cannot read " + path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  google::protobuf::ListValue tasks;
  auto parsed = google::protobuf::util::JsonStringToMessage(text, &tasks);
  if (!parsed.ok())
    return make_error(Errc::invalid_argument,
                      path + " is not a Taskwarrior export (a JSON array of tasks): " +
                          std::string(parsed.message()));
  std::vector<ImportRow> rows;
  for (int i = 0; i < tasks.values_size(); ++i) {
    const auto& value = tasks.values(i);
    std::string uuid = value.has_struct_value() ? field(value.struct_value(), "uuid") : "";
    size_t line = line_of(text, uuid);
    if (!value.has_struct_value() || uuid.empty()) {
      ImportRow bad;
      bad.line = line;
      bad.user_id = user_id;
      bad.task = "";  // refused by the importer: task_id must be 1 to 128 characters
      bad.event = "created";
      rows.push_back(bad);
      notes.push_back(fmt::format("task #{} of the array has no uuid", i + 1));
      continue;
    }
    const auto& task = value.struct_value();
    std::string status = field(task, "status");
    if (status == "recurring") {
      notes.push_back(
          fmt::format("line {}: recurring template {} skipped (its instances are "
                      "imported)",
                      line, uuid));
      continue;
    }
    ImportRow created;
    created.line = line;
    created.user_id = user_id;
    created.task = uuid;
    created.event = "created";
    created.timestamp = rfc3339(field(task, "entry"));
    created.title = field(task, "description");
    created.category = field(task, "project");
    created.due_at = rfc3339(field(task, "due"));
    std::string priority = field(task, "priority");
    created.priority = priority == "H" ? "3" : priority == "M" ? "2" : priority == "L" ? "1" : "";
    rows.push_back(created);
    ImportRow next = created;
    next.due_at = next.category = next.priority = next.title = "";
    if (status == "waiting" && !field(task, "wait").empty()) {
      next.event = "snoozed";
      next.until = rfc3339(field(task, "wait"));
      rows.push_back(next);
    } else if (status == "completed" || status == "deleted") {
      next.event = status;
      std::string end = field(task, "end");
      next.timestamp = rfc3339(end.empty() ? field(task, "modified") : end);
      rows.push_back(next);
    }
  }
  return rows;
}

}  // namespace coach::apps
