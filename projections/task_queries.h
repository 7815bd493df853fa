// Read-side queries over a TaskBook: pure functions, no state of their own.
#pragma once

#include <chrono>

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
Result<v1::TaskList> list_tasks(const TaskBook& book, const v1::ListTasks& query,
                                Clock::time_point now);

// The task as clients see it: status as of `now`.
v1::Task task_view(const v1::Task& task, Clock::time_point now);

}  // namespace coach::projections
