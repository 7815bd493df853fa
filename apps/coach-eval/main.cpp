// coach-eval: fits and evaluates the procrastination score on real deadline
// behavior (OULAD, shared/data/oulad, CC-BY 4.0: Kuzilek, Hlosta and Zdrahal,
// "Open University Learning Analytics dataset", Scientific Data 4, 170171).
//
//   coach-eval [--data DIR] [--write-model FILE]
//
// How OULAD becomes coach events (see its README):
// - a user is a student; a task is an assessment with a deadline the student
//   is registered for; presentations start on the 1st of February ("B") or
//   October ("J") of their year, UTC;
// - created at registration (day 0 at the earliest), due at the end of its
//   deadline day, category module + type, priority from the weight;
// - a submission completes it at noon of its day; banked marks are left out;
//   an assessment never submitted counts as late once its deadline passed,
//   unless the student withdrew before the deadline (then it is left out).
// Prediction, with no look-ahead: at each earlier deadline of the student,
// will their next task complete late? Features come from the student's events
// up to that moment, the predicted task's own events excluded.
#include <fmt/core.h>
#include <fmt/ranges.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <unordered_map>

#include "apps/common/table.h"
#include "events/envelope.h"
#include "projections/behavior_clusters.h"
#include "projections/behavior_signals.h"
#include "projections/procrastination_model.h"
#include "projections/schedule_planner.h"
#include "projections/task_book.h"
#include "simulator.h"

using namespace coach;
using namespace coach::projections;
using SysClock = std::chrono::system_clock;

namespace {

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
  std::string module, category;
  SysClock::time_point created, due;
  std::optional<SysClock::time_point> completed;
  int priority = 0;
  bool late = false;
};

// One prediction: features at the moment, and what happened.
struct Example {
  std::string module;
  Features x{};
  bool late = false;
  double share_late_so_far = 0;  // baseline: (late + overdue) / due so far
  double urgency = 0;            // baseline: Taskwarrior-style urgency
};

int priority_of(double weight) {
  return weight <= 0 ? 0 : weight <= 10 ? 1 : weight <= 20 ? 2 : weight <= 50 ? 3 : 4;
}

// Taskwarrior's urgency terms that apply here: due (12 x proximity, 0.2 at 14+
// days out, 1.0 when overdue), priority (H 6, M 3.9, L 1.8) and age (2 per year).
double urgency(const Task& t, SysClock::time_point now) {
  double days = std::chrono::duration<double>(t.due - now).count() / 86400;
  double due_term = days <= 0 ? 1.0 : days >= 14 ? 0.2 : 1.0 - 0.8 * days / 14;
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

// Every prediction for one student.
void predict_student(const std::vector<Task>& tasks, std::vector<Example>& out) {
  auto user = Uuid::random();
  std::vector<const Task*> by_due;
  for (const auto& t : tasks) by_due.push_back(&t);
  std::sort(by_due.begin(), by_due.end(), [](auto* a, auto* b) { return a->due < b->due; });
  for (size_t k = 1; k < by_due.size(); ++k) {
    const Task& target = *by_due[k];
    auto now = by_due[k - 1]->due;    // the previous deadline has just passed
    if (target.due <= now) continue;  // same deadline: nothing new is known
    // The student's events up to now, in time order, without the target's.
    std::vector<std::pair<SysClock::time_point, v1::TaskEvent>> timeline;
    uint64_t sequence = 0;
    for (const auto& t : tasks) {
      if (&t == &target) continue;
      if (t.created <= now) timeline.emplace_back(t.created, created_event(user, t, ++sequence));
      if (t.completed && *t.completed <= now && t.created <= now)
        timeline.emplace_back(*t.completed, completed_event(user, t, ++sequence));
    }
    std::stable_sort(timeline.begin(), timeline.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    BehaviorSignals signals;
    TaskBook book;
    for (auto& [when, e] : timeline) {
      evolve(signals, e, book.find(e.task_id()));
      evolve(book, e);
    }
    uint64_t overdue = 0, due_so_far = 0, late_so_far = 0;
    for (const auto& [id, t] : book.tasks()) {
      if (!t.has_due_at() || coach::from_timestamp(t.due_at()) > now) continue;
      ++due_so_far;
      if (t.status() != v1::TASK_STATUS_COMPLETED) ++overdue;
    }
    late_so_far = signals.late + overdue;
    Example ex;
    ex.module = target.module;
    ex.x = features_of(signals, overdue);
    ex.late = target.late;
    ex.share_late_so_far = due_so_far ? double(late_so_far) / double(due_so_far) : 0.5;
    ex.urgency = urgency(target, now);
    out.push_back(ex);
  }
}

// Area under the ROC curve (Mann-Whitney, ties counted half).
double auc(const std::vector<double>& score, const std::vector<bool>& positive) {
  std::vector<size_t> order(score.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return score[a] < score[b]; });
  double rank_sum = 0, positives = 0;
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j < order.size() && score[order[j]] == score[order[i]]) ++j;
    double rank = (i + j + 1) / 2.0;  // average rank, 1-based
    for (size_t m = i; m < j; ++m)
      if (positive[order[m]]) rank_sum += rank, ++positives;
    i = j;
  }
  double negatives = static_cast<double>(score.size()) - positives;
  if (positives == 0 || negatives == 0) return 0.5;
  return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives);
}

