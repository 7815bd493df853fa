// Taskwarrior's data as import rows: `task export` (a JSON array of tasks,
// the state now) and, optionally, undo.data (every change with its time).
//
// A task's history comes from undo.data when the file holds it: each
// transaction ("time T", "old [...]", "new [...]", "---") is the change
// from old to new at T, as rows at T: an edit of the fields that changed
// (description -> title, project -> category, priority H/M/L -> 3/2/1, due,
// tags), a note for each new annotation, a snooze when `wait` moved into
// the future, a snooze until `scheduled` likewise, the status change
// (completed, deleted, reopened, restored). Without it, from the export:
// created at `entry` with the fields as they are now, a note per
// annotation at its own time, snoozed until `wait` or `scheduled` when
// that is after the change, completed or deleted at `end`. `start` (an
// active task) becomes a note "Started" at its time, as coach has no
// active state. Recurring templates are skipped with a note: their
// instances are tasks of their own.
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <fmt/core.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "importer.h"

namespace coach::apps {
namespace {

using google::protobuf::Struct;
using google::protobuf::util::TimeUtil;

// A Taskwarrior task as attribute -> value, the way its files hold it:
// times in either "20260105T093000Z" or Unix seconds, tags as "a,b",
// annotations as annotation_<unix seconds> -> text.
using Record = std::map<std::string, std::string>;

std::string value_of(const Record& r, const std::string& name) {
  auto it = r.find(name);
  return it == r.end() ? std::string() : it->second;
}

// Taskwarrior's times as RFC 3339: "20240115T093000Z" and Unix seconds
// ("1705311000"); anything else unchanged, so that the importer names it.
std::string rfc3339(const std::string& t) {
  if (!t.empty() && t.size() <= 12 && std::all_of(t.begin(), t.end(), ::isdigit))
    return TimeUtil::ToString(TimeUtil::SecondsToTimestamp(std::stoll(t)));
  if (t.size() != 16 || t[8] != 'T' || t[15] != 'Z') return t;
  return t.substr(0, 4) + "-" + t.substr(4, 2) + "-" + t.substr(6, 2) + "T" + t.substr(9, 2) + ":" +
         t.substr(11, 2) + ":" + t.substr(13, 2) + "Z";
}

int64_t seconds_of(const std::string& t) {
  google::protobuf::Timestamp ts;
  return TimeUtil::FromString(rfc3339(t), &ts) ? ts.seconds() : 0;
}

std::string priority_of(const std::string& p) {
  return p == "H" ? "3" : p == "M" ? "2" : p == "L" ? "1" : "";
}

// "a,b" -> "a b": the importer's tag list.
std::string tags_of(const Record& r) {
  std::string tags = value_of(r, "tags");
  std::replace(tags.begin(), tags.end(), ',', ' ');
  return tags;
}

std::map<std::string, std::string> annotations_of(const Record& r) {
  std::map<std::string, std::string> out;  // by time, oldest first
  for (const auto& [key, value] : r)
    if (key.rfind("annotation_", 0) == 0) out[key.substr(11)] = value;
  return out;
}

bool closed(const std::string& status) {
  return status == "completed" || status == "deleted";
}

// --- reading the files

Record record_of_json(const Struct& task) {
  Record r;
  for (const auto& [key, value] : task.fields()) {
    if (value.has_string_value()) {
      r[key] = value.string_value();
    } else if (key == "tags" && value.has_list_value()) {
      std::string tags;
      for (const auto& t : value.list_value().values())
        tags += (tags.empty() ? "" : ",") + t.string_value();
      r[key] = tags;
    } else if (key == "annotations" && value.has_list_value()) {
      for (const auto& a : value.list_value().values()) {
        if (!a.has_struct_value()) continue;
        const auto& fields = a.struct_value().fields();
        auto entry = fields.find("entry"), text = fields.find("description");
        if (entry != fields.end() && text != fields.end())
          r["annotation_" + std::to_string(seconds_of(entry->second.string_value()))] =
              text->second.string_value();
      }
    }
  }
  return r;
}

// FF4, the format of Taskwarrior 2's data files: [name:"value" ...], with
// '[' and ']' in values as &open; and &close;, '"' as \" (or &dquot; in
// older files) and JSON escapes.
Result<Record> parse_ff4(std::string_view text) {
  if (text.size() < 2 || text.front() != '[' || text.back() != ']')
    return make_error(Errc::invalid_argument, "a task must be written [name:\"value\" ...]");
  Record r;
  size_t i = 1;
  while (i + 1 < text.size()) {
    while (i < text.size() && text[i] == ' ') ++i;
    if (i + 1 >= text.size()) break;
    auto colon = text.find(":\"", i);
    if (colon == std::string_view::npos)
      return make_error(Errc::invalid_argument, "an attribute lacks its :\"value\"");
    std::string name(text.substr(i, colon - i));
    std::string value;
    size_t j = colon + 2;
    for (; j < text.size() && text[j] != '"'; ++j) {
      if (text[j] != '\\' || j + 1 >= text.size()) {
        value += text[j];
        continue;
      }
      char e = text[++j];
      value += e == 'n' ? '\n' : e == 't' ? '\t' : e;  // \" \\ \/ and the rest as written
    }
    if (j >= text.size())
      return make_error(Errc::invalid_argument, "the value of " + name + " is not closed");
    for (auto [from, to] :
         {std::pair<std::string, std::string>{"&open;", "["}, {"&close;", "]"}, {"&dquot;", "\""}})
      for (size_t at; (at = value.find(from)) != std::string::npos;)
        value.replace(at, from.size(), to);
    r[name] = value;
    i = j + 1;
  }
  // Older files also list tags as tag_<name> attributes.
  std::set<std::string> tags;
  std::stringstream listed(value_of(r, "tags"));
  for (std::string t; std::getline(listed, t, ',');)
    if (!t.empty()) tags.insert(t);
  for (auto it = r.begin(); it != r.end();) {
    if (it->first.rfind("tags_", 0) == 0 || it->first.rfind("tag_", 0) == 0) {
      tags.insert(it->first.substr(it->first.find('_') + 1));
      it = r.erase(it);
    } else {
      ++it;
    }
  }
  std::string joined;
  for (const auto& t : tags) joined += (joined.empty() ? "" : ",") + t;
  if (!joined.empty()) r["tags"] = joined;
  return r;
}

struct Change {
  size_t line = 0;
  std::string time;  // RFC 3339
  std::optional<Record> before;
  Record after;
};

// undo.data, as each task's changes in order.
Result<std::map<std::string, std::vector<Change>>> read_undo(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(Errc::not_found, "cannot read " + path);
  std::map<std::string, std::vector<Change>> by_task;
  Change change;
  bool has_time = false;
  size_t line_number = 0;
  auto bad = [&](const std::string& why) {
    return make_error(Errc::invalid_argument,
                      fmt::format("{}: line {}: {}", path, line_number, why));
  };
  for (std::string line; std::getline(in, line);) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    if (line == "---") {
      if (!has_time || change.after.empty()) return bad("a transaction ends without its new task");
      by_task[value_of(change.after, "uuid")].push_back(std::move(change));
      change = Change{};
      has_time = false;
    } else if (line.rfind("time ", 0) == 0) {
      change.time = rfc3339(line.substr(5));
      change.line = line_number;
      if (seconds_of(change.time) == 0) return bad("\"" + line + "\" is not a time");
      has_time = true;
    } else if (line.rfind("old ", 0) == 0 || line.rfind("new ", 0) == 0) {
      auto record = parse_ff4(line.substr(4));
      if (!record) return bad(record.error().message);
      if (value_of(*record, "uuid").empty()) return bad("a task without a uuid");
      if (line[0] == 'o')
        change.before = std::move(*record);
      else
        change.after = std::move(*record);
    } else {
      return bad("expected time, old, new or ---, got \"" + line.substr(0, 40) + "\"");
    }
  }
  if (has_time) return bad("the last transaction has no closing ---");
  return by_task;
}

// --- rows

struct RowMaker {
  std::string user_id, uuid;
  size_t line = 0;
  std::vector<ImportRow>& rows;

