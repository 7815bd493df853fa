// coachctl: coach's command line client, over NATS request-reply, for
// people: dates as they type them in their own zone (apps/coachctl/when.h),
// short task ids, urgency views and a command for every feature
// (apps/coachctl/views.h).
//
// Exit codes: 0 done; 1 coach answered with an error; 2 bad usage;
// 3 NATS unreachable or no answer in time.
#include <google/protobuf/util/time_util.h>
#include <nats/nats.h>
#include <unistd.h>

#include <date/tz.h>
#include <fmt/core.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <cstdlib>
#include <ctime>
#include <optional>
#include <set>
#include "apps/coachctl/ops_print.h"
#include "apps/coachctl/views.h"
#include "apps/coachctl/when.h"

#include "apps/common/coach_client.h"
#include "apps/common/secret_file.h"
#include "base/ids.h"
#include "schema/internal.pb.h"
#include "wire/api_codec.h"
#include "wire/auth.h"
#include "wire/bus_identity.h"
#include "wire/nats_connect.h"

using coach::actors::Encoding;
using coach::ctl::Seconds;
using google::protobuf::Timestamp;
using google::protobuf::util::TimeUtil;
namespace v1 = coach::v1;
namespace ctl = coach::ctl;

namespace {

constexpr int kExitError = 1, kExitUsage = 2, kExitTransport = 3;

struct Global {
  std::string nats_url = "tls://127.0.0.1:4222";
  std::string tls_dir = ".coach/tls";
  bool plaintext = false;
  // The NATS identity (coachctl admin bus-creds); the default is used when
  // it exists.
  std::string nats_creds = ".coach/bus/client.creds";
  bool nats_creds_given = false;
  std::string token;  // bearer token; its user is who you are
  std::string user;   // optional: the user acted on, when not the token's
  std::string idempotency_key;
  int timeout_ms = 5000;
  bool json = false;
  bool colour = false;
  bool quiet = false;  // print no error of coach's (a request whose failure is fine)
};

struct UsageError {
  std::string message;
};
// Thrown once an error was printed: the exit code.
struct Exit {
  int code;
};

// One NATS connection per run, made on the first request.
natsConnection* connection = nullptr;

Timestamp timestamp(Seconds t) {
  Timestamp ts;
  ts.set_seconds(t.time_since_epoch().count());
  return ts;
}
Seconds seconds_of(const Timestamp& t) {
  return Seconds{std::chrono::seconds(t.seconds())};
}
bool is_set(const Timestamp& t) {
  return t.seconds() != 0 || t.nanos() != 0;
}

// "90m", "2h", "3d" from the real now (token and credential lifetimes).
std::chrono::seconds lifetime(const std::string& text) {
  auto d = ctl::parse_duration(text);
  if (!d) throw UsageError{d.error().message};
  return std::chrono::duration_cast<std::chrono::seconds>(*d);
}

// Sends one command; on success `answer` holds the reply body (JSON). Errors
// are printed; returns the exit code.
int request(const Global& g, const std::string& operation, const std::string& body,
            std::string& answer) {
  if (!connection) {
    coach::actors::NatsConfig config;
    config.url = g.nats_url;
    config.name = "coachctl";
    config.timeout_ms = g.timeout_ms;
    config.plaintext = g.plaintext;
    config.use_tls_dir(g.tls_dir);
    if (g.nats_creds_given || std::filesystem::exists(g.nats_creds))
      config.creds_file = g.nats_creds;
    auto connected = coach::actors::connect_nats(config);
    if (!connected) {
      fmt::print(stderr, "coachctl: {}\n", connected.error().message);
      return kExitTransport;
    }
    connection = *connected;
  }
  coach::apps::RequestHeaders headers{g.token, g.user, g.idempotency_key};
  auto reply = coach::apps::coach_request(connection, operation, body, headers, g.timeout_ms);
  if (!reply) {
    fmt::print(stderr, "coachctl: {}\n", reply.error().message);
    return kExitTransport;
  }
  answer = coach::actors::to_json(*reply);
  if (reply->has_error()) {
    if (g.quiet) return kExitError;
    if (g.json) fmt::print("{}\n", answer);
    fmt::print(stderr, "error: {}: {}\n", reply->error().code(), reply->error().message());
    if (reply->error().code() == "not_found" && operation == "user.features")
      fmt::print(stderr,
                 "coachctl: features need behavioral tracking: coachctl prefs --tracking on\n");
    if (reply->error().message().rfind("user is not registered", 0) == 0)
      fmt::print(stderr,
                 "coachctl: register first: coachctl register --email you@example.com "
                 "--timezone Europe/Berlin\n");
    return kExitError;
  }
  return 0;
}

// The reply to one request; an error was printed and is thrown as Exit.
v1::Reply call(const Global& g, const std::string& operation, const std::string& body = "") {
  std::string answer;
  if (int code = request(g, operation, body, answer); code != 0) throw Exit{code};
  auto reply = coach::actors::decode_reply(answer, Encoding::json);
  if (!reply) {
    fmt::print(stderr, "coachctl: unreadable answer to {}\n", operation);
    throw Exit{kExitTransport};
  }
  return *reply;
}

v1::Reply call(const Global& g, const std::string& operation, const v1::Command& c) {
  auto body = coach::actors::encode_command(operation, c, Encoding::json);
  if (!body) throw UsageError{body.error().message};
  return call(g, operation, *body);
}

// What a run knows lazily: now, the user's zone (their profile's), their
// tasks (every status: short ids are unique among all of them).
struct Session {
  const Global& g;
  Seconds now_;
  std::optional<v1::Profile> profile_;
  const date::time_zone* zone_ = nullptr;
  std::optional<std::vector<v1::Task>> tasks_;

