// Importing task history into a data dir through the event store API
// (issue #5): rows of task events, from coach's CSV or Taskwarrior's export,
// become TaskEvents decided by the same deciders as live commands, so an
// imported log is one coach could have written itself.
//
// Rules (docs/import.md says them for users):
// - Rows are applied per user in timestamp order (ties: file order), after
//   the user's stored events; a row older than the user's last stored event
//   is refused: logs are append-only.
// - A user without a registration is registered first (time zone and
//   behavioral tracking as the options say; the e-mail address of their
//   rows or the options, else none: the import never makes one up).
// - Every event carries the idempotency key "import:" + a hash of its user,
//   task, event, timestamp and fields, so a rerun of the same file adds
//   nothing twice; rows already stored count as duplicates.
// - A bad row (line number and why) is skipped, with the rows after it that
//   depend on it, or, with reject, nothing at all is written.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "events/event_store.h"

namespace coach::apps {

struct ImportRow {
  size_t line = 0;  // where the row is in its file, for messages
  std::string user_id, task, event, timestamp;
  std::string due_at, category, estimated_minutes, priority, title, until;
  std::string tags;               // created, edited: space-separated; empty: none / unchanged
  bool replace_tags = false;      // edited: `tags` is the new set (empty: remove all)
  std::string text;               // noted: the note
  std::set<std::string> cleared;  // edited: fields removed (due_at, category, priority)
  std::string email;              // the user's address, for a user the import registers
};

struct ImportOptions {
  bool reject = false;   // any bad row: write nothing
  bool dry_run = false;  // check and report, write nothing
  bool tracking = false;
  std::string time_zone = "UTC";
  // The address of users the import registers when their rows give none;
  // empty: they are registered without one (no e-mail notifications).
  std::string email;
};

struct ImportReport {
  size_t rows = 0, imported_rows = 0, skipped_rows = 0, duplicate_rows = 0;
  size_t events = 0, users = 0, registered_users = 0;
  std::vector<std::string> errors;    // "line N: why"
  std::vector<std::string> warnings;  // what the import did not do, and what to do instead
  bool written = false;
};

// An external task id as a stable UUID: itself when it is one, else derived
// from the user and the id, so the same task maps to the same id each time.
std::string task_uuid(const std::string& user_id, const std::string& task);

Result<ImportReport> import_rows(events::EventStore& store, std::vector<ImportRow> rows,
                                 const ImportOptions& options);

// Coach's CSV: header user_id,task_id,event,timestamp,due_at,category,
// estimated_minutes,priority,title[,until][,tags][,text][,email] (a UTF-8
// byte order mark is skipped). Errors name the line.
Result<std::vector<ImportRow>> read_coach_csv(const std::string& path);
// Taskwarrior's `task export` JSON array, for one user, and optionally its
// undo.data (the history of every change; taskwarrior.cpp says how each
// attribute maps). `notes` receives what was skipped and why.
Result<std::vector<ImportRow>> read_taskwarrior(const std::string& path, const std::string& user_id,
                                                std::vector<std::string>& notes,
                                                const std::string& undo_path = "");

}  // namespace coach::apps