  ImportRow& add(const std::string& event, const std::string& time) {
    ImportRow r;
    r.line = line;
    r.user_id = user_id;
    r.task = uuid;
    r.event = event;
    r.timestamp = time;
    rows.push_back(std::move(r));
    return rows.back();
  }

  void created(const Record& task, const std::string& time) {
    auto& r = add("created", time);
    r.title = value_of(task, "description");
    r.category = value_of(task, "project");
    r.due_at = rfc3339(value_of(task, "due"));
    r.priority = priority_of(value_of(task, "priority"));
    r.tags = tags_of(task);
  }

  // What changed from `before` to `after` at `time`, as rows.
  void changed(const Record& before, const Record& after, const std::string& time) {
    auto differs = [&](const char* name) {
      return value_of(before, name) != value_of(after, name);
    };
    if (differs("description") || differs("project") || differs("priority") || differs("due") ||
        tags_of(before) != tags_of(after)) {
      auto& r = add("edited", time);
      if (differs("description")) r.title = value_of(after, "description");
      if (differs("project")) {
        r.category = value_of(after, "project");
        if (r.category.empty()) r.cleared.insert("category");
      }
      if (differs("priority")) {
        r.priority = priority_of(value_of(after, "priority"));
        if (r.priority.empty()) r.cleared.insert("priority");
      }
      if (differs("due")) {
        r.due_at = rfc3339(value_of(after, "due"));
        if (r.due_at.empty()) r.cleared.insert("due_at");
      }
      if (tags_of(before) != tags_of(after)) {
        r.tags = tags_of(after);
        r.replace_tags = true;
      }
    }
    notes(before, after, time);
    put_off(before, after, time);
    auto from = value_of(before, "status"), to = value_of(after, "status");
    if (from == to) return;
    if (to == "completed" || to == "deleted") add(to, time);
    if (from == "completed" && !closed(to)) add("reopened", time);
    if (from == "deleted" && !closed(to)) add("restored", time);
  }