  explicit Session(const Global& global) : g(global) {
    now_ = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
    // A testing aid: the instant coachctl takes for now (RFC 3339).
    if (const char* fixed = std::getenv("COACH_NOW"); fixed && *fixed) {
      auto at = ctl::parse_when(fixed, now_, date::locate_zone("UTC"));
      if (!at) throw UsageError{std::string("COACH_NOW: ") + at.error().message};
      now_ = *at;
    }
  }
  Seconds now() const { return now_; }
  const v1::Profile& profile() {
    if (!profile_) profile_ = call(g, "user.get").profile();
    return *profile_;
  }
  const date::time_zone* zone() {
    if (zone_) return zone_;
    try {
      zone_ = date::locate_zone(profile().user().timezone().empty() ? "UTC"
                                                                    : profile().user().timezone());
    } catch (const std::exception&) {
      zone_ = date::locate_zone("UTC");
    }
    return zone_;
  }
  const std::vector<v1::Task>& tasks() {
    if (tasks_) return *tasks_;
    tasks_.emplace();
    std::string token;
    do {
      v1::Command c;
      auto* l = c.mutable_list_tasks();
      for (auto s : {v1::TASK_STATUS_PENDING, v1::TASK_STATUS_SNOOZED, v1::TASK_STATUS_COMPLETED,
                     v1::TASK_STATUS_DELETED, v1::TASK_STATUS_MISSED})
        l->add_statuses(s);
      l->set_page_size(500);
      l->set_page_token(token);
      auto page = call(g, "task.list", c).task_list();
      for (auto& t : *page.mutable_tasks()) tasks_->push_back(std::move(t));
      token = page.next_page_token();
    } while (!token.empty());
    return *tasks_;
  }
  std::map<std::string, std::string> ids() { return ctl::short_ids(tasks()); }
  std::string short_id(const std::string& id) {
    auto all = ids();
    auto it = all.find(id);
    return it == all.end() ? id : it->second;
  }
  void forget_tasks() { tasks_.reset(); }
  // The full id of a handle: a UUID as it is, else a unique prefix.
  std::string task_id(const std::string& handle) {
    if (handle.size() == 36 && coach::Uuid::parse(handle)) return handle;
    auto id = ctl::resolve_handle(handle, tasks());
    if (!id) {
      if (id.error().code == coach::Errc::not_found) {
        fmt::print(stderr, "error: not_found: {}\n", id.error().message);
        throw Exit{kExitError};
      }
      throw UsageError{id.error().message};
    }
    return *id;
  }
  Seconds when(const std::string& text, const std::string& flag) {
    return when_day(text, flag, ctl::DayTime::end);
  }
  Seconds when_day(const std::string& text, const std::string& flag, ctl::DayTime day) {
    auto at = ctl::parse_when(text, now(), zone(), day);
    if (!at) throw UsageError{flag + ": " + at.error().message};
    return *at;
  }
  std::string local(const Timestamp& t) { return ctl::local_time(seconds_of(t), zone()); }
};

std::string tag_text(const v1::Task& t) {
  std::string out;
  if (!t.tags().empty()) out += " ";
  for (const auto& tag : t.tags()) out += " #" + tag;
  return out;
}

// One line for a task a command changed: what happened, short id, title,
// tags, notes; then its due date in local time, so a mistake shows.
void print_changed(Session& s, const std::string& verb, const v1::Task& t) {
  s.forget_tasks();
  std::string notes;
  if (t.notes_size() > 0)
    notes = fmt::format("  ({} note{})", t.notes_size(), t.notes_size() == 1 ? "" : "s");
  fmt::print("{} {}  {}{}{}\n", verb, s.short_id(t.id()), t.title(), tag_text(t), notes);
  if (is_set(t.due_at()))
    fmt::print("  due {} ({})\n", s.local(t.due_at()),
               ctl::relative_due(seconds_of(t.due_at()), s.now()));
  if (t.status() == v1::TASK_STATUS_SNOOZED && is_set(t.snoozed_until()))
    fmt::print("  snoozed until {} ({})\n", s.local(t.snoozed_until()),
               ctl::relative_due(seconds_of(t.snoozed_until()), s.now()));
}

void print_notes(Session& s, const v1::Task& t) {
  for (const auto& note : t.notes()) {
    auto when = s.local(note.added_at());
    std::string indent(2 + when.size() + 2, ' ');
    std::string text;
    for (char c : note.text()) text += c == '\n' ? "\n" + indent : std::string(1, c);
    fmt::print("  {}  {}\n", when, text);
  }
}

// The user's procrastination score when coach has one (tracking on), else 0.
double procrastination_score(Session& s) {
  if (!s.profile().preferences().behavioral_tracking_enabled()) return 0;
  std::string answer;
  Global quiet = s.g;
  quiet.quiet = true;
  if (request(quiet, "user.features", "", answer) != 0) return 0;
  auto reply = coach::actors::decode_reply(answer, Encoding::json);
  return reply ? reply->feature_snapshot().procrastination_score() : 0;
}

// Every field of a task.
void print_task_full(Session& s, const v1::Task& t) {
  auto row = [](const std::string& name, const std::string& value) {
    fmt::print("{:<13}{}\n", name, value);
  };
  auto at = [&](const Timestamp& ts) {
    return is_set(ts) ? s.local(ts) + " (" + ctl::relative_due(seconds_of(ts), s.now()) + ")"
                      : std::string("-");
  };
  auto ago = [&](const Timestamp& ts) { return is_set(ts) ? s.local(ts) : std::string("-"); };
  row("id", fmt::format("{} ({})", s.short_id(t.id()), t.id()));
  row("user", t.user_id());
  row("title", t.title());
  row("status", ctl::word(t.status()));
  row("due", at(t.due_at()));
  row("priority", t.priority() ? std::to_string(t.priority()) : "-");
  row("category", t.category().empty() ? "-" : t.category());
  row("estimate", ctl::show_duration(std::chrono::minutes(t.estimated_minutes())));
  std::string tags;
  for (const auto& tag : t.tags()) tags += (tags.empty() ? "#" : " #") + tag;
  row("tags", tags.empty() ? "-" : tags);
  if (t.has_recurrence()) {
    const auto& r = t.recurrence();
    row("repeats",
        fmt::format("{} ({}), occurrence {} of series {}",
                    r.rrule().empty() ? fmt::format("{} days after done", r.every_days_after_done())
                                      : r.rrule(),
                    r.zone(), r.occurrence(), s.short_id(r.series_id())));
  }
  if (t.status() == v1::TASK_STATUS_SNOOZED) row("snoozed until", at(t.snoozed_until()));
  row("snoozes", std::to_string(t.snooze_count()));
  row("edits", std::to_string(t.edit_count()));
  row("created", ago(t.created_at()));
  row("updated", ago(t.updated_at()));
  if (is_set(t.completed_at())) row("completed", ago(t.completed_at()));
  if (is_set(t.deleted_at())) row("deleted", ago(t.deleted_at()));
  if (t.has_lateness_risk()) {
    std::string why;
    for (const auto& reason : t.lateness_reasons()) why += "; " + reason;
    row("lateness risk", fmt::format("{:.0f}%{}", 100 * t.lateness_risk(), why));
  }
  auto u = ctl::urgency(t, s.now(), procrastination_score(s));
  row("urgency",
      fmt::format("{:.1f} (due {:.1f}, priority {:.1f}, age {:.1f}, snoozes {:.1f}, risk {:.1f})",
                  u.total(), u.due, u.priority, u.age, u.snoozes, u.risk));
  if (!t.description().empty()) {
    std::string d;
    for (char c : t.description())
      d += c == '\n' ? std::string("\n") + std::string(13, ' ') : std::string(1, c);
    row("description", d);
  }
  fmt::print("{:<13}{}\n", "notes", t.notes_size() ? std::to_string(t.notes_size()) : "-");
  print_notes(s, t);
}

void print_profile(Session& s, const v1::Profile& p) {
  const auto& prefs = p.preferences();
  std::string hours = ctl::show_windows([&] {
    std::vector<ctl::Window> w;
    for (const auto& x : p.user().work_hours().windows())
      w.push_back({static_cast<int>(x.weekday()), static_cast<int>(x.start_minute()),
                   static_cast<int>(x.end_minute())});
    return w;
  }());
  std::string window = ctl::show_windows([&] {
    std::vector<ctl::Window> w;
    for (const auto& x : prefs.notification_window().windows())
      w.push_back({static_cast<int>(x.weekday()), static_cast<int>(x.start_minute()),
                   static_cast<int>(x.end_minute())});
    return w;
  }());
  (void)s;
  fmt::print("user          {}{}\n", p.user().id(),
             p.user().email().empty() ? "" : " <" + p.user().email() + ">");
  fmt::print("timezone      {}\n", p.user().timezone());
  fmt::print("work hours    {}\n", hours.empty() ? "mon-fri 09:00-17:00 (the default)" : hours);
  fmt::print("notify        {}\n", window.empty() ? "any time" : window);
  fmt::print("nudges        {}, {} mode, humor {}, at most {} a day, by {}\n",
             prefs.nudges_enabled() ? "on" : "off", ctl::word(prefs.coaching_mode()),
             prefs.humor_intensity(), prefs.daily_nudge_cap() ? prefs.daily_nudge_cap() : 3,
             ctl::word(prefs.delivery_channel()));
  fmt::print("persona       {}{}\n", ctl::word(p.persona().persona_type()),
             p.persona().adaptation_enabled() ? ", adapts to your ratings" : ", fixed");
  fmt::print("tracking      {}\n", prefs.behavioral_tracking_enabled() ? "on" : "off");
}

void print_reply(const v1::Reply& reply) {
  if (reply.has_actor_list()) {
    coach::apps::print_actor_list(reply.actor_list());
  } else if (reply.has_batch_status()) {
    coach::apps::print_batch_status(reply.batch_status());
  } else if (reply.has_ops()) {
    coach::apps::print_queues(reply.ops());
  } else {
    fmt::print("{}\n", coach::actors::to_json(reply));
  }
}

// Sends one command and prints the answer: JSON with --json, else ops
// tables, else JSON.
int send(const Global& g, const std::string& operation, const std::string& body) {
  std::string answer;
  int code = request(g, operation, body, answer);
  if (code != 0) return code;
  if (g.json) {
    fmt::print("{}\n", answer);
  } else if (auto reply = coach::actors::decode_reply(answer, Encoding::json)) {
    print_reply(*reply);
  }
  return 0;
}

// admin.ops, printed as the cluster seen by the node that answered.
int show_cluster(const Global& g) {
  std::string answer;
  int code = request(g, "admin.ops", "", answer);
  if (code != 0) return code;
  auto reply = coach::actors::decode_reply(answer, Encoding::json);
  if (g.json || !reply) {
    fmt::print("{}\n", answer);
  } else {
    coach::apps::print_cluster(reply->ops().cluster());
  }
  return 0;
}

// Writes a NATS identity for `role` to `out` (0600, replaced atomically).
int issue_bus_creds(const std::string& dir, const std::string& role_name,
                    const std::string& channel, const std::string& ttl, const std::string& name,
                    const std::string& out) {
  auto authority = coach::actors::open_bus_authority(dir, /*create=*/false);
  if (!authority) throw UsageError{authority.error().message};
  auto role = coach::actors::bus_role_of(role_name);
  if (!role) throw UsageError{role.error().message};
  coach::actors::BusGrant grant{*role, channel, std::chrono::seconds(0),
                                name.empty() ? "coach-" + role_name : name};
  if (!ttl.empty()) grant.ttl = lifetime(ttl);
  auto creds = coach::actors::issue_bus_credentials(*authority, grant);
  if (!creds) throw UsageError{creds.error().message};
  if (out == "-") {
    fmt::print("{}", *creds);
    return 0;
  }
  if (auto written = coach::apps::write_secret_file(out, *creds); !written)
    throw UsageError{written.error().message};
  return 0;
}

// Every page of user.export, merged into one UserExport printed as JSON.
int export_user(const Global& g) {
  coach::v1::UserExport merged;
  for (uint64_t from = 1; from != 0;) {
    std::string body;
    int code =
        request(g, "user.export", R"({"from_sequence": )" + std::to_string(from) + "}", body);
    if (code != 0) return code;
    auto reply = coach::actors::decode_reply(body, Encoding::json);
    if (!reply || !reply->has_user_export()) {
      fmt::print(stderr, "coachctl: unexpected answer to user.export\n");
      return kExitTransport;
    }
    // Each page carries the records that come from its own events: the
    // pages' lists, concatenated, are the whole export.
    auto page = std::move(*reply->mutable_user_export());
    from = page.next_sequence();
    merged.clear_profile();  // the newest page's profile, not a merge of all
    merged.clear_exported_at();
    merged.MergeFrom(page);
  }
  merged.set_next_sequence(0);
  fmt::print("{}\n", coach::actors::to_json(merged));
  return 0;
}

// Starts a batch run; with `wait`, polls its status until it ends.
int run_batch(const Global& g, bool full, bool wait) {
  int code = send(g, "admin.batch.run", full ? R"({"full": true})" : "{}");
  while (code == 0 && wait) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    std::string answer;
    if (code = request(g, "admin.batch.status", "", answer); code != 0) break;
    auto reply = coach::actors::decode_reply(answer, Encoding::json);
    if (!reply || !reply->batch_status().running()) return send(g, "admin.batch.status", "");
    if (!g.json)
      fmt::print("  {} of {} users\n", reply->batch_status().users_done(),
                 reply->batch_status().users_total());
  }
  return code;
}

