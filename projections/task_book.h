// TaskBook: every task of one user, as a pure fold of the user's events, and
// the decider for task commands.
//
//   decide(book, command, now) -> events, or an Error; nothing changes
//   evolve(book, event)        -> the book after the event
//
// Both are deterministic and do no I/O: the same events always fold into the
// same book, so any state can be rebuilt by replaying the log.
//
// Status rules (docs/api.md repeats them for clients):
// - create -> pending. snooze: pending or snoozed -> snoozed until a future
//   instant (at most a year ahead); when that instant passes the task is
//   pending again (effective_status), with no event needed.
// - complete: pending or snoozed -> completed. reopen: completed -> pending.
// - delete: any status but deleted -> deleted (soft: the log keeps it).
//   restore: deleted -> the status it had before, unless that was a snooze
//   that has since run out (then pending).
// - edit: any field of a pending or snoozed task; of a completed task every
//   field but the due date (reopen it first); a deleted task not at all.
//   An edit that changes nothing appends nothing. Tags change as a whole
//   set (EditTask.replace_tags): TaskModified holds the old and new sets.
// - note: a pending, snoozed or completed task (not a deleted one) gets a
//   note appended, timed by the command's `now`; at most kMaxNotes notes and
//   kMaxNotesBytes of note text per task (conflict beyond).
//
// - recurring series (TaskRecurrence in entities.proto, the rules; the
//   helpers in task_series.h): a create with `recurrence` starts a series;
//   completing or deleting its open occurrence appends the next one in the
//   same batch (none once the rule ends or after delete with whole_series);
//   at most one occurrence of a series is open. Reopening or restoring an
//   earlier occurrence while a later one is open replaces the later one
//   when it is untouched (deleted in the same batch), else is a conflict.
//   A note concerns one occurrence; a snooze too, unless whole_series (the
//   series pauses: no occurrence before `until`); an edit too, unless
//   whole_series (the later occurrences copy the series' template).
//   Time passing: decide_missed closes a calendar-fixed series' open
//   occurrence as missed when the rule's next instant has come, and
//   appends the next one. missed -> completed (late) is allowed, the series
//   unchanged; a missed task may be deleted and restored (missed again), or
//   edited as a completed one.
//
// Importers (coach-import) go through the same deciders: a task with tags is
// a CreateTask with `tags`, and a note written in the past is an AddTaskNote
// decided with that instant as `now` (run_command's DecideContext::now),
// which becomes the event's created_at and so the note's added_at.
#pragma once

#include <google/protobuf/arena.h>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/result.h"
#include "schema/commands.pb.h"
#include "schema/events.pb.h"
#include "schema/snapshots.pb.h"

namespace coach::projections {

using Clock = std::chrono::system_clock;

// Limits on task fields, checked by decide.
inline constexpr size_t kMaxTitleBytes = 500;
inline constexpr size_t kMaxDescriptionBytes = 8 * 1024;
inline constexpr size_t kMaxCategoryBytes = 64;
inline constexpr int kMaxPriority = 4;
inline constexpr int kMaxMinutes = 7 * 24 * 60;
// Tags (Task.tags): each 1 to kMaxTagBytes, at most kMaxTags per task.
inline constexpr size_t kMaxTagBytes = 64;
inline constexpr size_t kMaxTags = 32;
// Notes (Task.notes): each 1 to kMaxNoteBytes; per task at most kMaxNotes
// and kMaxNotesBytes of text in all, so that the largest task stays far
// below a task.list page (kMaxPageBytes, task_queries.h checks it).
inline constexpr size_t kMaxNoteBytes = 4 * 1024;
inline constexpr size_t kMaxNotes = 200;
inline constexpr size_t kMaxNotesBytes = 128 * 1024;

// One tag as coach stores it: checked (1 to kMaxTagBytes of UTF-8, no
// whitespace, comma or control character) and lower-cased: A-Z, and the
// capitals of Latin-1, Latin Extended-A, Greek and Cyrillic (other letters
// as written; lower-casing keeps the byte length). invalid_argument naming
// `field` and why otherwise.
Result<std::string> normalize_tag(std::string_view field, std::string_view tag);
// A tag set as coach stores it: each tag normalized, duplicates dropped,
// sorted by bytes; at most kMaxTags distinct tags. The deciders and the
// task.list filters use it; an importer may check a task's tags with it
// before it decides.
Result<std::vector<std::string>> normalize_tags(
    std::string_view field, const google::protobuf::RepeatedPtrField<std::string>& tags);
// An open task more than 30 days past its due date is abandoned: kept and
// listed, but no longer "overdue right now" in the score, the features or
// the insights, not planned and not at risk in schedules, and not the
// subject of overdue nudges (imported histories hold tasks overdue for
// years). Completing, editing its due date or snoozing it revives it.
inline constexpr auto kAbandonedAfter = std::chrono::hours(24 * 30);
// Whether `task` is pending (a snoozed one was put off on purpose) and more
// than kAbandonedAfter past its due date at `now`.
bool abandoned(const v1::Task& task, Clock::time_point now);

// A snooze ends at most 366 days (8784 hours) after it is made: a year,
// leap years included. Exactly 366 days is accepted, a second more is not.
inline constexpr auto kMaxSnooze = std::chrono::hours(24 * 366);

// The instants coach accepts from a client (due dates, snoozes, blocks,
// list ranges, as_of): from 1970-01-01T00:00:00Z up to, not including,
// 2200-01-01T00:00:00Z; std::chrono's nanosecond clock ends in 2262, and no
// task plans that far. invalid_argument naming `field` otherwise.
inline constexpr int64_t kFirstInstantSeconds = 0;
inline constexpr int64_t kEndInstantSeconds = 7'258'118'400;  // 2200-01-01T00:00:00Z
Status check_instant(std::string_view field, const google::protobuf::Timestamp& t);

// Hashes strings and string_views alike, so lookups by string_view do not
// build a std::string (task ids are longer than the small-string buffer).
// Task ids are canonical UUIDs (36 characters), whose first and last eight
// characters are random: two 8-byte loads, mixed, hash them well and several
// times faster than hashing all 36 bytes (the fold looks every event's task
// up). A client choosing colliding ids only slows its own user's map.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept {
    if (s.size() != 36) return std::hash<std::string_view>{}(s);
    uint64_t a, b;
    std::memcpy(&a, s.data(), 8);
    std::memcpy(&b, s.data() + 28, 8);
    uint64_t h = (a ^ (b * 0x9e3779b97f4a7c15ULL)) * 0xbf58476d1ce4e5b9ULL;
    return static_cast<size_t>(h ^ (h >> 31));
  }
};
// Tasks live on the book's protobuf arena: folding a created task costs one
// arena block bump instead of ~10 mallocs (bench/fold_bench).
using TaskMap = std::unordered_map<std::string, v1::Task*, StringHash, std::equal_to<>>;
// Recurring series by series id (few per user: kept off the arena).
using SeriesMap = std::unordered_map<std::string, v1::TaskSeries, StringHash, std::equal_to<>>;