  // New annotations, and a start, as notes at the change's time.
  void notes(const Record& before, const Record& after, const std::string& time) {
    auto had = annotations_of(before);
    for (const auto& [at, text] : annotations_of(after))
      if (!had.count(at)) add("noted", time).text = text;
    if (!value_of(after, "start").empty() && value_of(before, "start").empty())
      add("noted", time).text = "Started";
  }

  // `wait` or `scheduled` set after the change's time: put off until then.
  void put_off(const Record& before, const Record& after, const std::string& time) {
    if (closed(value_of(after, "status"))) return;
    std::string until;
    for (const char* name : {"wait", "scheduled"})
      if (value_of(after, name) != value_of(before, name) &&
          seconds_of(value_of(after, name)) > seconds_of(time))
        until = std::max(until, rfc3339(value_of(after, name)));
    if (!until.empty()) add("snoozed", time).until = until;
  }

  // From the export alone: the state now, spread over the times it names.
  void from_export(const Record& task) {
    std::string entry = rfc3339(value_of(task, "entry"));
    Record start = task;
    start.erase("status");
    for (auto it = start.begin(); it != start.end();)
      it = it->first.rfind("annotation_", 0) == 0 || it->first == "start" ? start.erase(it)
                                                                          : std::next(it);
    created(start, entry);
    for (const auto& [at, text] : annotations_of(task)) {
      std::string when = rfc3339(at);
      add("noted", seconds_of(when) < seconds_of(entry) ? entry : when).text = text;
    }
    if (!value_of(task, "start").empty())
      add("noted", rfc3339(value_of(task, "start"))).text = "Started";
    std::string status = value_of(task, "status");
    if (closed(status)) {
      std::string end = value_of(task, "end");
      add(status, rfc3339(end.empty() ? value_of(task, "modified") : end));
    } else {
      std::string modified = rfc3339(value_of(task, "modified"));
      Record none;
      put_off(none, task, seconds_of(modified) > seconds_of(entry) ? modified : entry);
    }
  }

  void from_history(const std::vector<Change>& changes) {
    const auto& first = changes.front();
    if (first.before) {  // the log begins after the task was made
      created(*first.before, rfc3339(value_of(*first.before, "entry")));
      Record empty;
      notes(empty, *first.before, rfc3339(value_of(*first.before, "entry")));
      put_off(empty, *first.before, rfc3339(value_of(*first.before, "entry")));
    }
    std::optional<Record> now = first.before;
    for (const auto& c : changes) {
      line = c.line;
      if (!now) {
        created(c.after, c.time);
        Record empty;
        notes(empty, c.after, c.time);
        put_off(empty, c.after, c.time);
        if (closed(value_of(c.after, "status"))) add(value_of(c.after, "status"), c.time);
      } else {
        changed(*now, c.after, c.time);
      }
      now = c.after;
    }
  }
};

size_t line_of(const std::string& text, const std::string& needle) {
  auto at = needle.empty() ? std::string::npos : text.find(needle);
  if (at == std::string::npos) return 0;
  return 1 +
         static_cast<size_t>(std::count(text.begin(), text.begin() + static_cast<long>(at), '\n'));
}

}  // namespace

Result<std::vector<ImportRow>> read_taskwarrior(const std::string& path, const std::string& user_id,
                                                std::vector<std::string>& notes,
                                                const std::string& undo_path) {
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
  std::map<std::string, std::vector<Change>> history;
  if (!undo_path.empty()) {
    auto read = read_undo(undo_path);
    if (!read) return read.error();
    history = std::move(*read);
  }
  std::vector<ImportRow> rows;
  std::set<std::string> exported;
  for (int i = 0; i < tasks.values_size(); ++i) {
    const auto& value = tasks.values(i);
    Record task = value.has_struct_value() ? record_of_json(value.struct_value()) : Record{};
    std::string uuid = value_of(task, "uuid");
    size_t line = line_of(text, uuid);
    RowMaker make{user_id, uuid, line, rows};
    if (uuid.empty()) {
      make.add("created", "");  // refused by the importer: task_id must be 1 to 128 characters
      notes.push_back(fmt::format("task #{} of the array has no uuid", i + 1));
      continue;
    }
    exported.insert(uuid);
    if (value_of(task, "status") == "recurring") {
      notes.push_back(fmt::format(
          "line {}: recurring template {} skipped (its instances are imported)", line, uuid));
      continue;
    }
    if (auto it = history.find(uuid); it != history.end())
      make.from_history(it->second);
    else
      make.from_export(task);
  }
  // Tasks the log knows that the export no longer lists (purged).
  for (const auto& [uuid, changes] : history)
    if (!exported.count(uuid) && value_of(changes.back().after, "status") != "recurring") {
      RowMaker make{user_id, uuid, changes.front().line, rows};
      make.from_history(changes);
    }
  return rows;
}

}  // namespace coach::apps