std::optional<bool> on_off(const std::string& value, const std::string& flag) {
  if (value.empty()) return std::nullopt;
  if (value == "on") return true;
  if (value == "off") return false;
  throw UsageError{flag + " takes on or off, got \"" + value + "\""};
}

// An enum value from its word ("roast" for COACHING_MODE_ROAST), case
// insensitive; a wrong one lists the accepted words.
template <class Enum>
Enum enum_value(const google::protobuf::EnumDescriptor* d, const std::string& prefix,
                const std::string& value, const std::string& flag) {
  std::string upper, accepted;
  for (char c : value) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (int i = 0; i < d->value_count(); ++i) {
    const auto* v = d->value(i);
    if (v->number() == 0) continue;
    std::string w = v->name().substr(prefix.size());
    for (auto& c : w) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    accepted += (accepted.empty() ? "" : ", ") + w;
    if (v->name() == prefix + upper) return static_cast<Enum>(v->number());
  }
  throw UsageError{fmt::format("{} takes {}; got \"{}\"", flag, accepted, value)};
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// What `coachctl prefs` was given: empty strings and -1 are not given.
struct PrefsFlags {
  std::string time_zone, work_hours, notify_window, nudges, tracking, mode, persona, channel,
      adaptation, trial;
  int humor = -1, daily_cap = -1;
  bool work_hours_given = false, notify_window_given = false;
};

// The flags of the task commands (create, edit, note, snooze, done, ...).
struct TaskFlags {
  std::string id, title, category, description, due, estimate, note, until, snooze_for, reason,
      took, repeat, repeat_after_done;
  int priority = 0;
  bool no_due = false, no_tags = false, whole_series = false;
  std::vector<std::string> tags;
  std::map<std::string, bool> given;  // edit: which of its flags were on the command line
  bool has(const std::string& flag) const {
    auto it = given.find(flag);
    return it != given.end() && it->second;
  }
};

// What the views filter and sort by (coachctl list, next, today, overdue).
struct ViewFilter {
  std::string statuses;  // comma separated words, or "all"; empty: pending,snoozed
  std::string category;  // case-insensitive
  std::string priority;  // "3" exactly, "3+" at least
  std::vector<std::string> tags_any, tags_all;
  std::string due_from, due_to;
  std::string sort = "due";
};

std::vector<v1::Task> filter_tasks(Session& s, const ViewFilter& f) {
  std::set<v1::TaskStatus> statuses;
  for (size_t start = 0; start < f.statuses.size();) {
    auto end = f.statuses.find(',', start);
    auto w = lower(f.statuses.substr(start, end == std::string::npos ? end : end - start));
    start = end == std::string::npos ? f.statuses.size() : end + 1;
    if (w == "all") {
      for (auto st : {v1::TASK_STATUS_PENDING, v1::TASK_STATUS_SNOOZED, v1::TASK_STATUS_COMPLETED,
                      v1::TASK_STATUS_DELETED, v1::TASK_STATUS_MISSED})
        statuses.insert(st);
      continue;
    }
    v1::TaskStatus st{};
    std::string upper = "TASK_STATUS_";
    for (char c : w) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (w.empty() || w == "unspecified" || !v1::TaskStatus_Parse(upper, &st))
      throw UsageError{
          "--status takes pending, snoozed, completed, deleted, missed or all, comma "
          "separated; got \"" +
          w + "\""};
    statuses.insert(st);
  }
  if (statuses.empty()) statuses = {v1::TASK_STATUS_PENDING, v1::TASK_STATUS_SNOOZED};
  int min_priority = -1, exact_priority = -1;
  if (!f.priority.empty()) {
    std::string p = f.priority;
    bool at_least = p.back() == '+';
    if (at_least) p.pop_back();
    if (p.size() != 1 || p[0] < '0' || p[0] > '4')
      throw UsageError{"--priority takes 0 to 4 (exactly) or 0+ to 4+ (at least); got \"" +
                       f.priority + "\""};
    (at_least ? min_priority : exact_priority) = p[0] - '0';
  }
  std::optional<Seconds> from, to;
  // A day alone: from its start, up to the start of the next (the whole day).
  if (!f.due_from.empty()) from = s.when_day(f.due_from, "--due-from", ctl::DayTime::start);
  if (!f.due_to.empty()) to = s.when_day(f.due_to, "--due-to", ctl::DayTime::after);
  auto has_tag = [](const v1::Task& t, const std::string& tag) {
    for (const auto& x : t.tags())
      if (x == lower(tag)) return true;
    return false;
  };
  std::vector<v1::Task> out;
  for (const auto& t : s.tasks()) {
    if (!statuses.count(t.status())) continue;
    if (!f.category.empty() && lower(t.category()) != lower(f.category)) continue;
    if (exact_priority >= 0 && t.priority() != exact_priority) continue;
    if (min_priority >= 0 && t.priority() < min_priority) continue;
    if (!f.tags_any.empty() &&
        std::none_of(f.tags_any.begin(), f.tags_any.end(), [&](auto& x) { return has_tag(t, x); }))
      continue;
    if (!std::all_of(f.tags_all.begin(), f.tags_all.end(), [&](auto& x) { return has_tag(t, x); }))
      continue;
    if ((from || to) && !is_set(t.due_at())) continue;
    if (from && seconds_of(t.due_at()) < *from) continue;
    if (to && seconds_of(t.due_at()) >= *to) continue;
    out.push_back(t);
  }
  auto due_key = [](const v1::Task& t) {
    return is_set(t.due_at()) ? t.due_at().seconds() : std::numeric_limits<int64_t>::max();
  };
  auto by = [&](auto key, bool descending) {
    std::stable_sort(out.begin(), out.end(), [&](const v1::Task& a, const v1::Task& b) {
      auto ka = key(a), kb = key(b);
      if (ka != kb) return descending ? kb < ka : ka < kb;
      if (due_key(a) != due_key(b)) return due_key(a) < due_key(b);
      return a.id() < b.id();
    });
  };
  const std::string sort = lower(f.sort);
  if (sort == "due") {
    by(due_key, false);
  } else if (sort == "urgency") {
    ctl::sort_by_urgency(out, s.now(), 0);
  } else if (sort == "priority") {
    by([](const v1::Task& t) { return t.priority(); }, true);
  } else if (sort == "created") {
    by(
        [](const v1::Task& t) {
          return t.created_at().seconds() * 1'000'000'000 + t.created_at().nanos();
        },
        true);
  } else if (sort == "title") {
    by([](const v1::Task& t) { return lower(t.title()); }, false);
  } else {
    throw UsageError{
        "--sort takes due, urgency, priority, created (newest first) or title; got \"" + f.sort +
        "\""};
  }
  return out;
}

int print_view(Session& s, std::vector<v1::Task> rows, const std::string& empty, bool urgency,
               double score) {
  if (s.g.json) {
    v1::TaskList list;
    for (auto& t : rows) *list.add_tasks() = t;
    v1::Reply reply;
    *reply.mutable_task_list() = std::move(list);
    fmt::print("{}\n", coach::actors::to_json(reply));
    return 0;
  }
  if (rows.empty()) {
    fmt::print("{}\n", empty);
    return 0;
  }
  ctl::TableOptions o;
  o.now = s.now();
  o.zone = s.zone();
  o.colour = s.g.colour;
  o.urgency = urgency;
  o.procrastination_score = score;
  fmt::print("{}", ctl::task_table(rows, s.ids(), o));
  return 0;
}

// The open tasks (pending; snoozed ones are put off) and what each view
// keeps of them.
enum class View { next, today, overdue };
int show_view(Session& s, View view, size_t limit) {
  double score = view == View::next ? procrastination_score(s) : 0;
  std::vector<v1::Task> rows;
  auto today = s.now();
  // The end of the local day: "eod".
  auto end_of_day = *ctl::parse_when("eod", s.now(), s.zone());
  for (const auto& t : s.tasks()) {
    if (t.status() != v1::TASK_STATUS_PENDING) continue;
    bool due = is_set(t.due_at());
    if (view == View::today && !(due && seconds_of(t.due_at()) <= end_of_day)) continue;
    if (view == View::overdue && !(due && seconds_of(t.due_at()) < today)) continue;
    rows.push_back(t);
  }
  ctl::sort_by_urgency(rows, s.now(), score);
  if (view == View::next && rows.size() > limit) rows.resize(limit);
  const char* empty = view == View::next    ? "nothing to do: no pending tasks"
                      : view == View::today ? "nothing due today"
                                            : "nothing overdue";
  return print_view(s, rows, empty, view == View::next, score);
}
std::string title_of(Session& s, const std::string& task_id) {
  for (const auto& t : s.tasks())
    if (t.id() == task_id) return t.title() + "  (" + s.short_id(t.id()) + ")";
  return task_id;
}

v1::Schedule get_schedule(Session& s, uint32_t days) {
  v1::Command c;
  c.mutable_get_schedule()->set_horizon_days(days);
  return call(s.g, "schedule.get", c).schedule();
}

// The plan, day by day in local time: numbered rows (schedule accept N),
// then the blocks accepted before and the tasks at risk.
int show_schedule(Session& s, const v1::Schedule& plan) {
  if (s.g.json) {
    v1::Reply reply;
    *reply.mutable_schedule() = plan;
    fmt::print("{}\n", coach::actors::to_json(reply));
    return 0;
  }
  auto block = [&](const v1::ScheduleRecommendation& r) {
    return fmt::format("{}-{}", ctl::local_clock(seconds_of(r.recommended_start()), s.zone()),
                       ctl::local_clock(seconds_of(r.recommended_due()), s.zone()));
  };
  if (plan.recommendations().empty()) fmt::print("no blocks to suggest\n");
  std::string day;
  int n = 0;
  for (const auto& r : plan.recommendations()) {
    auto d = ctl::local_day(seconds_of(r.recommended_start()), s.zone());
    if (d != day) fmt::print("{}{}\n", n ? "\n" : "", day = d);
    fmt::print("{:>4}  {}  {:>3.0f}%  {}\n", ++n, block(r), 100 * r.confidence_score(),
               title_of(s, r.task_id()));
  }
  if (!plan.accepted().empty()) {
    fmt::print("\naccepted\n");
    for (const auto& r : plan.accepted())
      fmt::print("      {} {}  {}\n", ctl::local_day(seconds_of(r.recommended_start()), s.zone()),
                 block(r), title_of(s, r.task_id()));
  }
  if (!plan.at_risk().empty()) {
    fmt::print("\nat risk\n");
    for (const auto& a : plan.at_risk())
      fmt::print("      {}: {} short before its due {}; {}\n", title_of(s, a.task_id()),
                 ctl::show_duration(std::chrono::minutes(a.minutes_short())), s.local(a.due_at()),
                 a.suggestion());
  }
  // Work time in hours: "2 d" of it would read as two whole days.
  auto work = [](int64_t m) {
    if (m < 60) return fmt::format("{} min", m);
    return m % 60 ? fmt::format("{} h {} min", m / 60, m % 60) : fmt::format("{} h", m / 60);
  };
  fmt::print("\nplanned {} of {} free work time\n", work(plan.planned_minutes()),
             work(plan.free_minutes()));
  return 0;
}

// schedule accept N / reject N: row N of the plan as `schedule` shows it.
int decide_block(Session& s, uint32_t days, bool accept, int row, const std::string& reason) {
  auto plan = get_schedule(s, days);
  if (row < 1 || row > plan.recommendations_size())
    throw UsageError{fmt::format("row {}: the plan has {} row{} (coachctl schedule)", row,
                                 plan.recommendations_size(),
                                 plan.recommendations_size() == 1 ? "" : "s")};
  const auto& r = plan.recommendations(row - 1);
  v1::Command c;
  if (accept) {
    auto* a = c.mutable_accept_recommendation();
    a->set_recommendation_id(r.id());
    a->set_task_id(r.task_id());
    *a->mutable_start() = r.recommended_start();
    *a->mutable_end() = r.recommended_due();
    a->set_confidence_score(r.confidence_score());
  } else {
    auto* a = c.mutable_reject_recommendation();
    a->set_recommendation_id(r.id());
    a->set_task_id(r.task_id());
    *a->mutable_start() = r.recommended_start();
    *a->mutable_end() = r.recommended_due();
    a->set_confidence_score(r.confidence_score());
    a->set_reason(reason);
  }
  auto reply = call(s.g, accept ? "schedule.accept" : "schedule.reject", c);
  if (s.g.json) {
    fmt::print("{}\n", coach::actors::to_json(reply));
    return 0;
  }
  fmt::print("{} {} {}-{}  {}\n", accept ? "accepted" : "rejected",
             ctl::local_day(seconds_of(r.recommended_start()), s.zone()),
             ctl::local_clock(seconds_of(r.recommended_start()), s.zone()),
             ctl::local_clock(seconds_of(r.recommended_due()), s.zone()), title_of(s, r.task_id()));
  return 0;
}

void print_nudge(Session& s, const v1::CoachingNudge& n) {
  fmt::print("{}\n", n.generated_text());
  std::string trigger = n.trigger();
  std::replace(trigger.begin(), trigger.end(), '_', ' ');  // "on_demand": "on demand"
  fmt::print("  {} mode, by {}{}{}, {}\n", ctl::word(n.mode()), ctl::word(n.source()),
             trigger.empty() ? "" : ", " + trigger,
             n.task_id().empty() ? "" : ", about " + title_of(s, n.task_id()),
             s.local(n.created_at()));
}

std::vector<v1::NudgeRecord> nudges(Session& s, uint32_t limit) {
  v1::Command c;
  c.mutable_list_nudges()->set_limit(limit);
  auto list = call(s.g, "nudge.list", c).nudge_list();
  return {list.nudges().begin(), list.nudges().end()};
}

int show_nudges(Session& s, uint32_t limit) {
  auto list = nudges(s, limit);
  if (s.g.json) {
    v1::NudgeList l;
    for (auto& r : list) *l.add_nudges() = r;
    v1::Reply reply;
    *reply.mutable_nudge_list() = std::move(l);
    fmt::print("{}\n", coach::actors::to_json(reply));
    return 0;
  }
  if (list.empty()) fmt::print("no nudges yet (coachctl nudge now)\n");
  int n = 0;
  for (const auto& r : list) {
    const auto& x = r.nudge();
    std::string status = r.has_notification() ? ctl::word(r.notification().status()) + " by " +
                                                    ctl::word(r.notification().channel())
                                              : "asked for";
    fmt::print("{:>3}  {}  {}, {} mode, {}{}\n     {}\n", ++n, s.local(x.created_at()), status,
               ctl::word(x.mode()), ctl::word(x.source()),
               r.usefulness() ? fmt::format(", rated {}/5", r.usefulness()) : std::string(),
               x.generated_text());
  }
  return 0;
}

int show_features(Session& s) {
  auto reply = call(s.g, "user.features");
  if (s.g.json) {
    fmt::print("{}\n", coach::actors::to_json(reply));
    return 0;
  }
  const auto& f = reply.feature_snapshot();
  fmt::print("procrastination score  {:.2f}  (0 follows through, 1 puts things off)\n",
             f.procrastination_score());
  fmt::print("snooze rate            {:.2f} snoozes a task\n", f.snooze_rate());
  fmt::print("completion latency     {:+.1f} h after the due time on average (negative: early)\n",
             f.completion_latency_avg());
  fmt::print("burstiness             {:+.2f}  (-1 regular, 0 random, 1 in bursts)\n",
             f.burstiness_index());
  fmt::print("completed tasks        {}\n", f.completions());
  if (f.mode_cluster() >= 0)
    fmt::print("behavior mode          {}\n", f.mode_name().empty() ? "typical" : f.mode_name());
  else
    fmt::print("behavior mode          not yet: after 3 completed tasks and a batch run\n");
  fmt::print("model                  {}, as of event {}\n",
             f.model_version().empty() ? "-" : f.model_version(), f.as_of_sequence());
  return 0;
}

// The user's weeks and days (Insights.weeks and days; coach sends them to
// the user's own token while tracking is on): what coach is judged by, for
// them alone.
void print_own_rows(const char* title, const char* period,
                    const google::protobuf::RepeatedPtrField<v1::MetricsReport::Week>& rows) {
  if (rows.empty()) return;
  fmt::print("\n{} (docs/metrics.md):\n{:<10}  {:>8}  {:>8}  {:>7}  {:>7}  {:>12}\n", title, period,
             "created", "done/due", "overdue", "snoozes", "nudges acted");
  for (const auto& w : rows)
    fmt::print("{:<10}  {:>8}  {:>8}  {:>7}  {:>7}  {:>12}\n", w.day().empty() ? w.week() : w.day(),
               w.created(), fmt::format("{}/{}", w.completed(), w.due()), w.overdue(), w.snoozes(),
               fmt::format("{}/{}", w.nudges_engaged(), w.nudges_delivered()));
}

int show_insights(Session& s) {
  auto reply = call(s.g, "user.insights");
  if (s.g.json) {
    fmt::print("{}\n", coach::actors::to_json(reply));
    return 0;
  }
  const auto& in = reply.insights();
  fmt::print("{}\n", in.summary());
  if (!in.behavioral_tracking_enabled()) {
    fmt::print("Turn it on with: coachctl prefs --tracking on\n");
  } else {
    for (const auto& item : in.items()) fmt::print("- {}\n", item.explanation());
    if (!in.model_version().empty()) fmt::print("(scored by {})\n", in.model_version());
  }
  print_own_rows("Your weeks", "week", in.weeks());
  print_own_rows("Your last days", "day", in.days());
  return 0;
}

void set_windows(google::protobuf::RepeatedPtrField<v1::TimeWindow>* into, const std::string& text,
                 const std::string& flag) {
  into->Clear();
  if (lower(text) == "any" || lower(text) == "none") return;
  auto windows = ctl::parse_windows(text);
  if (!windows) throw UsageError{flag + ": " + windows.error().message};
  for (const auto& w : *windows) {
    auto* x = into->Add();
    x->set_weekday(static_cast<v1::Weekday>(w.weekday));
    x->set_start_minute(static_cast<uint32_t>(w.start_minute));
    x->set_end_minute(static_cast<uint32_t>(w.end_minute));
  }
}
// ~/.config/coach/coachctl.conf (or $XDG_CONFIG_HOME/coach/): `key = value`
// lines, `#` comments; relative paths are relative to the file's folder.
std::map<std::string, std::string> read_config(const std::string& path, bool must_exist) {
  std::map<std::string, std::string> out;
  std::ifstream in(path);
  if (!in) {
    if (must_exist) throw UsageError{"cannot read the config file " + path};
    return out;
  }
  std::string line;
  auto dir = std::filesystem::path(path).parent_path();
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    auto hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    auto eq = line.find('=');
    auto trim = [](std::string s) {
      while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
      size_t b = 0;
      while (b < s.size() && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
      return s.substr(b);
    };
    if (trim(line).empty()) continue;
    if (eq == std::string::npos)
      throw UsageError{fmt::format("{}:{}: a line is `key = value`", path, number)};
    auto key = trim(line.substr(0, eq)), value = trim(line.substr(eq + 1));
    if (key != "nats-url" && key != "plaintext" && !value.empty() &&
        std::filesystem::path(value).is_relative())
      value = (dir / value).string();
    out[key] = value;
  }
  return out;
}

std::string default_config_path() {
  if (const char* c = std::getenv("COACH_CONFIG"); c && *c) return c;
  if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x)
    return std::string(x) + "/coach/coachctl.conf";
  if (const char* h = std::getenv("HOME"); h && *h)
    return std::string(h) + "/.config/coach/coachctl.conf";
  return "";
}

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

