// coach-replay: analysts replay users' event logs into projections, read
// only, while coachd runs or not (issue #5).
//
//   coach-replay tasks  [--user U]   the task table
//   coach-replay daily  [--user U]   the daily FeatureSnapshot series
//   coach-replay scores [--user U]   the score after every event (tracking on)
//   coach-replay metrics --from T --to T [--view weekly|daily|retention|ratings|personas|trial]
//                                    success metrics over users, aggregates only:
//                                    groups under --min-users are left out
//                                    (docs/metrics.md)
//   coach-replay join --rows F.csv   features of (user_id, timestamp) rows, each
//                                    computed only from events at or before that
//                                    instant; with a task_id column, that task's
//                                    lateness risk then too
//
// --model-version / --model-file re-score history with another model (what
// if). Output: CSV (default) or --format json. Needs an analyst's or admin's
// token and the node's master key (offline/offline_access.h).
// Exit codes: 0 done; 1 an error; 2 bad usage or bad rows (with --strict).
#include <google/protobuf/util/time_util.h>

#include <fmt/core.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "apps/common/secret_file.h"
#include "apps/common/table.h"
#include "events/envelope.h"
#include "offline/offline_access.h"
#include "projections/feature_series.h"
#include "projections/lateness_risk.h"
#include "projections/metrics_report.h"

using namespace coach;
using google::protobuf::util::TimeUtil;
using SystemClock = std::chrono::system_clock;