// Logistic regression by iteratively reweighted least squares, with a small
// ridge (1e-3) so rare features stay finite.
ProcrastinationModel fit(const std::vector<const Example*>& data, const std::string& version) {
  constexpr size_t P = kFeatureCount + 1;
  std::array<double, P> w{};
  for (int iteration = 0; iteration < 25; ++iteration) {
    std::array<std::array<double, P>, P> H{};
    std::array<double, P> g{};
    for (const auto* ex : data) {
      std::array<double, P> x{};
      x[0] = 1;
      for (size_t i = 0; i < kFeatureCount; ++i) x[i + 1] = ex->x[i];
      double z = 0;
      for (size_t i = 0; i < P; ++i) z += w[i] * x[i];
      double p = 1 / (1 + std::exp(-z)), r = p * (1 - p);
      for (size_t i = 0; i < P; ++i) {
        g[i] += (p - (ex->late ? 1 : 0)) * x[i];
        for (size_t j = 0; j < P; ++j) H[i][j] += r * x[i] * x[j];
      }
    }
    for (size_t i = 0; i < P; ++i) {
      H[i][i] += 1e-3;
      g[i] += 1e-3 * w[i];
    }
    // Solve H d = g (Gaussian elimination with partial pivoting); w -= d.
    for (size_t c = 0; c < P; ++c) {
      size_t pivot = c;
      for (size_t r2 = c + 1; r2 < P; ++r2)
        if (std::abs(H[r2][c]) > std::abs(H[pivot][c])) pivot = r2;
      std::swap(H[c], H[pivot]);
      std::swap(g[c], g[pivot]);
      for (size_t r2 = c + 1; r2 < P; ++r2) {
        double f = H[r2][c] / H[c][c];
        for (size_t k = c; k < P; ++k) H[r2][k] -= f * H[c][k];
        g[r2] -= f * g[c];
      }
    }
    std::array<double, P> d{};
    for (size_t c = P; c-- > 0;) {
      double sum = g[c];
      for (size_t k = c + 1; k < P; ++k) sum -= H[c][k] * d[k];
      d[c] = sum / H[c][c];
    }
    for (size_t i = 0; i < P; ++i) w[i] -= d[i];
  }
  ProcrastinationModel m;
  m.version = version;
  m.bias = w[0];
  for (size_t i = 0; i < kFeatureCount; ++i) m.weights[i] = w[i + 1];
  for (const auto* ex : data)
    for (size_t i = 0; i < kFeatureCount; ++i) m.reference[i] += ex->x[i] / double(data.size());
  return m;
}

// Reliability by decile of the score: mean predicted vs observed rate.
void print_calibration(const char* what, const std::vector<double>& p, const std::vector<bool>& y) {
  fmt::print("\ncalibration of {}, by decile of the score\n", what);
  fmt::print("{:>6} {:>8} {:>14} {:>13}\n", "decile", "n", "mean predicted", "observed late");
  std::vector<size_t> order(p.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a] < p[b]; });
  for (int d = 0; d < 10; ++d) {
    size_t from = order.size() * size_t(d) / 10, to = order.size() * size_t(d + 1) / 10;
    double predicted = 0, observed = 0;
    for (size_t i = from; i < to; ++i) predicted += p[order[i]], observed += y[order[i]];
    double n = std::max(1.0, double(to - from));
    fmt::print("{:>6} {:>8} {:>14.3f} {:>13.3f}\n", d + 1, to - from, predicted / n, observed / n);
  }
}