// The book's tasks, iterated as (id, task) pairs of references.
class TaskRange {
 public:
  class iterator {
   public:
    explicit iterator(TaskMap::const_iterator it) : it_(it) {}
    std::pair<const std::string&, const v1::Task&> operator*() const {
      return {it_->first, *it_->second};
    }
    iterator& operator++() {
      ++it_;
      return *this;
    }
    bool operator==(const iterator& other) const { return it_ == other.it_; }

   private:
    TaskMap::const_iterator it_;
  };
  explicit TaskRange(const TaskMap& map) : map_(map) {}
  iterator begin() const { return iterator(map_.begin()); }
  iterator end() const { return iterator(map_.end()); }
  size_t size() const { return map_.size(); }
  bool empty() const { return map_.empty(); }

 private:
  const TaskMap& map_;
};

class TaskBook {
 public:
  TaskBook();
  ~TaskBook();
  TaskBook(const TaskBook& other);
  TaskBook& operator=(const TaskBook& other);
  TaskBook(TaskBook&&) noexcept;
  TaskBook& operator=(TaskBook&&) noexcept;

  // The task with that id, deleted ones included; nullptr when unknown.
  const v1::Task* find(std::string_view task_id) const;
  TaskRange tasks() const { return TaskRange(tasks_); }
  // The recurring series with that id (a task's recurrence.series_id);
  // nullptr when unknown.
  const v1::TaskSeries* series(std::string_view series_id) const;
  // Sequence of the last event folded in.
  uint64_t version() const { return version_; }
  // Events folded in (since this book was built or parsed) that touched a
  // series: one that was not counted leaves next_miss as it was, so a
  // caller may keep next_miss until this changes.
  uint64_t series_changes() const { return series_changes_; }

  std::string serialize() const;
  static Result<TaskBook> parse(std::string_view bytes, uint64_t version);

 private:
  friend void evolve(TaskBook& book, const v1::TaskEvent& event);
  friend std::vector<v1::TaskEvent> decide_missed(const TaskBook& book, Clock::time_point now);
  friend std::optional<Clock::time_point> next_miss(const TaskBook& book);
  v1::Task& add(const std::string& id);  // a new task on the arena
  std::unique_ptr<google::protobuf::Arena> arena_;
  TaskMap tasks_;
  SeriesMap series_;
  uint64_t version_ = 0;
  uint64_t series_changes_ = 0;
};

// The status a task has at `now`: a snooze that ran out reads as pending.
v1::TaskStatus effective_status(const v1::Task& task, Clock::time_point now);

// The events (task_id and payload set, envelope not yet stamped) that carry
// out `command` at `now`, or why it cannot be done: invalid_argument for a
// malformed command, not_found for an unknown task, conflict for a command
// the task's status forbids. An empty list means "nothing to change".
Result<std::vector<v1::TaskEvent>> decide(const TaskBook& book, const v1::TaskCommand& command,
                                          Clock::time_point now);

// What passing time does (no command): for each series whose open
// occurrence is missed by `now` (task_series.h, roll_missed), its
// TaskMissed and the next occurrence's TaskCreated, series by series in id
// order; empty when nothing is missed. A series whose stored rule no longer
// expands (a zone the tz database dropped) is left as it is.
std::vector<v1::TaskEvent> decide_missed(const TaskBook& book, Clock::time_point now);

// The earliest instant at which decide_missed will have something to do,
// or nullopt when no open occurrence can be missed.
std::optional<Clock::time_point> next_miss(const TaskBook& book);

// Folds one event into the book. Events that are not about tasks only
// advance the version.
void evolve(TaskBook& book, const v1::TaskEvent& event);

}  // namespace coach::projections