// The flags whose values the environment and the config file stand in for.
struct SettingFlags {
  CLI::Option *url, *tls, *plaintext, *creds, *key_file;
};

// Where coach is and who you are (docs/coachctl.md): the flags given, then
// COACH_* variables, then the config file (`config_file`, else the default
// path), then the defaults. Fills `g`, `token_file` and `key_file`.
void resolve_settings(Global& g, const SettingFlags& flags, const std::string& config_file,
                      std::string& token_file, std::string& key_file) {
  auto config =
      read_config(config_file.empty() ? default_config_path() : config_file, !config_file.empty());
  auto pick = [&](CLI::Option* opt, const char* env_name, const char* key, std::string& into) {
    if (opt && opt->count() > 0) return false;
    if (const char* v = env(env_name)) {
      into = v;
      return true;
    }
    if (auto it = config.find(key); it != config.end() && !it->second.empty()) {
      into = it->second;
      return true;
    }
    return false;
  };
  pick(flags.url, "COACH_NATS_URL", "nats-url", g.nats_url);
  pick(flags.tls, "COACH_TLS_DIR", "tls-dir", g.tls_dir);
  if (pick(flags.creds, "COACH_NATS_CREDS", "nats-creds", g.nats_creds)) g.nats_creds_given = true;
  pick(flags.key_file, "COACH_TOKEN_KEY", "key-file", key_file);
  std::string plain;
  if (pick(flags.plaintext, "COACH_PLAINTEXT", "plaintext", plain))
    g.plaintext = plain == "1" || plain == "true" || plain == "on" || plain == "yes";
  if (g.user.empty() && env("COACH_USER")) g.user = env("COACH_USER");
  if (!token_file.empty()) return;
  if (const char* t = env("COACH_TOKEN"))
    g.token = t;
  else if (const char* f = env("COACH_TOKEN_FILE"))
    token_file = f;
  else if (auto it = config.find("token-file"); it != config.end())
    token_file = it->second;
}

