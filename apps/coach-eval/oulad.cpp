#include "oulad.h"

#include <fmt/core.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <memory>
#include <optional>
#include <tuple>
#include <unordered_map>

#include "apps/common/table.h"
#include "base/ids.h"
#include "events/envelope.h"
#include "projections/behavior_signals.h"
#include "projections/task_book.h"

namespace coach::eval {
namespace {

using namespace coach::projections;

// A bad input file ends the run with "FILE: line N: why" and exit code 1.
[[noreturn]] void bad_input(const std::string& path, size_t line, const std::string& why) {
  fmt::print(stderr, "coach-eval: {}: line {}: {}\n", path, line, why);
  std::exit(1);
}

// One row of an OULAD table, its cells in the order the reader asked for.
struct Row {
  std::shared_ptr<const std::string> path;  // shared by the rows of one file
  size_t line;
  std::vector<std::string> cells;

  const std::string& text(size_t i) const { return cells[i]; }
  // A day number; empty or "?" (OULAD's "unknown") is no day.
  std::optional<int> day(size_t i, const char* name) const {
    const std::string& cell = cells[i];
    if (cell.empty() || cell == "?") return std::nullopt;
    int value = 0;
    auto [end, ec] = std::from_chars(cell.data(), cell.data() + cell.size(), value);
    if (ec != std::errc() || end != cell.data() + cell.size())
      bad_input(*path, line, fmt::format("{} \"{}\" is not a whole number of days", name, cell));
    return value;
  }
  double number(size_t i, const char* name) const {
    const std::string& cell = cells[i];
    if (cell.empty()) return 0;
    double value = 0;
    auto [end, ec] = std::from_chars(cell.data(), cell.data() + cell.size(), value);
    if (ec != std::errc() || end != cell.data() + cell.size() || !std::isfinite(value))
      bad_input(*path, line, fmt::format("{} \"{}\" is not a number", name, cell));
    return value;
  }
};

// Reads an OULAD CSV file by its header: each row's cells come back in the
// order of `columns`, wherever the file has them. Quoted cells (as in the
// original distribution), CRLF and blank lines are accepted; a missing
// column or a short row ends the run with a message naming file and line.
std::vector<Row> read_table(const std::string& path, const std::vector<std::string>& columns) {
  auto shared_path = std::make_shared<const std::string>(path);
  auto file = apps::read_csv(path);
  if (!file) {
    fmt::print(stderr, "coach-eval: {}\n", file.error().message);
    std::exit(1);
  }
  std::vector<size_t> at;
  for (const auto& name : columns) {
    int col = file->column(name);
    if (col < 0) bad_input(path, 1, fmt::format("the header has no column {}", name));
    at.push_back(static_cast<size_t>(col));
  }
  std::vector<Row> rows;
  rows.reserve(file->rows.size());
  for (auto& row : file->rows) {
    if (row.cells.size() != file->header.size())
      bad_input(
          path, row.line,
          fmt::format("{} cells where the header has {}", row.cells.size(), file->header.size()));
    Row out{shared_path, row.line, {}};
    for (size_t col : at) out.cells.push_back(std::move(row.cells[col]));
    rows.push_back(std::move(out));
  }
  return rows;
}

// A presentation code is a year and B (February) or J (October): "2013J".
SysClock::time_point presentation_start(const Row& row, size_t i) {
  const std::string& code = row.text(i);
  bool good =
      code.size() == 5 && (code[4] == 'B' || code[4] == 'J') &&
      std::all_of(code.begin(), code.begin() + 4, [](char c) { return c >= '0' && c <= '9'; });
  if (!good)
    bad_input(*row.path, row.line,
              fmt::format("code_presentation \"{}\" is not a year and B or J", code));
  int year = std::stoi(code.substr(0, 4));
  int month = code[4] == 'B' ? 2 : 10;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = 1;
  return SysClock::from_time_t(timegm(&tm));
}

struct Task {
  std::string id;  // task UUID
  std::string module, type, category;
  SysClock::time_point created, due;
  std::optional<SysClock::time_point> completed;
  int deadline_day = 0;
  long long assessment = 0;  // id_assessment, for a stable order of tied deadlines
  std::optional<int> submitted_day;
  int priority = 0;
  bool late = false;
};

struct Registration {
  SysClock::time_point start;
  std::vector<size_t> tasks;  // indices into the student's tasks, in deadline order
};

struct Student {
  std::vector<Task> tasks;
  std::vector<Registration> registrations;
};

int priority_of(double weight) {
  return weight <= 0 ? 0 : weight <= 10 ? 1 : weight <= 20 ? 2 : weight <= 50 ? 3 : 4;
}

// Taskwarrior's urgency terms that apply here: due (12 x proximity: 0.2 at
// 14+ days out, 1.0 at 7+ days overdue, linear over the 21 days between, so
// about 0.73 at the deadline), priority (H 6, M 3.9, L 1.8) and age (2 per
// year).
double urgency(const Task& t, SysClock::time_point now) {
  double overdue_days = std::chrono::duration<double>(now - t.due).count() / 86400;
  double due_term = std::clamp((overdue_days + 14) * 0.8 / 21 + 0.2, 0.2, 1.0);
  double priority_term = t.priority >= 3 ? 6.0 : t.priority == 2 ? 3.9 : t.priority == 1 ? 1.8 : 0;
  double age_days = std::chrono::duration<double>(now - t.created).count() / 86400;
  return 12 * due_term + priority_term + 2 * std::min(1.0, age_days / 365);
}

v1::TaskEvent created_event(const Uuid& user, const Task& t, uint64_t sequence) {
  v1::TaskEvent e;
  e.set_task_id(t.id);
  auto* c = e.mutable_task_created()->mutable_fields();
  c->set_title(t.category);
  c->set_category(t.category);
  c->set_priority(t.priority);
  *c->mutable_due_at() = coach::to_timestamp(t.due);
  events::stamp_envelope(e, user, sequence, t.created);
  return e;
}

v1::TaskEvent completed_event(const Uuid& user, const Task& t, uint64_t sequence) {
  v1::TaskEvent e;
  e.set_task_id(t.id);
  e.mutable_task_completed();
  events::stamp_envelope(e, user, sequence, *t.completed);
  return e;
}

// The student's book and signals as of `now`: tasks created by then, and
// their completions by then, in time order.
std::pair<TaskBook, BehaviorSignals> as_of(const std::vector<Task>& tasks,
                                           SysClock::time_point now) {
  auto user = Uuid::random();
  std::vector<std::pair<SysClock::time_point, v1::TaskEvent>> timeline;
  for (const auto& t : tasks) {
    if (t.created > now) continue;
    timeline.emplace_back(t.created, created_event(user, t, 0));
    if (t.completed && *t.completed <= now)
      timeline.emplace_back(*t.completed, completed_event(user, t, 0));
  }
  std::stable_sort(timeline.begin(), timeline.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  TaskBook book;
  BehaviorSignals signals;
  uint64_t sequence = 0;
  for (auto& [when, e] : timeline) {
    e.set_sequence(++sequence);
    evolve(signals, e, book.find(e.task_id()));
    evolve(book, e);
  }
  return {std::move(book), std::move(signals)};
}

void predict(const Student& student, const PopulationRates& population, std::vector<Example>& out) {
  for (const auto& registration : student.registrations)
    for (size_t k = 1; k < registration.tasks.size(); ++k) {
      const Task& previous = student.tasks[registration.tasks[k - 1]];
      const Task& target = student.tasks[registration.tasks[k]];
      if (target.deadline_day <= previous.deadline_day) continue;
      if (target.submitted_day && *target.submitted_day <= previous.deadline_day) continue;
      auto now = registration.start + std::chrono::hours(24 * (previous.deadline_day + 1));
      auto [book, signals] = as_of(student.tasks, now);
      const auto* task = book.find(target.id);
      if (!task) continue;  // registered after the instant: nothing known yet
      uint64_t overdue = 0, due_so_far = 0, late_so_far = 0;
      for (const auto& [id, t] : book.tasks()) {
        if (id == target.id || !t.has_due_at() || coach::from_timestamp(t.due_at()) >= now)
          continue;
        ++due_so_far;
        bool done = t.status() == v1::TASK_STATUS_COMPLETED;
        overdue += !done;
        late_so_far +=
            !done || coach::from_timestamp(t.completed_at()) > coach::from_timestamp(t.due_at());
      }
      Example ex;
      ex.module = target.module;
      ex.type = target.type;
      ex.late = target.late;
      ex.risk = *risk_features(book, *task, now, population.rate(target.category, now));
      ex.user = features_of(signals, overdue);
      ex.share_late = (double(late_so_far) + 1) / (double(due_so_far) + 2);
      ex.urgency = urgency(target, now);
      out.push_back(std::move(ex));
    }
}

}  // namespace

Dataset read_oulad(const std::string& dir) {
  struct Assessment {
    std::string module, presentation, type;
    std::optional<int> date;
    double weight = 0;
  };
  std::unordered_map<std::string, Assessment> assessments;
  std::map<std::string, std::vector<std::string>> by_presentation;  // module/pres -> ids
  for (auto& r :
       read_table(dir + "/assessments.csv", {"code_module", "code_presentation", "id_assessment",
                                             "assessment_type", "date", "weight"})) {
    assessments[r.text(2)] = {r.text(0), r.text(1), r.text(3), r.day(4, "date"),
                              r.number(5, "weight")};
    by_presentation[r.text(0) + "/" + r.text(1)].push_back(r.text(2));
  }
  std::map<std::pair<std::string, std::string>, std::pair<int, bool>>
      submissions;  // (assessment, student) -> (day, banked)
  for (auto& r : read_table(dir + "/studentAssessment.csv",
                            {"id_assessment", "id_student", "date_submitted", "is_banked"}))
    if (auto d = r.day(2, "date_submitted"))
      submissions[{r.text(0), r.text(1)}] = {*d, r.text(3) == "1"};

  std::map<std::string, Student> students;
  PopulationRates population;
  Dataset out;
  for (auto& r : read_table(dir + "/studentRegistration.csv",
                            {"code_module", "code_presentation", "id_student", "date_registration",
                             "date_unregistration"})) {
    Registration registration;
    registration.start = presentation_start(r, 1);
    int registered = std::max(0, r.day(3, "date_registration").value_or(0));
    auto withdrew = r.day(4, "date_unregistration");
    auto& student = students[r.text(2)];
    for (const auto& id : by_presentation[r.text(0) + "/" + r.text(1)]) {
      const auto& a = assessments[id];
      if (!a.date || a.type == "Exam") continue;
      auto submitted = submissions.find({id, r.text(2)});
      if (submitted != submissions.end() && submitted->second.second) continue;  // banked
      if (withdrew && *a.date > *withdrew) continue;  // due after the student left
      bool has_submission = submitted != submissions.end();
      if (!has_submission && *a.date < registered) continue;  // due before they registered
      Task t;
      t.id = Uuid::derived(r.text(2) + "/" + r.text(1) + "/" + id).to_string();  // reproducible
      t.assessment = std::stoll("0" + id);
      t.module = a.module;
      t.type = a.type;
      t.category = a.module + "-" + a.type;
      t.priority = priority_of(a.weight);
      t.deadline_day = *a.date;
      t.due = registration.start + std::chrono::hours(24 * *a.date) + std::chrono::seconds(86399);
      t.created = std::min(registration.start + std::chrono::hours(24 * registered),
                           t.due - std::chrono::hours(1));
      if (has_submission) {
        t.submitted_day = submitted->second.first;
        t.completed = registration.start + std::chrono::hours(24 * *t.submitted_day + 12);
        // Submitted before the registration day (OULAD has such rows): the
        // task existed by then.
        t.created = std::min(t.created, *t.completed - std::chrono::hours(1));
      }
      t.late = !t.submitted_day || *t.submitted_day > *a.date;
      population.add(t.category, t.due, t.late);
      registration.tasks.push_back(student.tasks.size());
      student.tasks.push_back(std::move(t));
      ++out.tasks;
    }
    // Deadline order; a tie in the order of id_assessment, so that the
    // file's row order decides nothing.
    std::sort(registration.tasks.begin(), registration.tasks.end(), [&](size_t x, size_t y) {
      const auto &a = student.tasks[x], &b = student.tasks[y];
      return std::tie(a.deadline_day, a.assessment) < std::tie(b.deadline_day, b.assessment);
    });
    student.registrations.push_back(std::move(registration));
  }
  population.seal();
  out.students = students.size();
  for (const auto& [id, student] : students) predict(student, population, out.examples);
  return out;
}

}  // namespace coach::eval
