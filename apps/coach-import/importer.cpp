#include "importer.h"

#include <google/protobuf/util/time_util.h>

#include <fmt/core.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <map>
#include <sstream>

#include "apps/common/table.h"
#include "events/envelope.h"
#include "projections/user_decider.h"

namespace coach::apps {
namespace {

using google::protobuf::Timestamp;
using google::protobuf::util::TimeUtil;

Error row_error(const ImportRow& row, const std::string& why) {
  return make_error(Errc::invalid_argument, fmt::format("line {}: {}", row.line, why));
}

Result<Timestamp> time_of(const ImportRow& row, const std::string& text, const char* column) {
  Timestamp t;
  if (!TimeUtil::FromString(text, &t))
    return row_error(row, fmt::format("{} \"{}\" is not an RFC 3339 time like "
                                      "2026-03-01T12:00:00Z",
                                      column, text));
  return t;
}

Result<int32_t> int_of(const ImportRow& row, const std::string& text, const char* column) {
  int32_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size())
    return row_error(row, fmt::format("{} \"{}\" is not a whole number", column, text));
  return v;
}

std::vector<std::string> split_tags(const std::string& tags) {
  std::vector<std::string> out;
  std::stringstream in(tags);
  for (std::string tag; in >> tag;) out.push_back(tag);
  return out;
}

// The task command a row stands for; the deciders check the values.
Result<v1::TaskCommand> command_of(const ImportRow& r, const std::string& task_id) {
  v1::TaskCommand c;
  if (r.event == "created" || r.event == "edited") {
    // The optional fields both events carry, set through the message's own
    // setters (an edit changes only the fields present).
    auto optional_fields = [&](auto* x) -> Status {
      if (!r.due_at.empty()) {
        auto due = time_of(r, r.due_at, "due_at");
        if (!due) return due.error();
        *x->mutable_due_at() = *due;
      }
      if (!r.priority.empty()) {
        auto p = int_of(r, r.priority, "priority");
        if (!p) return p.error();
        x->set_priority(*p);
      }
      if (!r.estimated_minutes.empty()) {
        auto m = int_of(r, r.estimated_minutes, "estimated_minutes");
        if (!m) return m.error();
        x->set_estimated_minutes(*m);
      }
      if (!r.category.empty()) x->set_category(r.category);
      for (const auto& tag : split_tags(r.tags)) x->add_tags(tag);
      return Ok{};
    };
    Status filled = Ok{};
    if (r.event == "created") {
      auto* x = c.mutable_create();
      x->set_task_id(task_id);
      x->set_title(r.title);
      filled = optional_fields(x);
    } else {
      auto* x = c.mutable_edit();
      x->set_task_id(task_id);
      if (!r.title.empty()) x->set_title(r.title);
      filled = optional_fields(x);
      if (!r.tags.empty() || r.replace_tags) x->set_replace_tags(true);
      if (r.cleared.count("due_at")) x->set_clear_due_at(true);
      if (r.cleared.count("category")) x->set_category("");
      if (r.cleared.count("priority")) x->set_priority(0);
    }
    if (!filled) return filled.error();
  } else if (r.event == "snoozed") {
    if (r.until.empty()) return row_error(r, "a snoozed row needs the until column");
    auto until = time_of(r, r.until, "until");
    if (!until) return until.error();
    c.mutable_snooze()->set_task_id(task_id);
    *c.mutable_snooze()->mutable_until() = *until;
  } else if (r.event == "completed") {
    c.mutable_complete()->set_task_id(task_id);
  } else if (r.event == "deleted") {
    c.mutable_delete_()->set_task_id(task_id);
  } else if (r.event == "reopened") {
    c.mutable_reopen()->set_task_id(task_id);
  } else if (r.event == "restored") {
    c.mutable_restore()->set_task_id(task_id);
  } else if (r.event == "noted") {
    c.mutable_note()->set_task_id(task_id);
    c.mutable_note()->set_text(r.text);
  } else {
    return row_error(r, "event \"" + r.event +
                            "\" is not one of created, edited, snoozed, completed, deleted, "
                            "reopened, restored, noted");
  }
  return c;
}

std::string idempotency_key_of(const ImportRow& r) {
  std::string all = r.user_id + '\x1f' + r.task + '\x1f' + r.event + '\x1f' + r.timestamp + '\x1f' +
                    r.due_at + '\x1f' + r.category + '\x1f' + r.estimated_minutes + '\x1f' +
                    r.priority + '\x1f' + r.title + '\x1f' + r.until;
  // Later columns only when used, so that rows of older files keep their keys.
  if (!r.tags.empty() || r.replace_tags) all += "\x1ftags:" + r.tags;
  if (!r.text.empty()) all += "\x1ftext:" + r.text;
  for (const auto& field : r.cleared)
    all +=
        "\x1f"
        "cleared:" +
        field;
  return "import:" + Uuid::derived(all).to_string();
}

// The address a newly registered user gets: the first their rows give,
// else the options'; possibly none.
std::string first_email(const std::vector<const ImportRow*>& rows, const ImportOptions& options) {
  for (const auto* r : rows)
    if (!r->email.empty()) return r->email;
  return options.email;
}

// One user's rows, checked against their stored log, as events to append.
struct UserPlan {
  Uuid user;
  uint64_t version = 0;  // the stored stream's version the events follow
  std::vector<v1::TaskEvent> events;
};

struct Planner {
  events::EventStore& store;
  const ImportOptions& options;
  ImportReport& report;