namespace {

struct Flags {
  actors::OfflineAccess access;
  std::string user;
  std::string format = "csv";
  std::string model_version;
  std::string model_file;
  std::string models_dir = "models";
  std::string risk_model_version = "v1";
  std::string rows_file;
  bool strict = false;
  std::string from, to, view = "weekly";
  uint32_t min_users = 5;
};

int fail(const Error& error) {
  fmt::print(stderr, "coach-replay: {}: {}\n", errc_name(error.code), error.message);
  return 1;
}

Result<projections::ProcrastinationModel> load_model(const Flags& f) {
  const auto& builtin = projections::ProcrastinationModel::builtin();
  std::string path = f.model_file;
  if (path.empty() && !f.model_version.empty() && f.model_version != builtin.version)
    path = f.models_dir + "/procrastination-" + f.model_version + ".txt";
  if (path.empty()) return builtin;
  std::ifstream in(path);
  if (!in) return make_error(Errc::not_found, "no model file " + path);
  std::stringstream text;
  text << in.rdbuf();
  auto model = projections::ProcrastinationModel::parse(text.str());
  if (!model) return make_error(model.error().code, path + ": " + model.error().message);
  return model;
}

// The per-task risk model models/lateness-<version>.txt (lateness_risk.h).
Result<projections::LogisticModel> load_risk_model(const Flags& f) {
  std::string path = f.models_dir + "/lateness-" + f.risk_model_version + ".txt";
  std::ifstream in(path);
  if (!in) return make_error(Errc::not_found, "no risk model file " + path + " (--models-dir)");
  std::stringstream text;
  text << in.rdbuf();
  auto model = projections::LogisticModel::parse(text.str(), projections::kTaskRiskFeatureNames);
  if (!model) return make_error(model.error().code, path + ": " + model.error().message);
  return model;
}

// The population's category late rates over every tracked user's tasks
// (projections::PopulationRates: a task counts once it is due).
Result<projections::PopulationRates> population_of(const events::EventStore& store) {
  auto users = store.users();
  if (!users) return users.error();
  projections::PopulationRates rates;
  for (const auto& user : *users) {
    auto log = store.read(user);
    if (!log) continue;  // erased, or never wrote
    projections::UserState state;
    for (const auto& e : *log) state.fold(e);
    if (state.signals) projections::add_population(rates, state.tasks);
  }
  rates.seal();
  return rates;
}

Result<std::vector<Uuid>> users_of(const events::EventStore& store, const std::string& user) {
  if (user.empty()) return store.users();
  auto id = Uuid::parse(user, "--user");
  if (!id) return id.error();
  return std::vector<Uuid>{*id};
}

std::string lowercase(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string time_cell(const google::protobuf::Timestamp& t) {
  return t.seconds() == 0 && t.nanos() == 0 ? "" : TimeUtil::ToString(t);
}

std::vector<std::string> feature_columns() {
  std::vector<std::string> c = {"procrastination_score", "snooze_rate", "completion_latency_avg",
                                "burstiness_index"};
  for (auto name : projections::kModeFeatureNames) c.push_back("mode_" + std::string(name));
  return c;
}

void add_features(std::vector<std::string>& row, const v1::FeatureSnapshot& s) {
  for (double v : {s.procrastination_score(), s.snooze_rate(), s.completion_latency_avg(),
                   s.burstiness_index()})
    row.push_back(apps::number(v));
  for (double v : s.mode_features()) row.push_back(apps::number(v));
}

// Calls fold(user, events) for every selected user with a readable log.
template <class Fold>
Status for_each_log(const events::EventStore& store, const std::string& user, Fold fold) {
  auto users = users_of(store, user);
  if (!users) return users.error();
  for (const auto& id : *users) {
    auto log = store.read(id);
    if (!log) {
      if (log.error().code == Errc::unknown_stream && user.empty()) continue;
      return log.error();
    }
    fold(id, *log);
  }
  return Ok{};
}

Status print_tasks(const events::EventStore& store, const Flags& f, apps::TableFormat format) {
  apps::TablePrinter out(
      stdout, format,
      {"user_id", "task_id", "title", "category", "status", "priority", "estimated_minutes",
       "created_at", "due_at", "completed_at", "snooze_count", "edit_count"},
      {false, false, false, false, false, true, true, false, false, false, true, true});
  return for_each_log(store, f.user, [&](const Uuid& id, const std::vector<v1::TaskEvent>& log) {
    projections::TaskBook book;
    for (const auto& e : log) projections::evolve(book, e);
    std::vector<const v1::Task*> tasks;
    for (const auto& [task_id, task] : book.tasks()) tasks.push_back(&task);
    std::sort(tasks.begin(), tasks.end(), [](const v1::Task* a, const v1::Task* b) {
      return TimeUtil::TimestampToNanoseconds(a->created_at()) <
             TimeUtil::TimestampToNanoseconds(b->created_at());
    });
    for (const auto* t : tasks)
      out.row({id.to_string(), t->id(), t->title(), t->category(),
               lowercase(v1::TaskStatus_Name(t->status()).substr(12)),
               std::to_string(t->priority()), std::to_string(t->estimated_minutes()),
               time_cell(t->created_at()), time_cell(t->due_at()), time_cell(t->completed_at()),
               std::to_string(t->snooze_count()), std::to_string(t->edit_count())});
  });
}

Status print_daily(const events::EventStore& store, const Flags& f,
                   const projections::ProcrastinationModel& model, apps::TableFormat format) {
  std::vector<std::string> columns = {"user_id", "as_of", "as_of_sequence", "model_version"};
  for (auto& c : feature_columns()) columns.push_back(c);
  std::vector<bool> numeric(columns.size(), true);
  numeric[0] = numeric[1] = numeric[3] = false;
  apps::TablePrinter out(stdout, format, columns, numeric);
  auto now = SystemClock::now();
  return for_each_log(store, f.user, [&](const Uuid& id, const std::vector<v1::TaskEvent>& log) {
    projections::FeatureSeries series(id.to_string(), model);
    std::vector<v1::FeatureSnapshot> daily;
    for (const auto& e : log) series.fold(e, daily);
    series.finish(now, daily);
    for (const auto& s : daily) {
      std::vector<std::string> row = {id.to_string(), time_cell(s.created_at()),
                                      std::to_string(s.as_of_sequence()), s.model_version()};
      add_features(row, s);
      out.row(row);
    }
  });
}

Status print_scores(const events::EventStore& store, const Flags& f,
                    const projections::ProcrastinationModel& model, apps::TableFormat format) {
  apps::TablePrinter out(
      stdout, format,
      {"user_id", "sequence", "at", "event_type", "model_version", "procrastination_score"},
      {false, true, false, false, false, true});
  return for_each_log(store, f.user, [&](const Uuid& id, const std::vector<v1::TaskEvent>& log) {
    projections::UserState state;
    for (const auto& e : log) {
      state.fold(e);
      if (!state.signals) continue;
      auto at = coach::from_timestamp(e.created_at());
      auto s = projections::feature_snapshot(state, at, model);
      out.row({id.to_string(), std::to_string(e.sequence()), time_cell(e.created_at()),
               v1::EventType_Name(e.event_type()), model.version,
               apps::number(s.procrastination_score())});
    }
  });
}

// An RFC 3339 time given as `flag`.
Result<Clock::time_point> instant_of(const std::string& text, const char* flag) {
  google::protobuf::Timestamp t;
  if (!TimeUtil::FromString(text, &t))
    return make_error(Errc::invalid_argument,
                      std::string(flag) +
                          " must be an RFC 3339 time like 2026-03-01T00:00:00Z, got \"" +
                          text.substr(0, 64) + "\"");
  return from_timestamp(t);
}

// An enum value's name without its prefix, lower case; the number when the
// build does not know it.
std::string enum_cell(const std::string& name, const std::string& prefix, int value) {
  if (name.rfind(prefix, 0) != 0) return std::to_string(value);
  return lowercase(name.substr(prefix.size()));
}

std::string optional_cell(bool has, double v) {
  return has ? apps::number(v) : "";
}

void print_report(const v1::MetricsReport& r, const std::string& view, apps::TableFormat format) {
  using apps::number;
  auto n = [](uint64_t v) { return std::to_string(v); };
  if (view == "weekly" || view == "daily") {
    bool daily = view == "daily";
    apps::TablePrinter out(stdout, format,
                           {daily ? "day" : "week", "users", "active_users", "completion_rate",
                            "overdue_share", "snooze_rate", "long_snooze_chains",
                            "nudges_delivered", "nudge_engagement", "misfire_rate"},
                           {false, true, true, true, true, true, true, true, true, true});
    for (const auto& w : daily ? r.days() : r.weeks())
      out.row({daily ? w.day() : w.week(), n(w.users()), n(w.active_users()),
               optional_cell(w.has_completion_rate(), w.completion_rate()),
               optional_cell(w.has_overdue_share(), w.overdue_share()),
               optional_cell(w.has_snooze_rate(), w.snooze_rate()), n(w.long_snooze_chains()),
               n(w.nudges_delivered()),
               optional_cell(w.has_nudge_engagement(), w.nudge_engagement()),
               optional_cell(w.has_misfire_rate(), w.misfire_rate())});
  } else if (view == "retention") {
    size_t width = 0;
    for (const auto& c : r.cohorts()) width = std::max<size_t>(width, c.retained_size());
    std::vector<std::string> columns = {"cohort", "users", "dropoff_known", "dropped_off"};
    for (size_t k = 0; k < width; ++k) columns.push_back("week_" + std::to_string(k));
    std::vector<bool> numeric(columns.size(), true);
    numeric[0] = false;
    apps::TablePrinter out(stdout, format, columns, numeric);
    for (const auto& c : r.cohorts()) {
      std::vector<std::string> cells = {c.week(), n(c.users()), n(c.dropoff_known()),
                                        n(c.dropped_off())};
      for (size_t k = 0; k < width; ++k)
        cells.push_back(k < static_cast<size_t>(c.retained_size()) ? number(c.retained(k)) : "");
      out.row(cells);
    }
  } else if (view == "ratings") {
    apps::TablePrinter out(stdout, format,
                           {"mode", "persona", "users", "ratings", "mean_usefulness"},
                           {false, false, true, true, true});
    for (const auto& x : r.ratings())
      out.row({enum_cell(v1::CoachingMode_Name(x.mode()), "COACHING_MODE_", x.mode()),
               enum_cell(v1::PersonaType_Name(x.persona()), "PERSONA_TYPE_", x.persona()),
               n(x.users()), n(x.ratings()), number(x.mean_usefulness())});
  } else if (view == "personas") {
    apps::TablePrinter out(stdout, format, {"persona", "users", "delivered", "engagement"},
                           {false, true, true, true});
    for (const auto& x : r.personas())
      out.row({enum_cell(v1::PersonaType_Name(x.persona()), "PERSONA_TYPE_", x.persona()),
               n(x.users()), n(x.delivered()),
               x.delivered() ? number(static_cast<double>(x.engaged()) / x.delivered()) : ""});
  } else {
    apps::TablePrinter out(stdout, format,
                           {"group", "users", "sent", "held_back", "acted_sent", "acted_held_back",
                            "effect", "low90", "high90"},
                           {false, true, true, true, true, true, true, true, true});
    for (const auto& x : r.effects())
      out.row({x.group(), n(x.users()), n(x.sent()), n(x.held_back()), n(x.acted_sent()),
               n(x.acted_held_back()), optional_cell(x.has_effect(), x.effect()),
               optional_cell(x.has_low90(), x.low90()), optional_cell(x.has_high90(), x.high90())});
  }
}

Status print_metrics(const events::EventStore& store, const Flags& f, apps::TableFormat format) {
  if (!f.user.empty())
    return make_error(Errc::invalid_argument,
                      "metrics are figures over users, never one user's: drop --user");
  projections::ReportOptions options;
  auto from = instant_of(f.from, "--from");
  if (!from) return from.error();
  auto to = f.to.empty() ? Result<Clock::time_point>(SystemClock::now()) : instant_of(f.to, "--to");
  if (!to) return to.error();
  if (*to < *from) return make_error(Errc::invalid_argument, "--to is before --from");
  options.from = *from;
  options.to = *to;
  options.min_users = f.min_users;
  projections::MetricsReportBuilder builder(options);
  auto done =
      for_each_log(store, f.user, [&](const Uuid& id, const std::vector<v1::TaskEvent>& log) {
        builder.add(id.to_string(), log);
      });
  if (!done) return done;
  auto report = builder.build();
  fmt::print(stderr,
             "coach-replay: metrics of {} users, {} groups under {} users left out, and {} days\n",
             report.users(), report.suppressed(), report.min_users(), report.suppressed_days());
  print_report(report, f.view, format);
  return Ok{};
}

// The point-in-time join: each row's features from the user's events with
// created_at <= the row's timestamp, and nothing later.
int print_join(const events::EventStore& store, const Flags& f,
               const projections::ProcrastinationModel& model, apps::TableFormat format) {
  auto file = apps::read_csv(f.rows_file);
  if (!file) return fail(file.error());
  int user_col = file->column("user_id"), time_col = file->column("timestamp"),
      task_col = file->column("task_id");  // optional
  if (user_col < 0 || time_col < 0)
    return fail(make_error(Errc::invalid_argument,
                           f.rows_file + ": the header needs columns user_id and timestamp"));
  struct Query {
    size_t index;
    Uuid user;
    google::protobuf::Timestamp at;
    std::string task_id;  // empty: no task asked for
  };
  std::vector<Query> queries;
  std::vector<std::string> bad;
  for (size_t i = 0; i < file->rows.size(); ++i) {
    const auto& row = file->rows[i];
    auto cell = [&](int col) {
      return static_cast<size_t>(col) < row.cells.size() ? row.cells[static_cast<size_t>(col)]
                                                         : std::string();
    };
    auto user = Uuid::parse(cell(user_col), "user_id");
    // A task id as imported: a UUID as given, or coach-import's stable
    // UUID of the user's own id (apps/coach-import/importer.cpp).
    std::string task = task_col >= 0 ? cell(task_col) : std::string();
    auto task_id = task.empty() ? Result<Uuid>(Uuid{}) : Uuid::parse(task, "task_id");
    if (!task.empty() && !task_id && user && task.size() <= 128)
      task_id = Uuid::derived(user->to_string() + '\0' + task);
    google::protobuf::Timestamp at;
    if (!user)
      bad.push_back(fmt::format("{} line {}: {}", f.rows_file, row.line, user.error().message));
    else if (!task_id)
      bad.push_back(fmt::format("{} line {}: {}", f.rows_file, row.line, task_id.error().message));
    else if (!TimeUtil::FromString(cell(time_col), &at))
      bad.push_back(
          fmt::format("{} line {}: timestamp \"{}\" is not RFC 3339 (2026-03-01T12:00:00Z)",
                      f.rows_file, row.line, cell(time_col)));
    else
      queries.push_back({i, *user, at, task.empty() ? "" : task_id->to_string()});
  }
  for (const auto& b : bad) fmt::print(stderr, "coach-replay: {}\n", b);
  if (!bad.empty() && f.strict) {
    fmt::print(stderr, "coach-replay: {} bad rows; nothing printed (--strict)\n", bad.size());
    return 2;
  }
  // Rows naming a task get its lateness risk: the model, and the
  // population's rates, are read only then.
  bool asks_tasks = std::any_of(queries.begin(), queries.end(),
                                [](const Query& q) { return !q.task_id.empty(); });
  std::optional<projections::LogisticModel> risk_model;
  std::optional<projections::PopulationRates> population;
  if (asks_tasks) {
    auto loaded = load_risk_model(f);
    if (!loaded) return fail(loaded.error());
    risk_model = std::move(*loaded);
    auto rates = population_of(store);
    if (!rates) return fail(rates.error());
    population = std::move(*rates);
  }
  // The task's risk as of `at`, or "" (no task asked, tracking off, no such
  // task then, not open then, or no due date).
  auto risk_cell = [&](const projections::UserState& state, const Query& q,
                       SystemClock::time_point at) -> std::string {
    if (q.task_id.empty() || !state.signals) return "";
    const auto* task = state.tasks.find(q.task_id);
    if (!task) return "";
    auto risk = projections::task_risk(*risk_model, state.tasks, *task, at,
                                       population->rate(task->category(), at));
    return risk ? apps::number(*risk) : "";
  };
  // Answer each user's rows in time order with one pass over their log.
  std::vector<std::vector<std::string>> answers(file->rows.size());
  std::map<Uuid, std::vector<const Query*>> by_user;
  for (const auto& q : queries) by_user[q.user].push_back(&q);
  for (auto& [user, rows] : by_user) {
    std::stable_sort(rows.begin(), rows.end(), [](const Query* a, const Query* b) {
      return TimeUtil::TimestampToNanoseconds(a->at) < TimeUtil::TimestampToNanoseconds(b->at);
    });
    auto log = store.read(user);
    std::vector<v1::TaskEvent> events = log ? std::move(*log) : std::vector<v1::TaskEvent>{};
    projections::UserState state;
    size_t next = 0;
    for (const auto* q : rows) {
      auto at = coach::from_timestamp(q->at);
      while (next < events.size() && coach::from_timestamp(events[next].created_at()) <= at)
        state.fold(events[next++]);
      auto& answer = answers[q->index];
      answer = {user.to_string(), TimeUtil::ToString(q->at)};
      if (!state.signals) {
        answer.insert(answer.end(), {"false", std::to_string(state.version), ""});
        answer.resize(answer.size() + feature_columns().size());
      } else {
        auto s = projections::feature_snapshot(state, at, model);
        answer.insert(answer.end(), {"true", std::to_string(state.version), model.version});
        add_features(answer, s);
      }
      auto risk = risk_cell(state, *q, at);
      answer.insert(answer.end(), {q->task_id, risk, risk.empty() ? "" : risk_model->version});
    }
  }
  std::vector<std::string> columns = {"user_id", "timestamp", "found", "as_of_sequence",
                                      "model_version"};
  for (auto& c : feature_columns()) columns.push_back(c);
  for (const char* c : {"task_id", "task_risk", "risk_model_version"}) columns.push_back(c);
  std::vector<bool> numeric(columns.size(), true);
  numeric[0] = numeric[1] = numeric[4] = false;
  numeric[columns.size() - 3] = numeric[columns.size() - 1] = false;
  {
    apps::TablePrinter out(stdout, format, columns, numeric);
    for (const auto& answer : answers)
      if (!answer.empty()) out.row(answer);
  }
  return bad.empty() ? 0 : 2;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"coach-replay: fold users' event logs into projections, read only"};
  app.fallthrough();  // global options may follow the subcommand too (set before them)
  Flags f;
  if (const char* t = std::getenv("COACH_TOKEN")) f.access.token = t;
  f.access.data_dir = ".coach/data";
  app.add_option("--data-dir", f.access.data_dir, "coachd's data dir")->capture_default_str();
  app.add_option("--master-key-file", f.access.master_key_file,
                 "the node's master key (default: master.key beside the data dir)");
  app.add_option(
      "--token-key-file", f.access.token_key_file,
      "the node's token key, to check the token (default: token.key beside the data dir)");
  std::string token_file;
  app.add_option("--token-file", token_file,
                 "file holding an analyst's or admin's token, mode 0600; or set COACH_TOKEN")
      ->each([&](const std::string& path) {
        auto token = apps::read_secret_file(path);
        if (!token) throw CLI::ValidationError("--token-file", token.error().message);
        f.access.token = *token;
      });
  app.add_option("--user", f.user, "one user's id (default: every user)");
  app.add_option("--format", f.format, "csv or json")
      ->check(CLI::IsMember({"csv", "json"}))
      ->capture_default_str();
  app.add_option("--model-version", f.model_version,
                 "score with models/procrastination-<version>.txt instead of the built-in model");
  app.add_option("--model-file", f.model_file, "score with this model file");
  app.add_option("--models-dir", f.models_dir, "where --model-version looks")
      ->capture_default_str();
  auto* tasks = app.add_subcommand("tasks", "the task table");
  auto* daily = app.add_subcommand("daily", "daily features, as of the end of each UTC day");
  auto* scores = app.add_subcommand("scores", "the score after each event");
  auto* join = app.add_subcommand("join", "features of each (user_id, timestamp) row of a CSV");
  join->add_option("--rows", f.rows_file,
                   "CSV with columns user_id,timestamp and, optionally, task_id")
      ->required();
  join->add_option("--risk-model-version", f.risk_model_version,
                   "per-task risk from models/lateness-<version>.txt (rows with a task_id)")
      ->capture_default_str();
  join->add_flag("--strict", f.strict, "print nothing when any row is bad");
  auto* metrics = app.add_subcommand("metrics", "success metrics over users (aggregates only)");
  metrics
      ->add_option("--from", f.from,
                   "from this instant's ISO week (days: its day), e.g. 2026-03-01T00:00:00Z")
      ->required();
  metrics->add_option("--to", f.to, "as of this instant (default: now)");
  metrics->add_option("--view", f.view, "weekly, daily, retention, ratings, personas or trial")
      ->check(CLI::IsMember({"weekly", "daily", "retention", "ratings", "personas", "trial"}))
      ->capture_default_str();
  metrics
      ->add_option("--min-users", f.min_users,
                   "leave out groups of fewer users than this (k-anonymity)")
      ->check(CLI::Range(5, 1000000))
      ->capture_default_str();
  app.require_subcommand(1);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  auto model = load_model(f);
  if (!model) return fail(model.error());
  auto opened = actors::open_for_analysis(f.access);
  if (!opened) return fail(opened.error());
  auto& store = *opened->store;
  auto format = f.format == "json" ? apps::TableFormat::json : apps::TableFormat::csv;
  fmt::print(stderr, "coach-replay: read-only replay by {} ({})\n", opened->caller.user.to_string(),
             v1::Role_Name(opened->caller.role));
  Status done = Ok{};
  if (*tasks) done = print_tasks(store, f, format);
  if (*daily) done = print_daily(store, f, *model, format);
  if (*scores) done = print_scores(store, f, *model, format);
  if (*metrics) done = print_metrics(store, f, format);
  if (*join) return print_join(store, f, *model, format);
  return done ? 0 : fail(done.error());
}
