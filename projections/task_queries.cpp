#include "projections/task_queries.h"

#include <algorithm>
#include <charconv>
#include <optional>

namespace coach::projections {
namespace {

constexpr uint32_t kDefaultPageSize = 50;
constexpr uint32_t kMaxPageSize = 500;

// Sort key: newest first, ties broken by id.
struct Position {
  int64_t created_nanos = 0;
  std::string id;
};

int64_t nanos(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1'000'000'000 + t.nanos();
}

bool before(const Position& a, const Position& b) {
  if (a.created_nanos != b.created_nanos) return a.created_nanos > b.created_nanos;
  return a.id < b.id;
}

std::string encode_token(const Position& p) {
  return std::to_string(p.created_nanos) + "_" + p.id;
}

Result<Position> decode_token(const std::string& token) {
  auto sep = token.find('_');
  Position p;
  if (sep != std::string::npos) {
    auto [end, ec] = std::from_chars(token.data(), token.data() + sep, p.created_nanos);
    p.id = token.substr(sep + 1);
    if (ec == std::errc() && end == token.data() + sep && !p.id.empty()) return p;
  }
  return make_error(Errc::invalid_argument,
                    "page_token is not one this service gave out; start again without it");
}

}  // namespace

v1::Task task_view(const v1::Task& task, Clock::time_point now) {
  v1::Task view = task;
  auto status = effective_status(task, now);
  if (status != task.status()) {
    view.set_status(status);
    view.clear_snoozed_until();
  }
  return view;
}

Result<v1::TaskList> list_tasks(const TaskBook& book, const v1::ListTasks& query,
                                Clock::time_point now,
                                const std::function<void(v1::Task&)>& decorate) {
  uint32_t page_size = query.page_size() == 0 ? kDefaultPageSize : query.page_size();
  if (page_size > kMaxPageSize)
    return make_error(Errc::invalid_argument, "page_size must be 1 to 500");
  if (query.has_due_from())
    if (auto s = check_instant("due_from", query.due_from()); !s) return s.error();
  if (query.has_due_to())
    if (auto s = check_instant("due_to", query.due_to()); !s) return s.error();
  std::vector<v1::TaskStatus> statuses;
  for (int s : query.statuses()) {
    if (s == v1::TASK_STATUS_UNSPECIFIED || !v1::TaskStatus_IsValid(s))
      return make_error(Errc::invalid_argument, "statuses holds an unknown status");
    statuses.push_back(static_cast<v1::TaskStatus>(s));
  }
  if (statuses.empty()) statuses = {v1::TASK_STATUS_PENDING, v1::TASK_STATUS_SNOOZED};
  auto tags_any = normalize_tags("tags_any", query.tags_any());
  if (!tags_any) return tags_any.error();
  auto tags_all = normalize_tags("tags_all", query.tags_all());
  if (!tags_all) return tags_all.error();
  // A task's tags are stored sorted (normalize_tags).
  auto has = [](const v1::Task& task, const std::string& tag) {
    return std::binary_search(task.tags().begin(), task.tags().end(), tag);
  };
  std::optional<Position> after;
  if (!query.page_token().empty()) {
    auto p = decode_token(query.page_token());
    if (!p) return p.error();
    after = std::move(*p);
  }

  std::vector<std::pair<Position, const v1::Task*>> hits;
  for (const auto& entry : book.tasks()) {
    const auto& task = entry.second;  // not a structured binding: clang 14 cannot capture one
    auto status = effective_status(task, now);
    if (std::find(statuses.begin(), statuses.end(), status) == statuses.end()) continue;
    if (!query.category().empty() && task.category() != query.category()) continue;
    if (!tags_any->empty() && std::none_of(tags_any->begin(), tags_any->end(),
                                           [&](const auto& tag) { return has(task, tag); }))
      continue;
    if (!std::all_of(tags_all->begin(), tags_all->end(),
                     [&](const auto& tag) { return has(task, tag); }))
      continue;
    if (query.has_due_from() &&
        (!task.has_due_at() || nanos(task.due_at()) < nanos(query.due_from())))
      continue;
    if (query.has_due_to() && (!task.has_due_at() || nanos(task.due_at()) >= nanos(query.due_to())))
      continue;
    Position p{nanos(task.created_at()), entry.first};
    if (after && !before(*after, p)) continue;
    hits.emplace_back(std::move(p), &task);
  }
  auto by_position = [](const auto& a, const auto& b) { return before(a.first, b.first); };
  size_t take = std::min<size_t>(page_size, hits.size());
  std::partial_sort(hits.begin(), hits.begin() + static_cast<std::ptrdiff_t>(take), hits.end(),
                    by_position);
  v1::TaskList list;
  size_t bytes = 0, taken = 0;
  for (; taken < take; ++taken) {
    auto view = task_view(*hits[taken].second, now);
    if (decorate) decorate(view);
    bytes += view.ByteSizeLong();
    if (taken > 0 && bytes > kMaxPageBytes) break;  // the rest on the next page
    *list.add_tasks() = std::move(view);
  }
  if (hits.size() > taken) list.set_next_page_token(encode_token(hits[taken - 1].first));
  return list;
}

}  // namespace coach::projections
