#include "projections/task_book.h"

#include <algorithm>

#include "base/ids.h"
#include "events/envelope.h"
#include "projections/task_series.h"
#include "schema/snapshots.pb.h"

namespace coach::projections {
namespace {

using coach::from_timestamp;
using coach::to_timestamp;

// "pending", "completed", ... for messages people read.
std::string status_word(v1::TaskStatus status) {
  auto name = v1::TaskStatus_Name(status);
  std::string word = name.substr(name.rfind('_') + 1);
  for (auto& c : word) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return word;
}

Error invalid(std::string message) {
  return make_error(Errc::invalid_argument, std::move(message));
}
Error conflict(std::string message) {
  return make_error(Errc::conflict, std::move(message));
}

// True when `text` is well-formed UTF-8 (no overlongs, no surrogates).
bool valid_utf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    auto c = static_cast<uint8_t>(text[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t extra = (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xe ? 2 : (c >> 3) == 0x1e ? 3 : 0;
    if (extra == 0 || i + extra >= text.size()) return false;  // bad lead byte or cut short
    uint32_t cp = c & (0x3f >> extra);
    for (size_t k = 1; k <= extra; ++k) {
      auto cc = static_cast<uint8_t>(text[i + k]);
      if ((cc >> 6) != 0x2) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[extra] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += extra + 1;
  }
  return true;
}

Status check_text(std::string_view field, const std::string& value, size_t max_bytes,
                  bool required) {
  if (required && value.empty()) return invalid(std::string(field) + " is required");
  if (value.size() > max_bytes)
    return invalid(std::string(field) + " is " + std::to_string(value.size()) +
                   " bytes; the limit is " + std::to_string(max_bytes));
  if (!valid_utf8(value)) return invalid(std::string(field) + " is not valid UTF-8");
  return Ok{};
}

// The code point at text[i] of valid UTF-8, and how many bytes it takes.
std::pair<uint32_t, size_t> code_point(std::string_view text, size_t i) {
  auto c = static_cast<uint8_t>(text[i]);
  size_t extra = c < 0x80 ? 0 : (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xe ? 2 : 3;
  uint32_t cp = extra == 0 ? c : c & (0x3f >> extra);
  for (size_t k = 1; k <= extra; ++k) cp = (cp << 6) | (static_cast<uint8_t>(text[i + k]) & 0x3f);
  return {cp, extra + 1};
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

// The small letter of a capital in ASCII, Latin-1, Latin Extended-A, Greek
// or Cyrillic; any other code point as it is. Each mapping keeps the UTF-8
// length (1 or 2 bytes both ways).
uint32_t lower_case(uint32_t cp) {
  if (cp >= 'A' && cp <= 'Z') return cp + 0x20;
  if (cp >= 0xc0 && cp <= 0xde && cp != 0xd7) return cp + 0x20;  // À..Þ but ×
  if (cp >= 0x100 && cp <= 0x17f) {
    // İ, ı, ĸ, ŉ and ſ have no simple pair; Ÿ's small letter is ÿ.
    if (cp == 0x130 || cp == 0x131 || cp == 0x138 || cp == 0x149 || cp == 0x17f) return cp;
    if (cp == 0x178) return 0xff;
    bool odd_capitals = (cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17e);
    return (cp % 2 == 1) == odd_capitals ? cp + 1 : cp;
  }
  if ((cp >= 0x391 && cp <= 0x3a1) || (cp >= 0x3a3 && cp <= 0x3ab)) return cp + 0x20;  // Greek
  if (cp >= 0x400 && cp <= 0x40f) return cp + 0x50;                                    // Ѐ..Џ
  if (cp >= 0x410 && cp <= 0x42f) return cp + 0x20;                                    // А..Я
  return cp;
}

// Unicode White_Space.
bool whitespace(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0d) || cp == 0x20 || cp == 0x85 || cp == 0xa0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f ||
         cp == 0x205f || cp == 0x3000;
}

bool control(uint32_t cp) {
  return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

Status check_range(std::string_view field, int value, int max) {
  if (value < 0 || value > max)
    return invalid(std::string(field) + " must be 0 to " + std::to_string(max) + ", got " +
                   std::to_string(value));
  return Ok{};
}

}  // namespace

bool abandoned(const v1::Task& task, Clock::time_point now) {
  // A snoozed task was put off on purpose: not forgotten.
  return effective_status(task, now) == v1::TASK_STATUS_PENDING && task.has_due_at() &&
         from_timestamp(task.due_at()) < now - kAbandonedAfter;
}

Result<std::string> normalize_tag(std::string_view field, std::string_view tag) {
  std::string where = " in " + std::string(field);
  if (tag.empty()) return invalid("a tag" + where + " is empty; a tag is 1 to 64 bytes");
  if (!valid_utf8(tag)) return invalid("a tag" + where + " is not valid UTF-8");
  std::string quoted = "tag \"" + std::string(tag) + "\"" + where;
  if (tag.size() > kMaxTagBytes)
    return invalid(quoted + " is " + std::to_string(tag.size()) + " bytes; the limit is " +
                   std::to_string(kMaxTagBytes));
  std::string out;
  out.reserve(tag.size());
  for (size_t i = 0; i < tag.size();) {
    auto [cp, bytes] = code_point(tag, i);
    if (whitespace(cp))
      return invalid(quoted + " holds whitespace; a tag is one word (join words with - or _)");
    if (cp == ',') return invalid(quoted + " holds a comma; give each tag as an item of its own");
    if (control(cp)) return invalid(quoted + " holds a control character");
    append_utf8(out, lower_case(cp));
    i += bytes;
  }
  return out;
}

Result<std::vector<std::string>> normalize_tags(
    std::string_view field, const google::protobuf::RepeatedPtrField<std::string>& tags) {
  std::vector<std::string> out;
  out.reserve(static_cast<size_t>(tags.size()));
  for (const auto& tag : tags) {
    auto normal = normalize_tag(field, tag);
    if (!normal) return normal.error();
    out.push_back(std::move(*normal));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  if (out.size() > kMaxTags)
    return invalid(std::string(field) + " holds " + std::to_string(out.size()) +
                   " distinct tags; the limit is " + std::to_string(kMaxTags));
  return out;
}

Status check_instant(std::string_view field, const google::protobuf::Timestamp& t) {
  if (t.seconds() < kFirstInstantSeconds || t.seconds() >= kEndInstantSeconds || t.nanos() < 0 ||
      t.nanos() > 999999999)
    return invalid(std::string(field) +
                   " must be an instant from 1970-01-01T00:00:00Z to before "
                   "2200-01-01T00:00:00Z");
  return Ok{};
}

namespace {

// The task a command names, or not_found / invalid_argument.
Result<const v1::Task*> target(const TaskBook& book, const std::string& task_id) {
  if (auto id = Uuid::parse(task_id, "task_id"); !id) return id.error();
  const auto* task = book.find(task_id);
  if (!task) return make_error(Errc::not_found, "no task " + task_id);
  return task;
}

v1::TaskEvent task_event(const std::string& task_id) {
  v1::TaskEvent event;
  event.set_task_id(task_id);
  return event;
}

using Events = std::vector<v1::TaskEvent>;

bool open_at(const v1::Task& task, Clock::time_point now) {
  auto status = effective_status(task, now);
  return status == v1::TASK_STATUS_PENDING || status == v1::TASK_STATUS_SNOOZED;
}

// The series `task` is an occurrence of; nullptr for a one-off task.
const v1::TaskSeries* series_of(const TaskBook& book, const v1::Task& task) {
  return task.has_recurrence() ? book.series(task.recurrence().series_id()) : nullptr;
}

// Appends to `out` the next occurrence when `task`, its series' open
// occurrence, is finished (completed or deleted) at `now`.
Status add_next(const TaskBook& book, const v1::Task& task, Clock::time_point now, Events& out) {
  const auto* series = series_of(book, task);
  if (!series || !series->ended_by().empty() || series->latest_task_id() != task.id() ||
      !open_at(task, now))
    return Ok{};
  auto next = next_occurrence(*series, task, now);
  if (!next) return next.error();
  if (!*next) return Ok{};  // the rule has ended
  if (book.find((*next)->task_id()))
    return conflict("the next occurrence's id " + (*next)->task_id() + " is taken");
  out.push_back(std::move(**next));
  return Ok{};
}

// Before `task`, an earlier occurrence, is open again (reopen, restore):
// the series' open later occurrence goes when it is untouched (its
// deletion appended to `out`); when it was worked on, conflict.
Status make_room(const TaskBook& book, const v1::Task& task, Clock::time_point now, Events& out) {
  const auto* series = series_of(book, task);
  if (!series || series->latest_task_id() == task.id()) return Ok{};
  const auto* later = book.find(series->latest_task_id());
  if (!later || !open_at(*later, now)) return Ok{};
  if (!untouched(*later))
    return conflict("occurrence " + std::to_string(later->recurrence().occurrence()) + " (" +
                    later->id() +
                    ") of this series is open and was worked on; complete or delete it first");
  auto event = task_event(later->id());
  event.mutable_task_deleted()->set_reason("replaced: occurrence " +
                                           std::to_string(task.recurrence().occurrence()) +
                                           " was made open again");
  out.push_back(std::move(event));
  return Ok{};
}

Result<Events> decide_create(const TaskBook& book, const v1::CreateTask& c) {
  if (auto s = Uuid::parse(c.task_id(), "task_id"); !s) return s.error();
  if (book.find(c.task_id())) return conflict("task " + c.task_id() + " already exists");
  for (auto s : {check_text("title", c.title(), kMaxTitleBytes, true),
                 check_text("description", c.description(), kMaxDescriptionBytes, false),
                 check_text("category", c.category(), kMaxCategoryBytes, false),
                 check_range("priority", c.priority(), kMaxPriority),
                 check_range("estimated_minutes", c.estimated_minutes(), kMaxMinutes)})
    if (!s) return s.error();
  if (c.has_due_at())
    if (auto s = check_instant("due_at", c.due_at()); !s) return s.error();
  auto tags = normalize_tags("tags", c.tags());
  if (!tags) return tags.error();
  auto event = task_event(c.task_id());
  if (c.has_recurrence()) {
    auto recurrence = first_recurrence(c);
    if (!recurrence) return recurrence.error();
    *event.mutable_task_created()->mutable_recurrence() = std::move(*recurrence);
  }
  auto* created = event.mutable_task_created()->mutable_fields();
  for (auto& tag : *tags) created->add_tags(std::move(tag));
  created->set_title(c.title());
  created->set_description(c.description());
  if (c.has_due_at()) *created->mutable_due_at() = c.due_at();
  created->set_category(c.category());
  created->set_priority(c.priority());
  created->set_estimated_minutes(c.estimated_minutes());
  return Events{std::move(event)};
}

bool same_instant(const v1::Task& task, const google::protobuf::Timestamp* due) {
  if (!due) return !task.has_due_at();
  return task.has_due_at() && task.due_at().seconds() == due->seconds() &&
         task.due_at().nanos() == due->nanos();
}

Result<Events> decide_edit(const TaskBook& book, const v1::EditTask& c, Clock::time_point now) {
  auto task = target(book, c.task_id());
  if (!task) return task.error();
  const v1::Task& t = **task;
  auto status = effective_status(t, now);
  if (status == v1::TASK_STATUS_DELETED)
    return conflict("task " + c.task_id() + " is deleted; restore it before editing");
  if (c.has_due_at() && c.clear_due_at()) return invalid("set due_at or clear_due_at, not both");
  if (c.tags_size() > 0 && !c.replace_tags())
    return invalid(
        "tags are given without replace_tags; set replace_tags to replace the task's tags with "
        "them");
  bool due_change = c.has_due_at() || c.clear_due_at();
  if (!c.has_title() && !c.has_description() && !due_change && !c.has_category() &&
      !c.has_priority() && !c.has_estimated_minutes() && !c.replace_tags())
    return invalid("edit names no field to change");

  // With whole_series, a field differs when the occurrence or the series'
  // template has another value (this occurrence may have been edited alone).
  const v1::TaskFields* series = nullptr;
  if (c.whole_series()) {
    const auto* s = series_of(book, t);
    if (!s)
      return invalid("task " + c.task_id() + " is not recurring; edit it without whole_series");
    if (due_change)
      return invalid(
          "a series' due dates follow its rule; change due_at without whole_series, for this "
          "occurrence only");
    series = &s->template_();
  }
  auto differs = [&](auto value, auto now_value, auto template_value) {
    return value != now_value || (series && value != template_value);
  };
  auto event = task_event(c.task_id());
  auto* m = event.mutable_task_modified();
  m->set_whole_series(c.whole_series());
  auto* before = m->mutable_before();
  auto* after = m->mutable_after();
  if (c.has_title() && differs(c.title(), t.title(), series ? series->title() : "")) {
    if (auto s = check_text("title", c.title(), kMaxTitleBytes, true); !s) return s.error();
    m->add_changed(v1::TASK_FIELD_TITLE);
    before->set_title(t.title());
    after->set_title(c.title());
  }
  if (c.has_description() &&
      differs(c.description(), t.description(), series ? series->description() : "")) {
    if (auto s = check_text("description", c.description(), kMaxDescriptionBytes, false); !s)
      return s.error();
    m->add_changed(v1::TASK_FIELD_DESCRIPTION);
    before->set_description(t.description());
    after->set_description(c.description());
  }
  if (due_change && !same_instant(t, c.has_due_at() ? &c.due_at() : nullptr)) {
    if (c.has_due_at())
      if (auto s = check_instant("due_at", c.due_at()); !s) return s.error();
    if (status == v1::TASK_STATUS_COMPLETED)
      return conflict("task " + c.task_id() +
                      " is completed; reopen it before changing its due date");
    if (status == v1::TASK_STATUS_MISSED)
      return conflict("task " + c.task_id() +
                      " was missed: its series has gone on; its due date stays");
    m->add_changed(v1::TASK_FIELD_DUE_AT);
    if (t.has_due_at()) *before->mutable_due_at() = t.due_at();
    if (c.has_due_at()) *after->mutable_due_at() = c.due_at();
  }
  if (c.has_category() && differs(c.category(), t.category(), series ? series->category() : "")) {
    if (auto s = check_text("category", c.category(), kMaxCategoryBytes, false); !s)
      return s.error();
    m->add_changed(v1::TASK_FIELD_CATEGORY);
    before->set_category(t.category());
    after->set_category(c.category());
  }
  if (c.has_priority() && differs(c.priority(), t.priority(), series ? series->priority() : 0)) {
    if (auto s = check_range("priority", c.priority(), kMaxPriority); !s) return s.error();
    m->add_changed(v1::TASK_FIELD_PRIORITY);
    before->set_priority(t.priority());
    after->set_priority(c.priority());
  }
  if (c.has_estimated_minutes() && differs(c.estimated_minutes(), t.estimated_minutes(),
                                           series ? series->estimated_minutes() : 0)) {
    if (auto s = check_range("estimated_minutes", c.estimated_minutes(), kMaxMinutes); !s)
      return s.error();
    m->add_changed(v1::TASK_FIELD_ESTIMATED_MINUTES);
    before->set_estimated_minutes(t.estimated_minutes());
    after->set_estimated_minutes(c.estimated_minutes());
  }
  if (c.replace_tags()) {
    auto tags = normalize_tags("tags", c.tags());
    if (!tags) return tags.error();
    auto same_as = [&](const google::protobuf::RepeatedPtrField<std::string>& set) {
      return std::equal(tags->begin(), tags->end(), set.begin(), set.end());
    };
    if (!same_as(t.tags()) || (series && !same_as(series->tags()))) {
      m->add_changed(v1::TASK_FIELD_TAGS);
      *before->mutable_tags() = t.tags();
      for (auto& tag : *tags) after->add_tags(std::move(tag));
    }
  }
  if (m->changed_size() == 0) return Events{};  // nothing differs
  return Events{std::move(event)};
}

Result<Events> decide_snooze(const TaskBook& book, const v1::SnoozeTask& c, Clock::time_point now) {
  auto task = target(book, c.task_id());
  if (!task) return task.error();
  auto status = effective_status(**task, now);
  if (status != v1::TASK_STATUS_PENDING && status != v1::TASK_STATUS_SNOOZED)
    return conflict("task " + c.task_id() + " is " + status_word(status) +
                    "; only pending or snoozed tasks can be snoozed");
  if (!c.has_until()) return invalid("until is required");
  if (auto s = check_instant("until", c.until()); !s) return s.error();
  auto until = from_timestamp(c.until());
  if (until <= now) return invalid("until must be in the future");
  if (until > now + kMaxSnooze) return invalid("until must be at most a year ahead");
  if (auto s = check_text("reason", c.reason(), kMaxTitleBytes, false); !s) return s.error();
  if (c.whole_series() && !series_of(book, **task))
    return invalid("task " + c.task_id() + " is not recurring; snooze it without whole_series");
  auto event = task_event(c.task_id());
  *event.mutable_task_snoozed()->mutable_until() = c.until();
  event.mutable_task_snoozed()->set_reason(c.reason());
  event.mutable_task_snoozed()->set_whole_series(c.whole_series());
  return Events{std::move(event)};
}

Result<Events> decide_complete(const TaskBook& book, const v1::CompleteTask& c,
                               Clock::time_point now) {
  auto task = target(book, c.task_id());
  if (!task) return task.error();
  auto status = effective_status(**task, now);
  if (status != v1::TASK_STATUS_PENDING && status != v1::TASK_STATUS_SNOOZED &&
      status != v1::TASK_STATUS_MISSED)
    return conflict("task " + c.task_id() + " is " + status_word(status) +
                    "; only pending, snoozed or missed tasks can be completed");
  if (auto s = check_range("actual_minutes", c.actual_minutes(), kMaxMinutes); !s) return s.error();
  auto event = task_event(c.task_id());
  event.mutable_task_completed()->set_actual_minutes(c.actual_minutes());
  Events out{std::move(event)};
  if (auto s = add_next(book, **task, now, out); !s) return s.error();
  return out;
}

Result<Events> decide_delete(const TaskBook& book, const v1::DeleteTask& c, Clock::time_point now) {
  auto task = target(book, c.task_id());
  if (!task) return task.error();
  const v1::Task& t = **task;
  if (t.status() == v1::TASK_STATUS_DELETED)
    return conflict("task " + c.task_id() + " is already deleted");
  if (auto s = check_text("reason", c.reason(), kMaxTitleBytes, false); !s) return s.error();
  const auto* series = series_of(book, t);
  if (c.whole_series() && !series)
    return invalid("task " + c.task_id() + " is not recurring; delete it without whole_series");
  auto event = task_event(c.task_id());
  event.mutable_task_deleted()->set_reason(c.reason());
  Events out{std::move(event)};
  if (!c.whole_series()) {
    if (auto s = add_next(book, t, now, out); !s) return s.error();
    return out;
  }
  // The series ends: with this occurrence, or with its open later one.
  const auto* later = book.find(series->latest_task_id());
  if (later && later->id() != t.id() && open_at(*later, now)) {
    auto end = task_event(later->id());
    end.mutable_task_deleted()->set_reason(c.reason());
    end.mutable_task_deleted()->set_whole_series(true);
    out.push_back(std::move(end));
  } else {
    out.back().mutable_task_deleted()->set_whole_series(true);
  }
  return out;
}

Result<Events> decide_reopen(const TaskBook& book, const v1::ReopenTask& c, Clock::time_point now) {
  auto task = target(book, c.task_id());
  if (!task) return task.error();
  if ((*task)->status() != v1::TASK_STATUS_COMPLETED)
    return conflict("task " + c.task_id() + " is " + status_word((*task)->status()) +
                    "; only completed tasks can be reopened");
  Events out;
  if (auto s = make_room(book, **task, now, out); !s) return s.error();
  out.push_back(task_event(c.task_id()));
  out.back().mutable_task_reopened();
  return out;
}

Result<Events> decide_restore(const TaskBook& book, const v1::RestoreTask& c,
                              Clock::time_point now) {
  auto task = target(book, c.task_id());
  if (!task) return task.error();
  const v1::Task& t = **task;
  if (t.status() != v1::TASK_STATUS_DELETED)
    return conflict("task " + c.task_id() + " is not deleted");
  Events out;
  if (!t.has_completed_at() && !t.has_missed_at())  // it comes back open
    if (auto s = make_room(book, t, now, out); !s) return s.error();
  out.push_back(task_event(c.task_id()));
  out.back().mutable_task_restored();
  return out;
}

Result<Events> decide_note(const TaskBook& book, const v1::AddTaskNote& c) {
  auto task = target(book, c.task_id());
  if (!task) return task.error();
  const v1::Task& t = **task;
  if (t.status() == v1::TASK_STATUS_DELETED)
    return conflict("task " + c.task_id() + " is deleted; restore it before adding a note");
  if (auto s = check_text("text", c.text(), kMaxNoteBytes, true); !s) return s.error();
  if (c.text().find_first_not_of(" \t\n\r\v\f") == std::string::npos)
    return invalid("text is blank; a note needs something to say");
  if (static_cast<size_t>(t.notes_size()) >= kMaxNotes)
    return conflict("task " + c.task_id() + " has " + std::to_string(t.notes_size()) +
                    " notes, the most a task keeps; put more in its description");
  size_t bytes = 0;
  for (const auto& note : t.notes()) bytes += note.text().size();
  if (bytes + c.text().size() > kMaxNotesBytes)
    return conflict("task " + c.task_id() + " holds " + std::to_string(bytes) +
                    " bytes of notes; this one of " + std::to_string(c.text().size()) +
                    " would pass the limit of " + std::to_string(kMaxNotesBytes));
  auto event = task_event(c.task_id());
  event.mutable_task_note_added()->set_text(c.text());
  return Events{std::move(event)};
}

void apply_fields(v1::Task& task, const v1::TaskModified& m) {
  for (int field : m.changed()) {
    const auto& a = m.after();
    switch (field) {
      case v1::TASK_FIELD_TITLE:
        task.set_title(a.title());
        break;
      case v1::TASK_FIELD_DESCRIPTION:
        task.set_description(a.description());
        break;
      case v1::TASK_FIELD_DUE_AT:
        if (a.has_due_at())
          *task.mutable_due_at() = a.due_at();
        else
          task.clear_due_at();
        break;
      case v1::TASK_FIELD_CATEGORY:
        task.set_category(a.category());
        break;
      case v1::TASK_FIELD_PRIORITY:
        task.set_priority(a.priority());
        break;
      case v1::TASK_FIELD_ESTIMATED_MINUTES:
        task.set_estimated_minutes(a.estimated_minutes());
        break;
      case v1::TASK_FIELD_TAGS:
        *task.mutable_tags() = a.tags();
        break;
      default:
        break;  // a field added by a later schema: ignored here
    }
  }
}

// The series of a task that is an occurrence of one; nullptr otherwise.
v1::TaskSeries* series_for(SeriesMap& series, const v1::Task& task) {
  if (!task.has_recurrence()) return nullptr;
  auto it = series.find(task.recurrence().series_id());
  return it == series.end() ? nullptr : &it->second;
}

// Folds a created occurrence into its series: the first one starts the
// series (rule and template); every one becomes its latest.
void join_series(SeriesMap& series, v1::Task& task, const v1::TaskCreated& created) {
  const auto& recurrence = created.recurrence();
  *task.mutable_recurrence() = recurrence;
  auto& s = series[recurrence.series_id()];
  if (s.series_id().empty()) {
    s.set_series_id(recurrence.series_id());
    auto* rule = s.mutable_rule();
    rule->set_rrule(recurrence.rrule());
    rule->set_every_days_after_done(recurrence.every_days_after_done());
    rule->set_zone(recurrence.zone());
    *rule->mutable_series_start() = recurrence.series_start();
    *s.mutable_template_() = created.fields();
    s.mutable_template_()->clear_due_at();
  }
  s.set_latest_task_id(task.id());
  s.set_made(s.made() + 1);
}

// A whole-series edit: the template takes the new values (never a due
// date: the rule makes those).
void apply_to_template(v1::TaskSeries& series, const v1::TaskModified& m) {
  v1::Task as_task;
  const auto& t = series.template_();
  as_task.set_title(t.title());
  as_task.set_description(t.description());
  as_task.set_category(t.category());
  as_task.set_priority(t.priority());
  as_task.set_estimated_minutes(t.estimated_minutes());
  *as_task.mutable_tags() = t.tags();
  apply_fields(as_task, m);
  auto& out = *series.mutable_template_();
  out.set_title(as_task.title());
  out.set_description(as_task.description());
  out.set_category(as_task.category());
  out.set_priority(as_task.priority());
  out.set_estimated_minutes(as_task.estimated_minutes());
  *out.mutable_tags() = as_task.tags();
}

}  // namespace

namespace {

std::unique_ptr<google::protobuf::Arena> new_arena() {
  google::protobuf::ArenaOptions options;
  options.start_block_size = 1024;  // most users have a few tasks
  options.max_block_size = 64 * 1024;
  return std::make_unique<google::protobuf::Arena>(options);
}

}  // namespace

TaskBook::TaskBook() = default;  // the arena comes with the first task
TaskBook::~TaskBook() = default;
TaskBook::TaskBook(TaskBook&&) noexcept = default;
TaskBook& TaskBook::operator=(TaskBook&&) noexcept = default;

TaskBook::TaskBook(const TaskBook& other) : series_(other.series_), version_(other.version_) {
  tasks_.reserve(other.tasks_.size());
  for (const auto& [id, task] : other.tasks_) add(id) = *task;
}

TaskBook& TaskBook::operator=(const TaskBook& other) {
  if (this != &other) *this = TaskBook(other);
  return *this;
}

v1::Task& TaskBook::add(const std::string& id) {
  if (!arena_) arena_ = new_arena();
  auto* task = google::protobuf::Arena::CreateMessage<v1::Task>(arena_.get());
  tasks_[id] = task;
  return *task;
}

const v1::Task* TaskBook::find(std::string_view task_id) const {
  auto it = tasks_.find(task_id);
  return it == tasks_.end() ? nullptr : it->second;
}

const v1::TaskSeries* TaskBook::series(std::string_view series_id) const {
  auto it = series_.find(series_id);
  return it == series_.end() ? nullptr : &it->second;
}

std::string TaskBook::serialize() const {
  v1::TaskBookSnapshot snapshot;
  for (const auto& [id, task] : tasks_) *snapshot.add_tasks() = *task;
  for (const auto& [id, series] : series_) *snapshot.add_series() = series;
  return snapshot.SerializeAsString();
}

Result<TaskBook> TaskBook::parse(std::string_view bytes, uint64_t version) {
  v1::TaskBookSnapshot snapshot;
  if (!snapshot.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return make_error(Errc::corrupted, "task snapshot does not parse");
  TaskBook book;
  book.tasks_.reserve(static_cast<size_t>(snapshot.tasks_size()));
  for (auto& task : *snapshot.mutable_tasks()) book.add(task.id()).Swap(&task);
  for (auto& series : *snapshot.mutable_series())
    book.series_[series.series_id()] = std::move(series);
  book.version_ = version;
  return book;
}

v1::TaskStatus effective_status(const v1::Task& task, Clock::time_point now) {
  if (task.status() == v1::TASK_STATUS_SNOOZED && from_timestamp(task.snoozed_until()) <= now)
    return v1::TASK_STATUS_PENDING;
  return task.status();
}

Result<std::vector<v1::TaskEvent>> decide(const TaskBook& book, const v1::TaskCommand& command,
                                          Clock::time_point now) {
  using C = v1::TaskCommand;
  switch (command.command_case()) {
    case C::kCreate:
      return decide_create(book, command.create());
    case C::kEdit:
      return decide_edit(book, command.edit(), now);
    case C::kSnooze:
      return decide_snooze(book, command.snooze(), now);
    case C::kComplete:
      return decide_complete(book, command.complete(), now);
    case C::kDelete:
      return decide_delete(book, command.delete_(), now);
    case C::kReopen:
      return decide_reopen(book, command.reopen(), now);
    case C::kRestore:
      return decide_restore(book, command.restore(), now);
    case C::kNote:
      return decide_note(book, command.note());
    case C::COMMAND_NOT_SET:
      break;
  }
  return invalid("the command is empty");
}

namespace {

// The open occurrence of `series` when passing time may roll it, or
// nullptr: none is open, or the next occurrence's id is taken (then the
// series cannot go on by itself; complete or delete answer conflict).
const v1::Task* missable(const TaskBook& book, const v1::TaskSeries& series) {
  if (!series.ended_by().empty() || book.find(next_occurrence_id(series))) return nullptr;
  const auto* t = book.find(series.latest_task_id());
  bool open =
      t && (t->status() == v1::TASK_STATUS_PENDING || t->status() == v1::TASK_STATUS_SNOOZED);
  return open ? t : nullptr;
}

std::vector<const v1::TaskSeries*> in_id_order(const SeriesMap& map) {
  std::vector<const v1::TaskSeries*> out;
  for (const auto& [id, series] : map) out.push_back(&series);
  std::sort(out.begin(), out.end(),
            [](const auto* a, const auto* b) { return a->series_id() < b->series_id(); });
  return out;
}

}  // namespace

std::vector<v1::TaskEvent> decide_missed(const TaskBook& book, Clock::time_point now) {
  Events out;
  for (const auto* series : in_id_order(book.series_)) {
    const auto* open = missable(book, *series);
    if (!open) continue;
    auto rolled = roll_missed(*series, *open, now);
    if (!rolled || rolled->empty()) continue;
    for (auto& event : *rolled) out.push_back(std::move(event));
  }
  return out;
}

std::optional<Clock::time_point> next_miss(const TaskBook& book) {
  std::optional<Clock::time_point> first;
  for (const auto& [id, series] : book.series_) {
    const auto* open = missable(book, series);
    if (!open) continue;
    auto at = missed_at(series, *open);
    if (at && *at && (!first || **at < *first)) first = **at;
  }
  return first;
}

void evolve(TaskBook& book, const v1::TaskEvent& event) {
  book.version_ = event.sequence();
  using P = v1::TaskEvent;
  if (event.payload_case() == P::kTaskCreated) {
    const auto& c = event.task_created().fields();
    auto known = book.tasks_.find(event.task_id());
    v1::Task& task = known != book.tasks_.end() ? *known->second : book.add(event.task_id());
    task.set_id(event.task_id());
    task.set_user_id(event.user_id());
    task.set_title(c.title());
    task.set_description(c.description());
    task.set_status(v1::TASK_STATUS_PENDING);
    if (c.has_due_at()) *task.mutable_due_at() = c.due_at();
    task.set_category(c.category());
    task.set_priority(c.priority());
    task.set_estimated_minutes(c.estimated_minutes());
    *task.mutable_tags() = c.tags();  // none in events older than tags
    *task.mutable_created_at() = event.created_at();
    *task.mutable_updated_at() = event.created_at();
    if (event.task_created().has_recurrence()) {
      join_series(book.series_, task, event.task_created());
      ++book.series_changes_;
    } else {
      task.clear_recurrence();
    }
    return;
  }
  auto it = book.tasks_.find(event.task_id());
  if (it == book.tasks_.end()) return;  // not a task event, or about no known task
  v1::Task& task = *it->second;
  if (task.has_recurrence()) ++book.series_changes_;
  switch (event.payload_case()) {
    case P::kTaskModified:
      apply_fields(task, event.task_modified());
      if (event.task_modified().whole_series())
        if (auto* s = series_for(book.series_, task)) apply_to_template(*s, event.task_modified());
      task.set_edit_count(task.edit_count() + 1);
      break;
    case P::kTaskSnoozed:
      task.set_status(v1::TASK_STATUS_SNOOZED);
      *task.mutable_snoozed_until() = event.task_snoozed().until();
      task.set_snooze_count(task.snooze_count() + 1);
      if (event.task_snoozed().whole_series())
        if (auto* s = series_for(book.series_, task))
          *s->mutable_paused_until() = event.task_snoozed().until();
      break;
    case P::kTaskCompleted:
      task.set_status(v1::TASK_STATUS_COMPLETED);
      task.clear_snoozed_until();
      *task.mutable_completed_at() = event.created_at();
      break;
    case P::kTaskDeleted:
      // snoozed_until and completed_at stay: restore reads the old status
      // from them.
      task.set_status(v1::TASK_STATUS_DELETED);
      *task.mutable_deleted_at() = event.created_at();
      if (event.task_deleted().whole_series())
        if (auto* s = series_for(book.series_, task)) s->set_ended_by(task.id());
      break;
    case P::kTaskMissed:
      task.set_status(v1::TASK_STATUS_MISSED);
      *task.mutable_missed_at() = event.created_at();
      break;
    case P::kTaskReopened:
      task.set_status(v1::TASK_STATUS_PENDING);
      task.clear_completed_at();
      task.clear_missed_at();  // open again: the series' open occurrence
      if (auto* s = series_for(book.series_, task)) {
        s->set_latest_task_id(task.id());
        *task.mutable_recurrence()->mutable_reopened_at() = event.created_at();
      }
      break;
    case P::kTaskRestored:
      task.set_status(task.has_completed_at()    ? v1::TASK_STATUS_COMPLETED
                      : task.has_missed_at()     ? v1::TASK_STATUS_MISSED
                      : task.has_snoozed_until() ? v1::TASK_STATUS_SNOOZED
                                                 : v1::TASK_STATUS_PENDING);
      task.clear_deleted_at();
      if (auto* s = series_for(book.series_, task)) {
        if (s->ended_by() == task.id()) s->clear_ended_by();  // the series goes on
        if (!task.has_completed_at() && !task.has_missed_at()) {
          s->set_latest_task_id(task.id());
          *task.mutable_recurrence()->mutable_reopened_at() = event.created_at();
        }
      }
      break;
    case P::kTaskNoteAdded: {
      auto* note = task.add_notes();
      note->set_text(event.task_note_added().text());
      *note->mutable_added_at() = event.created_at();
      break;
    }
    default:
      return;
  }
  *task.mutable_updated_at() = event.created_at();
}

}  // namespace coach::projections