// coachctl prefs: only the flags given change; prints the profile after.
int set_prefs(Session& s, const PrefsFlags& f) {
  v1::Command only;
  auto* p = only.mutable_set_preferences();
  if (!f.time_zone.empty()) p->set_timezone(f.time_zone);
  if (f.humor >= 0) p->set_humor_intensity(f.humor);
  if (f.daily_cap >= 0) p->set_daily_nudge_cap(static_cast<uint32_t>(f.daily_cap));
  if (auto v = on_off(f.nudges, "--nudges")) p->set_nudges_enabled(*v);
  if (auto v = on_off(f.tracking, "--tracking")) p->set_behavioral_tracking_enabled(*v);
  if (auto v = on_off(f.adaptation, "--adaptation")) p->set_adaptation_enabled(*v);
  if (auto v = on_off(f.trial, "--trial")) p->set_nudge_trial_opt_out(!*v);
  if (!f.mode.empty())
    p->set_coaching_mode(enum_value<v1::CoachingMode>(v1::CoachingMode_descriptor(),
                                                      "COACHING_MODE_", f.mode, "--mode"));
  if (!f.persona.empty())
    p->set_persona_type(enum_value<v1::PersonaType>(v1::PersonaType_descriptor(), "PERSONA_TYPE_",
                                                    f.persona, "--persona"));
  if (!f.channel.empty())
    p->set_delivery_channel(enum_value<v1::DeliveryChannel>(
        v1::DeliveryChannel_descriptor(), "DELIVERY_CHANNEL_", f.channel, "--channel"));
  if (f.work_hours_given)
    set_windows(p->mutable_work_hours()->mutable_windows(), f.work_hours, "--work-hours");
  if (f.notify_window_given)
    set_windows(p->mutable_notification_window()->mutable_windows(), f.notify_window,
                "--notify-window");
  auto reply = call(s.g, "preferences.set", only);
  if (s.g.json) return fmt::print("{}\n", coach::actors::to_json(reply)), 0;
  print_profile(s, reply.profile());
  return 0;
}

int minutes_of(const std::string& text, const std::string& flag) {
  auto m = ctl::parse_duration(text);
  if (!m) throw UsageError{flag + ": " + m.error().message};
  return static_cast<int>(m->count());
}

// --repeat-after-done: whole days (3d, 2w; a bare number is minutes, so it
// must name its unit).
uint32_t days_of(const std::string& text) {
  auto m = ctl::parse_duration(text);
  if (!m) throw UsageError{"--repeat-after-done: " + m.error().message};
  if (m->count() <= 0 || m->count() % (24 * 60) != 0)
    throw UsageError{"--repeat-after-done: give whole days or weeks, e.g. 3d or 2w"};
  return static_cast<uint32_t>(m->count() / (24 * 60));
}

// Sends a task command; prints the task as it is now (--json: the reply).
int task_reply(Session& s, const std::string& op, const v1::Command& c, const std::string& verb) {
  auto reply = call(s.g, op, c);
  if (s.g.json) return fmt::print("{}\n", coach::actors::to_json(reply)), 0;
  print_changed(s, verb, reply.task());
  if (op == "task.note") print_notes(s, reply.task());
  return 0;
}

int create_task(Session& s, const v1::CreateTask& message, const TaskFlags& f) {
  v1::Command only;
  auto* x = only.mutable_task()->mutable_create();
  *x = message;
  if (!f.due.empty()) *x->mutable_due_at() = timestamp(s.when(f.due, "--due"));
  x->set_priority(f.priority);
  if (!f.estimate.empty()) x->set_estimated_minutes(minutes_of(f.estimate, "--estimate"));
  for (const auto& tag : f.tags) x->add_tags(tag);
  if (!f.repeat.empty() && !f.repeat_after_done.empty())
    throw UsageError{"give --repeat or --repeat-after-done, not both"};
  if (!f.repeat.empty()) x->mutable_recurrence()->set_rrule(f.repeat);
  if (!f.repeat_after_done.empty())
    x->mutable_recurrence()->set_every_days_after_done(days_of(f.repeat_after_done));
  return task_reply(s, "task.create", only, "created");
}

// coachctl edit: only the flags given change; --tag is the new tag set.
int edit_task(Session& s, const TaskFlags& f) {
  if (f.no_tags && f.has("tag")) throw UsageError{"give --tag or --no-tags, not both"};
  v1::Command only;
  auto* x = only.mutable_task()->mutable_edit();
  x->set_task_id(s.task_id(f.id));
  if (f.has("title")) x->set_title(f.title);
  if (!f.due.empty()) *x->mutable_due_at() = timestamp(s.when(f.due, "--due"));
  if (f.no_due) x->set_clear_due_at(true);
  if (f.has("category")) x->set_category(f.category);
  if (f.has("description")) x->set_description(f.description);
  if (f.has("priority")) x->set_priority(f.priority);
  if (f.has("estimate")) x->set_estimated_minutes(minutes_of(f.estimate, "--estimate"));
  if (f.no_tags || f.has("tag")) x->set_replace_tags(true);
  for (const auto& tag : f.tags) x->add_tags(tag);
  x->set_whole_series(f.whole_series);
  return task_reply(s, "task.edit", only, "edited");
}

int note_task(Session& s, const TaskFlags& f) {
  v1::Command only;
  auto* x = only.mutable_task()->mutable_note();
  x->set_task_id(s.task_id(f.id));
  x->set_text(f.note);
  return task_reply(s, "task.note", only, "noted");
}

// coachctl snooze: --for from now, or --until (a day alone: its start).
int snooze_task(Session& s, const TaskFlags& f) {
  if (f.until.empty() == f.snooze_for.empty()) throw UsageError{"snooze needs --until or --for"};
  v1::Command only;
  auto* x = only.mutable_task()->mutable_snooze();
  x->set_task_id(s.task_id(f.id));
  *x->mutable_until() =
      timestamp(f.until.empty() ? s.now() + std::chrono::minutes(minutes_of(f.snooze_for, "--for"))
                                : s.when_day(f.until, "--until", ctl::DayTime::start));
  x->set_reason(f.reason);
  x->set_whole_series(f.whole_series);
  return task_reply(s, "task.snooze", only, "snoozed");
}

int get_task(Session& s, const std::string& handle) {
  v1::Command only;
  only.mutable_get_task()->set_task_id(s.task_id(handle));
  auto reply = call(s.g, "task.get", only);
  if (s.g.json) return fmt::print("{}\n", coach::actors::to_json(reply)), 0;
  print_task_full(s, reply.task());
  return 0;
}

// complete (with --took), delete, reopen, restore.
int change_status(Session& s, const std::string& name, const TaskFlags& f) {
  v1::Command only;
  auto* t = only.mutable_task();
  auto task = s.task_id(f.id);
  if (name == "complete") {
    t->mutable_complete()->set_task_id(task);
    if (!f.took.empty()) t->mutable_complete()->set_actual_minutes(minutes_of(f.took, "--took"));
  }
  if (name == "delete") {
    t->mutable_delete_()->set_task_id(task);
    t->mutable_delete_()->set_whole_series(f.whole_series);
  }
  if (name == "reopen") t->mutable_reopen()->set_task_id(task);
  if (name == "restore") t->mutable_restore()->set_task_id(task);
  const char* verb = name == "complete" ? "completed"
                     : name == "delete" ? "deleted"
                     : name == "reopen" ? "reopened"
                                        : "restored";
  return task_reply(s, "task." + name, only, verb);
}