// Prints the simulator figures; false when the score or the clusters do not
// beat their baselines.
bool simulator_report(int per_archetype) {
  std::vector<double> score, share;
  std::vector<bool> late;
  std::vector<ModeFeatures> features;
  std::vector<std::vector<double>> late_only;
  std::vector<int> truth;
  const auto& model = ProcrastinationModel::builtin();
  for (size_t a = 0; a < sim::kArchetypes.size(); ++a)
    for (int i = 0; i < per_archetype; ++i) {
      auto user = sim::simulate(int(a), a * 1000003 + uint64_t(i));
      BehaviorSignals signals;
      TaskBook book;
      std::map<std::string, std::pair<double, double>> predicted;  // task -> (score, share)
      for (const auto& e : user.events) {
        auto now = coach::from_timestamp(e.created_at());
        if (e.has_task_created() && e.task_created().fields().has_due_at()) {
          uint64_t overdue = 0, due_so_far = 0;
          for (const auto& [id, t] : book.tasks())
            if (t.has_due_at() && coach::from_timestamp(t.due_at()) < now) {
              ++due_so_far;
              if (t.status() != v1::TASK_STATUS_COMPLETED) ++overdue;
            }
          predicted[e.task_id()] = {
              model.score(features_of(signals, overdue)),
              due_so_far ? double(signals.late + overdue) / double(due_so_far) : 0.5};
        }
        evolve(signals, e, book.find(e.task_id()));
        evolve(book, e);
      }
      for (const auto& [id, p] : predicted) {
        const auto* t = book.find(id);
        bool was_late =
            t->status() != v1::TASK_STATUS_COMPLETED ||
            coach::from_timestamp(t->completed_at()) > coach::from_timestamp(t->due_at());
        score.push_back(p.first), share.push_back(p.second), late.push_back(was_late);
      }
      features.push_back(mode_features_of(signals));
      late_only.push_back({signals.share_late()});
      truth.push_back(int(a));
    }
  fmt::print("\nsimulator: {} users ({} per archetype: {}), {} predictions at task creation\n",
             truth.size(), per_archetype, fmt::join(sim::kArchetypes, ", "), late.size());
  double auc_score = auc(score, late), auc_share = auc(share, late);
  fmt::print("AUC next task late: score {:.3f}, share-late {:.3f}\n", auc_score, auc_share);
  print_calibration("the simulator's scores", score, late);
  // The same clustering the batch job runs (projections/behavior_clusters.h).
  auto modes = ClusterModel::fit(features);
  if (!modes) {
    fmt::print(stderr, "clustering failed: {}\n", modes.error().message);
    return false;
  }
  std::vector<int> labels;
  for (const auto& x : features) labels.push_back(modes->assign(x));
  int k = modes->k();
  auto baseline = kmeans(late_only, k, 7);
  fmt::print(
      "behavior clusters: k = {} (best mean silhouette {:.3f} over k = 2..8); adjusted Rand "
      "index vs true archetypes {:.3f} (share-late alone, same k: {:.3f})\n",
      k, modes->silhouette(), adjusted_rand(labels, truth), adjusted_rand(baseline, truth));
  for (int c = 0; c < k; ++c) {
    std::map<int, int> members;
    for (size_t i = 0; i < labels.size(); ++i)
      if (labels[i] == c) ++members[truth[i]];
    std::vector<std::string> parts;
    for (auto [a, n] : members)
      parts.push_back(fmt::format("{} {}", sim::kArchetypes[size_t(a)], n));
    fmt::print("  cluster {} \"{}\": {}\n", c, modes->name(c), fmt::join(parts, ", "));
  }
  return auc_score > auc_share && adjusted_rand(labels, truth) > adjusted_rand(baseline, truth);
}

}  // namespace

