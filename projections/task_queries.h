// Read-side queries over a TaskBook: pure functions, no state of their own.
#pragma once

#include <chrono>
#include <functional>

#include "base/result.h"
#include "projections/task_book.h"
#include "schema/commands.pb.h"

namespace coach::projections {

// Tasks matching the filters, newest first (by created_at, then id), one
// page at a time. The page token is the position after the page's last task,
// so pages stay correct while tasks are added. Statuses are compared as of
// `now` (a snooze that ran out lists as pending). A page also ends before
// its tasks pass kMaxPageBytes (serialized), so that every reply fits a
// NATS message (1 MiB by default) in either encoding; it always holds at
// least one task, and next_page_token says there is more.
inline constexpr size_t kMaxPageBytes = 256 * 1024;
// The largest task a client can make (every text field at its limit, 32
// tags, notes up to their count and bytes, with protobuf's tags, lengths and
// timestamps) is well below a page, so a page of one task keeps the bound.
// The lateness risk and its (at most 3) reasons count too: 2048 bytes.
static_assert(kMaxTitleBytes + kMaxDescriptionBytes + kMaxCategoryBytes +
                      kMaxTags * (kMaxTagBytes + 3) + kMaxNotesBytes + kMaxNotes * 32 + 1024 +
                      2048 <
                  kMaxPageBytes / 3 * 2,
              "the largest task must fit a task.list page with room to spare");
// Filters: statuses (as of `now`), due range, category (exact), tags_any
// (the task has one of them) and tags_all (every one), tags compared after
// normalize_tags; a bad tag in a filter is invalid_argument. `decorate`,
// if given, adds to each task view (the lateness risk) before the page's
// bytes are counted.
Result<v1::TaskList> list_tasks(const TaskBook& book, const v1::ListTasks& query,
                                Clock::time_point now,
                                const std::function<void(v1::Task&)>& decorate = {});

// The task as clients see it: status as of `now`.
v1::Task task_view(const v1::Task& task, Clock::time_point now);

}  // namespace coach::projections