// coachctl calendar feed [--revoke]: the new URL's path, shown once.
int calendar_feed_command(Session& s, bool revoke) {
  v1::Command c;
  if (revoke)
    c.mutable_revoke_calendar_feed();
  else
    c.mutable_create_calendar_feed();
  auto reply = call(s.g, revoke ? "calendar.feed.revoke" : "calendar.feed.create", c);
  if (s.g.json) return fmt::print("{}\n", coach::actors::to_json(reply)), 0;
  if (revoke) return fmt::print("calendar feed revoked: its URL no longer works\n"), 0;
  fmt::print(
      "calendar feed: {}\n"
      "  on coach-gateway's HTTP address (scripts/run.sh prints it), e.g.\n"
      "  https://127.0.0.1:8443{}\n"
      "Subscribe to it in your calendar app. Keep it secret: it shows your plan to whoever\n"
      "has it. This is the only time coach shows it; coachctl calendar feed again makes a new\n"
      "one and ends this.\n",
      reply.calendar().feed_path(), reply.calendar().feed_path());
  return 0;
}

// coachctl nudge now [task]: without one, coach picks the most pressing.
int nudge_now_about(Session& s, const std::string& handle) {
  v1::Command only;
  only.mutable_nudge_now();
  if (!handle.empty()) only.mutable_nudge_now()->set_task_id(s.task_id(handle));
  auto reply = call(s.g, "nudge.now", only);
  if (s.g.json) return fmt::print("{}\n", coach::actors::to_json(reply)), 0;
  print_nudge(s, reply.nudge());
  return 0;
}

// coachctl nudge rate N 1-5: row N of nudge list; says how coach adapted.
int rate_nudge(Session& s, int row, int usefulness, const std::string& comment) {
  if (usefulness < 1 || usefulness > 5)
    throw UsageError{
        fmt::format("usefulness is 1 (useless) to 5 (very useful), got {}", usefulness)};
  auto list_now = nudges(s, 50);
  if (row < 1 || row > static_cast<int>(list_now.size()))
    throw UsageError{fmt::format("nudge {}: there {} {} nudge{} (coachctl nudge list)", row,
                                 list_now.size() == 1 ? "is" : "are", list_now.size(),
                                 list_now.size() == 1 ? "" : "s")};
  v1::Command only;
  auto* x = only.mutable_rate_nudge();
  x->set_nudge_id(list_now[static_cast<size_t>(row - 1)].nudge().id());
  x->set_usefulness(usefulness);
  x->set_comment(comment);
  auto reply = call(s.g, "nudge.rate", only);
  if (s.g.json) return fmt::print("{}\n", coach::actors::to_json(reply)), 0;
  const auto& p = reply.profile();
  fmt::print("rated nudge {} {}/5; coach now: {} mode, {} persona, humor {}\n", row, usefulness,
             ctl::word(p.preferences().coaching_mode()), ctl::word(p.persona().persona_type()),
             p.preferences().humor_intensity());
  return 0;
}

// coachctl delete-me: erases the user, then says what went (counted before).
int delete_me(Session& s, const std::string& confirm) {
  auto p = s.profile();
  auto zone = s.zone();
  size_t task_count = s.tasks().size(), notes = 0;
  for (const auto& t : s.tasks()) notes += static_cast<size_t>(t.notes_size());
  v1::Command only;
  only.mutable_delete_user()->set_confirm(confirm);
  auto reply = call(s.g, "user.delete", only);
  if (s.g.json) return fmt::print("{}\n", coach::actors::to_json(reply)), 0;
  fmt::print(
      "deleted user {}{} for good at {}:\n"
      "  {} task{} with {} note{}, the schedule and its accepted blocks, every nudge and\n"
      "  notification, the behavior features, the preferences and persona, and the\n"
      "  key that encrypted them. Only a tombstone (the id and the time) is kept;\n"
      "  every later command for this id gets not_found.\n",
      p.user().id(), p.user().email().empty() ? "" : " <" + p.user().email() + ">",
      ctl::local_time(seconds_of(reply.profile().user().deleted_at()), zone), task_count,
      task_count == 1 ? "" : "s", notes, notes == 1 ? "" : "s");
  return 0;
}