namespace {

// The scheduling feedback loop on simulated users (issue #6). Each user has
// hidden hour preferences: a chance to accept a block by the local hour it
// starts (morning, afternoon or evening people, 0.85 inside their hours,
// 0.15 outside). Every simulated day coach plans their pending tasks (work
// hours 08:00-20:00 every day), the user answers that day's blocks, coach
// folds the answers into its hour feedback, and accepted work is done and
// replaced by new work. Prints acceptance by confidence bin and over time.
void schedule_feedback_report(int users, int days) {
  std::mt19937_64 rng(11);
  std::array<int, 5> shown{}, taken{};
  std::vector<int> day_shown(static_cast<size_t>(days)), day_taken(static_cast<size_t>(days));
  auto start = SysClock::from_time_t(1772323200);  // 2026-03-01 00:00 UTC
  for (int u = 0; u < users; ++u) {
    int kind = u % 3;  // 0 mornings, 1 afternoons, 2 evenings
    PlanRequest r;
    for (int d = 1; d <= 7; ++d) {
      auto* w = r.work_hours.add_windows();
      w->set_weekday(static_cast<v1::Weekday>(d));
      w->set_start_minute(8 * 60);
      w->set_end_minute(20 * 60);
    }
    r.horizon = std::chrono::hours(48);
    auto new_task = [&](SysClock::time_point now) {
      v1::Task t;
      t.set_id(new_uuid_string());
      t.set_title("work");
      t.set_status(v1::TASK_STATUS_PENDING);
      t.set_estimated_minutes(60);
      *t.mutable_due_at() = coach::to_timestamp(now + std::chrono::hours(24 * 5));
      *t.mutable_created_at() = coach::to_timestamp(now);
      return t;
    };
    for (int i = 0; i < 4; ++i) r.tasks.push_back(new_task(start));
    for (int day = 0; day < days; ++day) {
      r.now = start + std::chrono::hours(24 * day + 7);
      auto plan = plan_schedule(r);
      auto day_end = start + std::chrono::hours(24 * (day + 1));
      for (const auto& b : plan.blocks) {
        if (b.start >= day_end) continue;
        int hour = static_cast<int>(
            std::chrono::duration_cast<std::chrono::hours>(b.start - start).count() % 24);
        bool liked = hour >= 8 + 4 * kind && hour < 12 + 4 * kind;
        bool accept = std::uniform_real_distribution<>(0, 1)(rng) < (liked ? 0.85 : 0.15);
        size_t bin = std::min<size_t>(4, static_cast<size_t>(b.confidence * 5));
        ++shown[bin], ++day_shown[static_cast<size_t>(day)];
        auto h = static_cast<size_t>(hour);
        if (accept) {
          ++taken[bin], ++day_taken[static_cast<size_t>(day)];
          ++r.feedback.accepted[h];
          std::erase_if(r.tasks, [&](const v1::Task& t) { return t.id() == b.task_id; });
          r.tasks.push_back(new_task(r.now));
        } else {
          ++r.feedback.rejected[h];
        }
      }
    }
  }
  fmt::print(
      "\nscheduling feedback loop: {} simulated users x {} days (hidden morning, afternoon "
      "or evening preference)\n",
      users, days);
  fmt::print("{:>16} {:>8} {:>16}\n", "confidence", "blocks", "acceptance rate");
  for (size_t b = 0; b < 5; ++b)
    fmt::print("{:>9.1f} - {:.1f} {:>8} {:>16.3f}\n", b / 5.0, (b + 1) / 5.0, shown[b],
               shown[b] ? double(taken[b]) / shown[b] : 0.0);
  auto rate = [&](int from, int to) {
    int s = 0, t = 0;
    for (int d = from; d < to; ++d)
      s += day_shown[static_cast<size_t>(d)], t += day_taken[static_cast<size_t>(d)];
    return s ? double(t) / s : 0.0;
  };
  int week = std::min(7, days / 2);
  fmt::print("acceptance, first {} days {:.3f}, last {} days {:.3f}\n", week, rate(0, week), week,
             rate(days - week, days));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"coach-eval: fit and evaluate the procrastination score on OULAD"};
  std::string dir = "../shared/data/oulad", write_model;
  app.add_option("--data", dir, "the OULAD folder")->capture_default_str();
  app.add_option("--write-model", write_model, "fit on all modules and write the model here");
  bool require_better = false;
  int simulated = 50;
  app.add_option("--simulate", simulated, "simulated users per archetype (0: none)")
      ->capture_default_str();
  app.add_flag("--require-better", require_better,
               "exit 1 unless the score beats the share-late baseline in every held-out module");
  bool skip_without_data = false;
  app.add_flag("--skip-without-data", skip_without_data,
               "exit 77 (a test runner's \"skipped\") when DIR has no assessments.csv");
  CLI11_PARSE(app, argc, argv);
  if (skip_without_data && !std::filesystem::exists(dir + "/assessments.csv")) {
    fmt::print("coach-eval: no OULAD data in {}: skipped\n", dir);
    return 77;
  }

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
      submissions;  // (assessment, student)
  for (auto& r : read_table(dir + "/studentAssessment.csv",
                            {"id_assessment", "id_student", "date_submitted", "is_banked"}))
    if (auto d = r.day(2, "date_submitted"))
      submissions[{r.text(0), r.text(1)}] = {*d, r.text(3) == "1"};