  void bad(const Error& e) {
    report.errors.push_back(e.message);
    ++report.skipped_rows;
  }

  Result<UserPlan> plan(const Uuid& user, std::vector<const ImportRow*> rows) {
    UserPlan plan{user, 0, {}};
    projections::UserState state;
    auto stored = store.read(user);
    if (!stored && stored.error().code != Errc::unknown_stream) return stored.error();
    Timestamp last;
    if (stored) {
      for (const auto& e : *stored) state.fold(e);
      if (!stored->empty()) last = stored->back().created_at();
    }
    plan.version = state.version;
    if (options.tracking && state.profile.registered &&
        !state.profile.profile.preferences().behavioral_tracking_enabled())
      report.warnings.push_back(fmt::format(
          "user {} is registered already, with behavioral tracking off: --tracking applies only "
          "to users the import registers, so their history is kept but not learned from (coach "
          "learns only from events after tracking is turned on). To learn from it, erase the "
          "user (coachctl delete-me --confirm <id>, as them) and import again with --tracking; "
          "or let them turn tracking on (coachctl prefs --tracking on) to learn from now "
          "on.",
          user.to_string()));
    std::vector<std::pair<Timestamp, const ImportRow*>> timed;
    for (const auto* r : rows) {
      auto t = time_of(*r, r->timestamp, "timestamp");
      if (!t) {
        bad(t.error());
        continue;
      }
      timed.emplace_back(*t, r);
    }
    std::stable_sort(timed.begin(), timed.end(), [](const auto& a, const auto& b) {
      return TimeUtil::TimestampToNanoseconds(a.first) < TimeUtil::TimestampToNanoseconds(b.first);
    });
    // Rows run through the same decider as the user actor's commands.
    auto run = [&](v1::Command& command, const Timestamp& at, const std::string& key) {
      projections::DecideContext context{user, coach::from_timestamp(at)};
      auto ran = projections::run_command(state, command, context, key);
      if (ran)
        for (auto& e : ran->events) plan.events.push_back(std::move(e));
      return ran;
    };
    for (const auto& [at, row] : timed) {
      auto key = idempotency_key_of(*row);
      auto seen = store.find_idempotency_key(user, key);
      if (!seen) return seen.error();
      if (*seen) {
        ++report.duplicate_rows;
        continue;
      }
      if (TimeUtil::TimestampToNanoseconds(at) < TimeUtil::TimestampToNanoseconds(last)) {
        bad(row_error(*row, "timestamp " + row->timestamp + " is before the user's last event at " +
                                TimeUtil::ToString(last) + "; coach logs are append-only"));
        continue;
      }
      if (!state.profile.registered) {
        v1::Command registration;
        auto* r = registration.mutable_register_user();
        r->set_email(first_email(rows, options));
        r->set_timezone(options.time_zone);
        r->mutable_preferences()->set_behavioral_tracking_enabled(options.tracking);
        if (auto registered = run(registration, at, ""); !registered) return registered.error();
        ++report.registered_users;
      }
      auto command = command_of(*row, task_uuid(row->user_id, row->task));
      if (!command) {
        bad(command.error());
        continue;
      }
      v1::Command task;
      *task.mutable_task() = std::move(*command);
      auto decided = run(task, at, key);
      if (!decided) {
        bad(row_error(*row, fmt::format("{}: {} (task_id \"{}\")", errc_name(decided.error().code),
                                        decided.error().message, row->task)));
        continue;
      }
      last = at;
      ++report.imported_rows;
    }
    return plan;
  }
};

}  // namespace