// A missing or unknown command, at the top or under one that has commands
// of its own (coachctl nudge shout): says so and lists that level's
// commands. False for any other parse error (CLI11 explains those).
bool explain_command_error(CLI::App& app, const CLI::ParseError& e) {
  CLI::App* level = &app;
  for (auto parsed = level->get_subcommands(); !parsed.empty(); parsed = level->get_subcommands())
    level = parsed.front();
  auto commands = level->get_subcommands({});
  bool extras = dynamic_cast<const CLI::ExtrasError*>(&e) != nullptr;
  bool none = dynamic_cast<const CLI::RequiredError*>(&e) != nullptr &&
              std::string(e.what()).find("subcommand is required") != std::string::npos;
  if (commands.empty() || !(extras || none)) return false;
  std::string word;
  for (const auto& x : app.remaining())
    if (!x.empty() && x[0] != '-') {
      word = x;
      break;
    }
  if (extras && word.empty()) return false;
  std::string path = level == &app ? "coachctl" : "coachctl " + level->get_name(), names;
  for (auto* sub : commands)
    names += "\n  " + fmt::format("{:<12} {}", sub->get_name(), sub->get_description());
  if (word.empty())
    fmt::print(stderr, "coachctl: {} needs a command; its commands:{}\n", path, names);
  else
    fmt::print(stderr, "coachctl: unknown command \"{}\" for {}; its commands:{}\n", word, path,
               names);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"coachctl: your tasks and coach, from the shell"};
  app.require_subcommand(1);
  app.fallthrough();  // global flags may also follow the subcommand
  app.footer("Dates (--due, --until, --due-from, --due-to) in your profile's time zone:\n" +
             ctl::accepted_date_forms() +
             "\nDurations (--estimate, --for): 90m, 1h30m, 2d, 1w.\n"
             "Tasks are named by short ids (the ID column, at least 4 characters) or UUIDs.\n\n"
             "Where coachctl finds its settings: flags, then the environment (COACH_NATS_URL,\n"
             "COACH_TLS_DIR, COACH_NATS_CREDS, COACH_TOKEN or COACH_TOKEN_FILE, COACH_USER,\n"
             "COACH_PLAINTEXT=1), then the config file ($XDG_CONFIG_HOME/coach/coachctl.conf,\n"
             "default ~/.config/coach/coachctl.conf, or COACH_CONFIG / --config; lines\n"
             "`nats-url = ...`, `tls-dir`, `nats-creds`, `token-file`, `key-file`, `plaintext`),\n"
             "which scripts/run.sh writes on its first run.\n\n"
             "Testing aid: COACH_NOW=<RFC 3339> fixes the instant coachctl takes for now.\n"
             "Colour only on a terminal; NO_COLOR=1 or --color never turns it off.");
  Global g;
  std::string config_file;
  app.add_option("--config", config_file, "config file (default: see below)");
  auto* url_opt = app.add_option("--nats-url", g.nats_url, "NATS server")->capture_default_str();
  auto* tls_opt = app.add_option("--tls-dir", g.tls_dir,
                                 "ca.pem, client.pem, client.key (scripts/make-certs.sh)")
                      ->capture_default_str();
  auto* plain_opt = app.add_flag("--plaintext", g.plaintext, "connect without TLS");
  auto* creds_opt = app.add_option("--nats-creds", g.nats_creds,
                                   "your NATS credentials file, mode 0600; or COACH_NATS_CREDS")
                        ->capture_default_str()
                        ->each([&](const std::string&) { g.nats_creds_given = true; });
  std::string token_file;
  app.add_option("--token-file", token_file,
                 "file holding your bearer token, mode 0600; or set COACH_TOKEN");
  app.add_option("--user", g.user, "the user to act on (UUID) when not the token's; or COACH_USER");
  app.add_option("--key", g.idempotency_key, "idempotency key: a retry with it runs once");
  app.add_option("--timeout-ms", g.timeout_ms, "how long to wait for an answer")
      ->capture_default_str();
  app.add_flag("--json", g.json, "print the answer as JSON (full ids)");
  std::string colour_flag = "auto";
  app.add_option("--color", colour_flag, "auto (on a terminal, without NO_COLOR), always, never")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "always", "never"}));

  v1::RegisterUser register_message;
  v1::CreateTask create_message;
  std::string operation, raw_body;
  PrefsFlags pf;
  TaskFlags tf;

  auto* new_user = app.add_subcommand("new-user-id", "print a fresh user id");
  auto* admin = app.add_subcommand("admin", "node administration");
  admin->require_subcommand(1);
  auto* issue =
      admin->add_subcommand("token", "issue a bearer token (needs coachd's token key file)");
  std::string key_file = ".coach/token.key", token_user, role_name = "user", ttl = "30d";
  auto* key_opt =
      issue->add_option("--key-file", key_file, "coachd's token key file")->capture_default_str();
  issue->add_option("--user", token_user, "the user the token speaks for (UUID)")->required();
  issue
      ->add_option("--role", role_name,
                   "user, analyst, admin or delivery (a delivery gateway: reports deliveries only)")
      ->capture_default_str();
  issue->add_option("--ttl", ttl, "lifetime: 90m, 12h, 30d")->capture_default_str();
  auto* bus_init = admin->add_subcommand(
      "bus-init", "make the bus authority and nats-server's config (safe to run again)");
  std::string bus_dir = ".coach/bus", store_dir = ".coach/nats";
  bus_init->add_option("--dir", bus_dir, "the bus authority's directory")->capture_default_str();
  bus_init->add_option("--store-dir", store_dir, "JetStream's store")->capture_default_str();
  auto* bus_creds =
      admin->add_subcommand("bus-creds", "issue a NATS identity (credentials file) for one role");
  std::string bus_role = "client", bus_channel, bus_ttl, bus_name, bus_out = "-";
  bus_creds->add_option("--dir", bus_dir, "the bus authority's directory")->capture_default_str();
  bus_creds->add_option("--role", bus_role, "coachd, client, gateway or deliver")
      ->capture_default_str();
  bus_creds->add_option("--channel", bus_channel, "deliver only: push, email or sms");
  bus_creds->add_option("--ttl", bus_ttl, "lifetime: 90m, 12h, 30d (default: no expiry)");
  bus_creds->add_option("--name", bus_name, "shown in nats-server's logs");
  bus_creds->add_option("--out", bus_out, "where to write it, mode 0600 ('-': stdout)")
      ->capture_default_str();
  auto* bus_inbox = admin->add_subcommand(
      "bus-inbox", "print the reply-inbox prefix a NATS identity must use (--nats-creds)");
  auto* reg = app.add_subcommand("register", "register yourself");
  auto* r = &register_message;
  reg->add_option("--email", *r->mutable_email(),
                  "your e-mail (optional; needed only for notifications by e-mail)");
  reg->add_option("--timezone", *r->mutable_timezone(), "IANA time zone, e.g. Europe/Berlin");

  auto* profile = app.add_subcommand("profile", "show your profile and preferences");
  auto* prefs = app.add_subcommand("prefs", "change preferences (see --help)");
  prefs->add_option("--timezone", pf.time_zone, "IANA time zone, e.g. Europe/Berlin");
  prefs->add_option("--work-hours", pf.work_hours,
                    "e.g. \"mon-fri 09:00-17:00\", \"mon-thu 08:00-12:00,13:00-16:00; fri "
                    "08:00-12:00\"; none: the default");
  prefs->add_option("--notify-window", pf.notify_window,
                    "when coach may notify you, e.g. \"08:00-21:00\" (every day), \"mon-fri "
                    "09:00-18:00\"; any: any time");
  prefs->add_option("--humor", pf.humor, "humor intensity 0 (dry) to 5 (playful)");
  prefs->add_option("--nudges", pf.nudges, "on or off");
  prefs->add_option("--daily-cap", pf.daily_cap, "at most this many nudges a day, 1 to 24");
  prefs->add_option("--tracking", pf.tracking, "behavioral tracking on or off");
  prefs->add_option("--mode", pf.mode, "encouragement, roast, neutral or minimalist");
  prefs->add_option("--persona", pf.persona, "roast, chill, coach or neutral");
  prefs->add_option("--adaptation", pf.adaptation,
                    "on or off: coach moves gentler when you rate its nudges low");
  prefs->add_option("--channel", pf.channel, "push, email or sms");
  prefs->add_option("--trial", pf.trial,
                    "on or off: whether coach may hold a nudge back at random to learn if "
                    "nudges help you (docs/metrics.md)");

  auto* create = app.add_subcommand("create", "create a task");
  create->alias("add");
  auto* cr = &create_message;
  create->add_option("title", *cr->mutable_title(), "what to do")->required();
  create->add_option("--due", tf.due, "due: tomorrow 17:00, fri, +2d, 2026-12-02 ... (see --help)");
  create->add_option("--category", *cr->mutable_category());
  create->add_option("--description", *cr->mutable_description());
  create->add_option("--priority", tf.priority, "0 (none) to 4 (highest)");
  create->add_option("--estimate", tf.estimate, "how long it takes: 90m, 1h30m, 2h, 45");
  create->add_option("--id", *cr->mutable_task_id(), "task id (UUID); default: a new one");
  // --tag a --tag b, or --tag a,b: each occurrence one value, so that a
  // title after it stays the title.
  auto tag_option = [](CLI::App* sub, const std::string& name, std::vector<std::string>& into,
                       const std::string& help) {
    sub->add_option(name, into, help)->delimiter(',')->allow_extra_args(false);
  };
  tag_option(create, "--tag", tf.tags, "a tag; repeat for more (or a,b)");
  create->add_option("--repeat", tf.repeat,
                     "repeat by an RFC 5545 rule from --due: FREQ=WEEKLY;BYDAY=MO, "
                     "FREQ=MONTHLY;BYDAY=-1FR ...");
  create->add_option("--repeat-after-done", tf.repeat_after_done,
                     "repeat this long after each completion: 3d, 2w");

  auto* edit = app.add_subcommand("edit", "change a task");
  edit->alias("modify");
  edit->add_option("id", tf.id, "short id or UUID")->required();
  edit->add_option("--title", tf.title);
  edit->add_option("--due", tf.due, "the new due date (see --help)");
  edit->add_flag("--no-due", tf.no_due, "remove the due date");
  edit->add_option("--category", tf.category);
  edit->add_option("--description", tf.description);
  edit->add_option("--priority", tf.priority, "0 to 4");
  edit->add_option("--estimate", tf.estimate, "90m, 1h30m, 2h, 45");
  tag_option(edit, "--tag", tf.tags, "the task's new tags, all of them; repeat for more (or a,b)");
  edit->add_flag("--no-tags", tf.no_tags, "remove every tag");
  edit->add_flag("--series", tf.whole_series,
                 "a recurring task: change its later occurrences too (not --due)");

  auto* note = app.add_subcommand("note", "add a note to a task");
  note->add_option("id", tf.id, "short id or UUID")->required();
  note->add_option("text", tf.note, "the note, one argument (quote it)")->required();

  auto* snooze = app.add_subcommand("snooze", "put a task off");
  snooze->add_option("id", tf.id, "short id or UUID")->required();
  snooze->add_option("--until", tf.until, "tomorrow, mon 9am, +3h ... (a day alone: its start)");
  snooze->add_option("--for", tf.snooze_for, "90m, 2h, 3d");
  snooze->add_option("--reason", tf.reason);
  snooze->add_flag("--series", tf.whole_series,
                   "a recurring task: pause its series too (the next comes after --until)");

  std::map<std::string, CLI::App*> simple;
  for (auto [name, help] : {std::pair{"complete", "mark a task done"},
                            {"delete", "delete a task"},
                            {"reopen", "make a completed task pending"},
                            {"restore", "bring a deleted task back"},
                            {"get", "show every field of a task"}}) {
    simple[name] = app.add_subcommand(name, help);
    simple[name]->add_option("id", tf.id, "short id or UUID")->required();
  }
  simple["complete"]->alias("done");
  simple["get"]->alias("show");
  simple["complete"]->add_option("--took", tf.took, "how long it took: 90m, 1h30m");
  simple["delete"]->add_flag("--series", tf.whole_series,
                             "a recurring task: end its series (no next occurrence)");

  ViewFilter filter;
  auto* list = app.add_subcommand("list", "list tasks (default: pending and snoozed, by due)");
  list->alias("ls");
  list->add_option("--status", filter.statuses,
                   "comma separated: pending, snoozed, completed, deleted, missed, all");
  list->add_option("--category", filter.category, "this category (any case)");
  list->add_option("--priority", filter.priority, "0..4 exactly, or 3+ for at least 3");
  list->add_option("--sort", filter.sort, "due, urgency, priority, created or title")
      ->capture_default_str();
  tag_option(list, "--tag", filter.tags_any, "tasks with any of these tags; repeat (or a,b)");
  tag_option(list, "--tag-all", filter.tags_all, "tasks with every one of these tags");
  list->add_option("--due-from", filter.due_from, "due at or after (see --help)");
  list->add_option("--due-to", filter.due_to, "due before (see --help)");
  auto* next =
      app.add_subcommand("next", "the pending tasks by urgency (see coachctl next --help)");
  next->footer(
      "Urgency is a sum: due 12 x d (d: 1.0 at 7 days overdue, 0.2 at 14 days ahead or more,\n"
      "linear between; 0 without a due date), priority 1.5 x priority, age 2 x min(days/365, 1),\n"
      "snoozes 0.5 each (at most 2), risk 4 x p x d (p: the task's lateness risk, shown by\n"
      "coachctl show, with tracking on). Ties: earlier due, then older.");
  size_t next_limit = 10;
  next->add_option("--limit", next_limit, "at most this many")->capture_default_str();
  auto* today = app.add_subcommand("today", "pending tasks due today or overdue, by urgency");
  auto* overdue = app.add_subcommand("overdue", "pending tasks past their due, by urgency");

  auto* schedule = app.add_subcommand("schedule", "coach's plan: blocks of work time, day by day");
  uint32_t horizon = 14;
  schedule->add_option("--days", horizon, "how many days ahead (1 to 60)")->capture_default_str();
  auto* accept = schedule->add_subcommand("accept", "take row N of the plan");
  auto* reject = schedule->add_subcommand("reject", "turn row N of the plan down");
  int block_row = 0;
  accept->add_option("row", block_row, "the row number coachctl schedule shows")->required();
  reject->add_option("row", block_row, "the row number coachctl schedule shows")->required();
  std::string reject_reason;
  reject->add_option("--reason", reject_reason, "why not");

  auto* calendar = app.add_subcommand("calendar", "your plan for your calendar app");
  calendar->require_subcommand(1);
  auto* calendar_export = calendar->add_subcommand(
      "export",
      "the plan as iCalendar (RFC 5545) on stdout: accepted and suggested blocks, due tasks; "
      "coachctl calendar export > plan.ics");
  uint32_t calendar_days = 14;
  calendar_export->add_option("--days", calendar_days, "how many days ahead (1 to 60)")
      ->capture_default_str();
  auto* calendar_feed = calendar->add_subcommand(
      "feed",
      "a secret URL your calendar app subscribes to (a new one revokes the old); --revoke ends it");
  bool feed_revoke = false;
  calendar_feed->add_flag("--revoke", feed_revoke, "end the feed: its URL stops working");

  auto* nudge = app.add_subcommand("nudge", "coaching nudges");
  nudge->require_subcommand(1);
  auto* nudge_now = nudge->add_subcommand("now", "a nudge now, about a task or the most pressing");
  std::string nudge_task;
  nudge_now->add_option("task", nudge_task, "short id or UUID");
  auto* nudge_list = nudge->add_subcommand("list", "your recent nudges, newest first, numbered");
  uint32_t nudge_limit = 20;
  nudge_list->add_option("--limit", nudge_limit, "1 to 50")->capture_default_str();
  auto* nudge_rate = nudge->add_subcommand("rate", "rate nudge N of coachctl nudge list");
  int nudge_row = 0, usefulness = 0;
  std::string rate_comment;
  nudge_rate->add_option("row", nudge_row, "its number in coachctl nudge list")->required();
  nudge_rate->add_option("usefulness", usefulness, "1 (useless) to 5 (very useful)")->required();
  nudge_rate->add_option("comment", rate_comment, "what would have been better");

  auto* features = app.add_subcommand("features", "your behavior features (tracking on)");
  auto* insights =
      app.add_subcommand("insights", "what coach has learned about you, in plain words");
  auto* export_all = app.add_subcommand("export", "all your data as one JSON document");
  auto* erase = app.add_subcommand("delete-me", "erase yourself and all your data, for good");
  std::string confirm;
  erase->add_option("--confirm", confirm, "your user id, to confirm")->required();
  auto* node = admin->add_subcommand("node", "node figures (admin token)");
  // Ops (admin token): watch and steer the node's actors and queues.
  auto* ops = app.add_subcommand("ops", "operate the node (admin token)");
  ops->require_subcommand(1);
  auto* ops_actors =
      ops->add_subcommand("actors", "list resident user actors, deepest mailbox first");
  uint32_t actor_limit = 100;
  ops_actors->add_option("--limit", actor_limit, "at most this many (1 to 1000)")
      ->capture_default_str();
  auto* ops_stop = ops->add_subcommand(
      "stop", "kill one user's actor as a crash would; supervision starts a new one");
  std::string stop_user;
  ops_stop->add_option("user", stop_user, "the user's id (UUID)")->required();
  auto* ops_batch = ops->add_subcommand("batch", "start the behavior batch job");
  bool batch_full = false, batch_wait = false;
  ops_batch->add_flag("--full", batch_full, "refold every user, not only those with new events");
  ops_batch->add_flag("--wait", batch_wait, "print progress until the run ends");
  auto* ops_queues =
      ops->add_subcommand("queues", "show queue depths: mailboxes, LLM, notifications");
  auto* ops_cluster = ops->add_subcommand(
      "cluster", "show the cluster: members, partitions per node, lease ages, catch-up");
  auto* raw = app.add_subcommand("send", "send any operation with a JSON body; prints the reply");
  raw->add_option("operation", operation, "e.g. task.create")->required();
  raw->add_option("body", raw_body, "JSON body; default {}");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (explain_command_error(app, e)) return kExitUsage;
    int code = app.exit(e);
    return code == 0 ? 0 : kExitUsage;
  }
  try {
    g.colour = ctl::use_colour(colour_flag, ::isatty(1) == 1, std::getenv("NO_COLOR"),
                               std::getenv("TERM"));
    SettingFlags settings{url_opt, tls_opt, plain_opt, creds_opt, key_opt};
    resolve_settings(g, settings, config_file, token_file, key_file);
    if (new_user->parsed()) {
      fmt::print("{}\n", coach::new_uuid_string());
      return 0;
    }
    if (bus_init->parsed()) {
      auto authority = coach::actors::open_bus_authority(bus_dir, /*create=*/true);
      if (!authority) throw UsageError{authority.error().message};
      std::filesystem::create_directories(store_dir);
      auto written = coach::actors::write_server_config(
          bus_dir, *authority, std::filesystem::absolute(store_dir).string());
      if (!written) throw UsageError{written.error().message};
      fmt::print("{}/server.conf\n", bus_dir);
      return 0;
    }
    if (bus_inbox->parsed()) {
      std::ifstream creds_in(g.nats_creds);
      std::stringstream text;
      text << creds_in.rdbuf();
      auto key = coach::actors::credentials_public_key(text.str());
      if (!key) throw UsageError{g.nats_creds + ": " + key.error().message};
      fmt::print("{}\n", coach::actors::inbox_prefix_of(*key));
      return 0;
    }
    if (bus_creds->parsed())
      return issue_bus_creds(bus_dir, bus_role, bus_channel, bus_ttl, bus_name, bus_out);
    if (issue->parsed()) {
      auto signer = coach::actors::TokenSigner::load(key_file, /*create=*/false);
      if (!signer) throw UsageError{signer.error().message};
      auto user = coach::Uuid::parse(token_user, "--user");
      if (!user) throw UsageError{user.error().message};
      auto role = enum_value<v1::Role>(v1::Role_descriptor(), "ROLE_", role_name, "--role");
      fmt::print("{}\n", signer->issue(*user, role, lifetime(ttl)));
      return 0;
    }
    if (!token_file.empty()) {
      auto token = coach::apps::read_secret_file(token_file);
      if (!token) throw UsageError{token.error().message};
      g.token = *token;
    }
    if (g.token.empty())
      throw UsageError{
          "a token is required: --token-file, COACH_TOKEN or token-file in the config file; "
          "coachctl admin token issues one"};
    Session s(g);
    if (raw->parsed()) {  // the reply as JSON, an error's too (also on stderr)
      Global json = g;
      json.json = true;
      std::string answer;
      int code = request(json, operation, raw_body, answer);
      if (code == 0) fmt::print("{}\n", answer);
      return code;
    }
    if (insights->parsed()) return show_insights(s);
    if (features->parsed()) return show_features(s);
    if (node->parsed()) {
      Global json = g;
      json.json = true;
      return send(json, "admin.node", "");
    }
    if (ops_actors->parsed())
      return send(g, "admin.actors", fmt::format(R"({{"limit": {}}})", actor_limit));
    if (ops_stop->parsed())
      return send(g, "admin.actor.stop", fmt::format(R"({{"user_id": "{}"}})", stop_user));
    if (ops_queues->parsed()) return send(g, "admin.ops", "");
    if (ops_cluster->parsed()) return show_cluster(g);
    if (ops_batch->parsed()) return run_batch(g, batch_full, batch_wait);
    if (erase->parsed()) return delete_me(s, confirm);
    if (export_all->parsed()) return export_user(g);
    if (reg->parsed()) {
      v1::Command only;
      *only.mutable_register_user() = register_message;
      auto reply = call(g, "user.register", only);
      if (g.json) return fmt::print("{}\n", coach::actors::to_json(reply)), 0;
      print_profile(s, reply.profile());
      return 0;
    }
    if (profile->parsed()) {
      if (g.json) return send(g, "user.get", "");
      print_profile(s, s.profile());
      return 0;
    }
    if (prefs->parsed()) {
      pf.work_hours_given = prefs->count("--work-hours") > 0;
      pf.notify_window_given = prefs->count("--notify-window") > 0;
      return set_prefs(s, pf);
    }
    if (create->parsed()) return create_task(s, create_message, tf);
    if (edit->parsed()) {
      tf.given = {{"title", edit->count("--title") > 0},
                  {"category", edit->count("--category") > 0},
                  {"description", edit->count("--description") > 0},
                  {"priority", edit->count("--priority") > 0},
                  {"estimate", edit->count("--estimate") > 0},
                  {"tag", edit->count("--tag") > 0}};
      return edit_task(s, tf);
    }
    if (note->parsed()) return note_task(s, tf);
    if (snooze->parsed()) return snooze_task(s, tf);
    for (auto& [name, sub] : simple)
      if (sub->parsed()) return name == "get" ? get_task(s, tf.id) : change_status(s, name, tf);
    if (list->parsed()) return print_view(s, filter_tasks(s, filter), "no tasks", false, 0);
    if (next->parsed()) return show_view(s, View::next, next_limit);
    if (today->parsed()) return show_view(s, View::today, 0);
    if (overdue->parsed()) return show_view(s, View::overdue, 0);
    if (accept->parsed()) return decide_block(s, horizon, true, block_row, "");
    if (reject->parsed()) return decide_block(s, horizon, false, block_row, reject_reason);
    if (schedule->parsed()) return show_schedule(s, get_schedule(s, horizon));
    if (calendar_export->parsed()) {
      v1::Command c;
      c.mutable_get_calendar()->set_horizon_days(calendar_days);
      fmt::print("{}", call(s.g, "calendar.get", c).calendar().ics());
      return 0;
    }
    if (calendar_feed->parsed()) return calendar_feed_command(s, feed_revoke);
    if (nudge_now->parsed()) return nudge_now_about(s, nudge_task);
    if (nudge_list->parsed()) return show_nudges(s, nudge_limit);
    if (nudge_rate->parsed()) return rate_nudge(s, nudge_row, usefulness, rate_comment);
  } catch (const UsageError& e) {
    fmt::print(stderr, "coachctl: {}\n", e.message);
    return kExitUsage;
  } catch (const Exit& e) {
    return e.code;
  }
  return kExitUsage;
}