  std::map<std::string, std::vector<Task>> students;
  for (auto& r : read_table(dir + "/studentRegistration.csv",
                            {"code_module", "code_presentation", "id_student", "date_registration",
                             "date_unregistration"})) {
    auto start = presentation_start(r, 1);
    int registered = std::max(0, r.day(3, "date_registration").value_or(0));
    auto withdrew = r.day(4, "date_unregistration");
    for (const auto& id : by_presentation[r.text(0) + "/" + r.text(1)]) {
      const auto& a = assessments[id];
      if (!a.date) continue;  // no deadline
      auto submitted = submissions.find({id, r.text(2)});
      if (submitted != submissions.end() && submitted->second.second) continue;  // banked
      bool has_submission = submitted != submissions.end();
      if (!has_submission && withdrew && *withdrew < *a.date) continue;  // left before it was due
      Task t;
      t.id = new_uuid_string();
      t.module = a.module;
      t.category = a.module + "-" + a.type;
      t.priority = priority_of(a.weight);
      t.due = start + std::chrono::hours(24 * *a.date) + std::chrono::seconds(86399);
      t.created =
          std::min(start + std::chrono::hours(24 * registered), t.due - std::chrono::hours(1));
      if (has_submission)
        t.completed = start + std::chrono::hours(24 * submitted->second.first + 12);
      t.late = !has_submission || submitted->second.first > *a.date;
      students[r.text(2)].push_back(std::move(t));
    }
  }
  std::vector<Example> examples;
  for (const auto& [student, tasks] : students) predict_student(tasks, examples);
  fmt::print("OULAD (CC-BY 4.0, Kuzilek et al. 2017): {} students, {} predictions\n",
             students.size(), examples.size());

  std::vector<std::string> modules;
  for (const auto& e : examples)
    if (std::find(modules.begin(), modules.end(), e.module) == modules.end())
      modules.push_back(e.module);
  std::sort(modules.begin(), modules.end());

  fmt::print("\nleave-one-module-out: fit on the other modules, score the held-out one\n");
  fmt::print("{:<7} {:>7} {:>9}  {:>11} {:>15} {:>12}\n", "module", "n", "late rate", "AUC score",
             "AUC share-late", "AUC urgency");
  std::vector<double> pooled_p;
  std::vector<bool> pooled_y;
  int worse = 0;
  for (const auto& held_out : modules) {
    std::vector<const Example*> train;
    for (const auto& e : examples)
      if (e.module != held_out) train.push_back(&e);
    auto model = fit(train, "lomo");
    std::vector<double> p, share, urg;
    std::vector<bool> y;
    for (const auto& e : examples) {
      if (e.module != held_out) continue;
      p.push_back(model.score(e.x));
      share.push_back(e.share_late_so_far);
      urg.push_back(e.urgency);
      y.push_back(e.late);
    }
    double rate = double(std::count(y.begin(), y.end(), true)) / double(y.size());
    double auc_score = auc(p, y), auc_share = auc(share, y);
    worse += auc_score <= auc_share;
    fmt::print("{:<7} {:>7} {:>9.3f}  {:>11.3f} {:>15.3f} {:>12.3f}\n", held_out, y.size(), rate,
               auc_score, auc_share, auc(urg, y));
    pooled_p.insert(pooled_p.end(), p.begin(), p.end());
    pooled_y.insert(pooled_y.end(), y.begin(), y.end());
  }

  print_calibration("the held-out scores", pooled_p, pooled_y);

  if (!write_model.empty()) {
    std::vector<const Example*> all;
    for (const auto& e : examples) all.push_back(&e);
    auto model = fit(all, "v1");
    std::ofstream out(write_model);
    out << "# Fitted by: build/apps/coach-eval/coach-eval --write-model " << write_model << "\n"
        << "# on OULAD (CC-BY 4.0, Kuzilek et al. 2017), " << examples.size()
        << " predictions, all four modules; logistic regression by IRLS, ridge 1e-3.\n"
        << model.to_text();
    fmt::print("\nwrote {}\n", write_model);
  }
  if (simulated > 0 && !simulator_report(simulated)) ++worse;
  if (simulated > 0) schedule_feedback_report(simulated * 2, 28);
  if (require_better && worse > 0) {
    fmt::print(stderr, "coach-eval: the score does not beat share-late in {} module(s)\n", worse);
    return 1;
  }
  return 0;
}