std::string task_uuid(const std::string& user_id, const std::string& task) {
  if (auto id = Uuid::parse(task)) return id->to_string();
  return Uuid::derived(user_id + '\0' + task).to_string();
}

Result<ImportReport> import_rows(events::EventStore& store, std::vector<ImportRow> rows,
                                 const ImportOptions& options) {
  ImportReport report;
  report.rows = rows.size();
  std::vector<Uuid> order;
  std::map<Uuid, std::vector<const ImportRow*>> by_user;
  Planner planner{store, options, report};
  for (const auto& row : rows) {
    auto user = Uuid::parse(row.user_id, "user_id");
    if (!user) {
      planner.bad(row_error(row, user.error().message));
      continue;
    }
    if (row.task.empty() || row.task.size() > 128) {
      planner.bad(row_error(row, "task_id must be 1 to 128 characters"));
      continue;
    }
    auto& list = by_user[*user];
    if (list.empty()) order.push_back(*user);
    list.push_back(&row);
  }
  std::vector<UserPlan> plans;
  for (const auto& user : order) {
    auto plan = planner.plan(user, by_user[user]);
    if (!plan) return plan.error();
    if (!plan->events.empty()) plans.push_back(std::move(*plan));
  }
  // Messages in file order ("line N: ..."), whatever order users were planned in.
  std::stable_sort(report.errors.begin(), report.errors.end(),
                   [](const std::string& a, const std::string& b) {
                     return std::atol(a.c_str() + 5) < std::atol(b.c_str() + 5);
                   });
  report.users = plans.size();
  for (const auto& p : plans) report.events += p.events.size();
  if (options.dry_run || (options.reject && !report.errors.empty())) return report;

  const size_t chunk = store.options().max_batch_events;
  for (const auto& p : plans) {
    for (size_t from = 0; from < p.events.size(); from += chunk) {
      std::vector<v1::TaskEvent> part(
          p.events.begin() + static_cast<std::ptrdiff_t>(from),
          p.events.begin() + static_cast<std::ptrdiff_t>(std::min(p.events.size(), from + chunk)));
      auto appended = store.append(p.user, p.version + from, part);
      if (!appended)
        return make_error(appended.error().code,
                          "import stopped at user " + p.user.to_string() + ": " +
                              appended.error().message +
                              "; rerun the same command to finish (rows already imported are "
                              "recognized and skipped)");
    }
  }
  report.written = true;
  if (auto flushed = store.flush(); !flushed) return flushed.error();
  return report;
}

Result<std::vector<ImportRow>> read_coach_csv(const std::string& path) {
  auto file = read_csv(path);
  if (!file) return file.error();
  static const char* required[] = {"user_id", "task_id",  "event",    "timestamp",
                                   "due_at",  "category", "priority", "title"};
  for (const char* name : required)
    if (file->column(name) < 0)
      return make_error(Errc::invalid_argument,
                        path + ": the header lacks column " + name +
                            " (user_id,task_id,event,timestamp,due_at,category,"
                            "estimated_minutes,priority,title[,until][,tags][,text][,email])");
  auto get = [&](const CsvRow& row, const char* name) {
    int col = file->column(name);
    return col >= 0 && static_cast<size_t>(col) < row.cells.size()
               ? row.cells[static_cast<size_t>(col)]
               : std::string();
  };
  std::vector<ImportRow> rows;
  for (const auto& row : file->rows) {
    ImportRow r;
    r.line = row.line;
    r.user_id = get(row, "user_id");
    r.task = get(row, "task_id");
    r.event = get(row, "event");
    r.timestamp = get(row, "timestamp");
    r.due_at = get(row, "due_at");
    r.category = get(row, "category");
    r.estimated_minutes = get(row, "estimated_minutes");
    r.priority = get(row, "priority");
    r.title = get(row, "title");
    r.until = get(row, "until");
    r.tags = get(row, "tags");
    r.text = get(row, "text");
    r.email = get(row, "email");
    rows.push_back(std::move(r));
  }
  return rows;
}

}  // namespace coach::apps
