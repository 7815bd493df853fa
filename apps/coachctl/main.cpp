// coachctl: coach's command line client, over NATS request-reply.
//
// Exit codes: 0 done; 1 coach answered with an error; 2 bad usage;
// 3 NATS unreachable or no answer in time.
#include <google/protobuf/util/time_util.h>
#include <nats/nats.h>

#include <fmt/core.h>
#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <cstdlib>
#include <ctime>
#include <optional>
#include "apps/coachctl/ops_print.h"

#include "apps/common/coach_client.h"
#include "apps/common/secret_file.h"
#include "base/ids.h"
#include "schema/internal.pb.h"
#include "wire/api_codec.h"
#include "wire/auth.h"
#include "wire/bus_identity.h"
#include "wire/nats_connect.h"

using coach::actors::Encoding;
using google::protobuf::Timestamp;
using google::protobuf::util::TimeUtil;

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
};

struct UsageError {
  std::string message;
};

Timestamp parse_time(const std::string& text, const std::string& flag) {
  Timestamp ts;
  if (!TimeUtil::FromString(text, &ts))
    throw UsageError{flag + " needs an RFC 3339 time like 2026-12-01T17:00:00Z, got \"" + text +
                     "\""};
  return ts;
}

// "90m", "2h", "3d" from now.
Timestamp parse_from_now(const std::string& text) {
  char unit = text.empty() ? '?' : text.back();
  long n = std::strtol(text.c_str(), nullptr, 10);
  long seconds = unit == 'm' ? 60 : unit == 'h' ? 3600 : unit == 'd' ? 86400 : 0;
  if (n <= 0 || seconds == 0)
    throw UsageError{"a duration looks like 90m, 2h or 3d, got \"" + text + "\""};
  return TimeUtil::GetCurrentTime() + TimeUtil::SecondsToDuration(n * seconds);
}

std::string show_time(const Timestamp& t) {
  return t.seconds() == 0 && t.nanos() == 0 ? "-" : TimeUtil::ToString(t);
}

std::string short_status(coach::v1::TaskStatus s) {
  auto name = coach::v1::TaskStatus_Name(s);
  return name.substr(std::string("TASK_STATUS_").size());
}

// An instant in this machine's local time zone (TZ), e.g.
// "2026-12-01 10:15 CET".
std::string local_time(const Timestamp& t) {
  time_t seconds = static_cast<time_t>(t.seconds());
  std::tm local{};
  if (!localtime_r(&seconds, &local)) return TimeUtil::ToString(t);
  char text[64];
  size_t n = std::strftime(text, sizeof text, "%Y-%m-%d %H:%M %Z", &local);
  return n ? std::string(text, n) : TimeUtil::ToString(t);
}

// One line per task: id, status, due, title, then its tags (#tag) and how
// many notes it has.
void print_task(const coach::v1::Task& t) {
  std::string extra;
  if (!t.tags().empty()) extra += " ";
  for (const auto& tag : t.tags()) extra += " #" + tag;
  if (t.notes_size() > 0)
    extra += fmt::format("  ({} note{})", t.notes_size(), t.notes_size() == 1 ? "" : "s");
  fmt::print("{}  {:<9}  due {:<20}  {}{}\n", t.id(), short_status(t.status()),
             show_time(t.due_at()), t.title(), extra);
}

// The task's line, then each note under it with its local time; the lines
// of a note after its first are indented to its text.
void print_task_notes(const coach::v1::Task& t) {
  print_task(t);
  for (const auto& note : t.notes()) {
    auto when = local_time(note.added_at());
    std::string indent(2 + when.size() + 2, ' ');
    std::string text;
    for (char c : note.text()) text += c == '\n' ? "\n" + indent : std::string(1, c);
    fmt::print("  {}  {}\n", when, text);
  }
}

void print_reply(const coach::v1::Reply& reply, bool notes = false) {
  if (reply.has_task()) {
    notes ? print_task_notes(reply.task()) : print_task(reply.task());
  } else if (reply.has_task_list()) {
    for (const auto& t : reply.task_list().tasks()) print_task(t);
    if (reply.task_list().tasks().empty()) fmt::print("no tasks\n");
    if (!reply.task_list().next_page_token().empty())
      fmt::print("more: --page-token {}\n", reply.task_list().next_page_token());
  } else if (reply.has_profile()) {
    const auto& p = reply.profile();
    fmt::print(
        "user      {} <{}>\ntimezone  {}\nnudges    {} ({}), humor {}, persona {}\n"
        "tracking  {}\n",
        p.user().id(), p.user().email(), p.user().timezone(),
        p.preferences().nudges_enabled() ? "on" : "off",
        coach::v1::CoachingMode_Name(p.preferences().coaching_mode()),
        p.preferences().humor_intensity(), coach::v1::PersonaType_Name(p.persona().persona_type()),
        p.preferences().behavioral_tracking_enabled() ? "on" : "off");
  } else if (reply.has_actor_list()) {
    coach::apps::print_actor_list(reply.actor_list());
  } else if (reply.has_batch_status()) {
    coach::apps::print_batch_status(reply.batch_status());
  } else if (reply.has_ops()) {
    coach::apps::print_queues(reply.ops());
  }
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
  if (!ttl.empty())
    grant.ttl = std::chrono::seconds((parse_from_now(ttl) - TimeUtil::GetCurrentTime()).seconds());
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

// Sends one command; on success `answer` holds the reply body (JSON). Errors
// are printed; returns the exit code.
int request(const Global& g, const std::string& operation, const std::string& body,
            std::string& answer) {
  coach::actors::NatsConfig config;
  config.url = g.nats_url;
  config.name = "coachctl";
  config.timeout_ms = g.timeout_ms;
  config.plaintext = g.plaintext;
  config.use_tls_dir(g.tls_dir);
  if (g.nats_creds_given || std::filesystem::exists(g.nats_creds)) config.creds_file = g.nats_creds;
  auto connected = coach::actors::connect_nats(config);
  if (!connected) {
    fmt::print(stderr, "coachctl: {}\n", connected.error().message);
    return kExitTransport;
  }
  natsConnection* nc = *connected;
  coach::apps::RequestHeaders headers{g.token, g.user, g.idempotency_key};
  auto reply = coach::apps::coach_request(nc, operation, body, headers, g.timeout_ms);
  int code = 0;
  if (!reply) {
    fmt::print(stderr, "coachctl: {}\n", reply.error().message);
    code = kExitTransport;
  } else {
    answer = coach::actors::to_json(*reply);
    if (reply->has_error()) {
      if (g.json) fmt::print("{}\n", answer);
      fmt::print(stderr, "error: {}: {}\n", reply->error().code(), reply->error().message());
      code = kExitError;
    }
  }
  natsConnection_Destroy(nc);
  return code;
}

// Sends one command and prints the answer (a task with its notes for
// task.get and task.note); returns the exit code.
int send(const Global& g, const std::string& operation, const std::string& body) {
  std::string answer;
  int code = request(g, operation, body, answer);
  if (code != 0) return code;
  if (g.json) {
    fmt::print("{}\n", answer);
  } else if (auto reply = coach::actors::decode_reply(answer, Encoding::json)) {
    print_reply(*reply, operation == "task.get" || operation == "task.note");
  }
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

int send_command(const Global& g, const std::string& operation, const coach::v1::Command& c) {
  auto body = coach::actors::encode_command(operation, c, Encoding::json);
  if (!body) throw UsageError{body.error().message};
  return send(g, operation, *body);
}

std::optional<bool> on_off(const std::string& value, const std::string& flag) {
  if (value.empty()) return std::nullopt;
  if (value == "on") return true;
  if (value == "off") return false;
  throw UsageError{flag + " takes on or off"};
}

template <class Enum, class Parse>
Enum enum_value(const std::string& prefix, const std::string& value, Parse parse) {
  std::string upper;
  for (char c : value) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  Enum e{};
  if (!parse(prefix + upper, &e)) throw UsageError{"unknown value \"" + value + "\""};
  return e;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"coachctl: talk to coach over NATS"};
  app.require_subcommand(1);
  app.fallthrough();  // global flags may also follow the subcommand
  Global g;
  if (const char* u = std::getenv("COACH_USER")) g.user = u;
  if (const char* t = std::getenv("COACH_TOKEN")) g.token = t;
  app.add_option("--nats-url", g.nats_url, "NATS server")->capture_default_str();
  app.add_option("--tls-dir", g.tls_dir, "ca.pem, client.pem, client.key (scripts/make-certs.sh)")
      ->capture_default_str();
  app.add_flag("--plaintext", g.plaintext, "connect without TLS");
  if (const char* c = std::getenv("COACH_NATS_CREDS"); c && *c)
    g.nats_creds = c, g.nats_creds_given = true;
  app.add_option("--nats-creds", g.nats_creds,
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
  app.add_flag("--json", g.json, "print the answer as JSON");

  // One message per subcommand: they are members of one oneof in Command.
  coach::v1::RegisterUser register_message;
  coach::v1::CreateTask create_message;
  coach::v1::ListTasks list_message;
  std::string operation, raw_body, due, until, in, status_list, tracking, nudges, mode, persona,
      channel;
  bool no_due = false;

  auto* new_user = app.add_subcommand("new-user-id", "print a fresh user id");
  auto* admin = app.add_subcommand("admin", "node administration");
  admin->require_subcommand(1);
  auto* issue =
      admin->add_subcommand("token", "issue a bearer token (needs coachd's token key file)");
  std::string key_file = ".coach/token.key", token_user, role_name = "user", ttl = "30d";
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
  bus_creds->add_option("--role", bus_role, "coachd, client or deliver")->capture_default_str();
  bus_creds->add_option("--channel", bus_channel, "deliver only: push, email or sms");
  bus_creds->add_option("--ttl", bus_ttl, "lifetime: 90m, 12h, 30d (default: no expiry)");
  bus_creds->add_option("--name", bus_name, "shown in nats-server's logs");
  bus_creds->add_option("--out", bus_out, "where to write it, mode 0600 ('-': stdout)")
      ->capture_default_str();
  auto* bus_inbox = admin->add_subcommand(
      "bus-inbox", "print the reply-inbox prefix a NATS identity must use (--nats-creds)");
  auto* reg = app.add_subcommand("register", "register yourself");
  auto* r = &register_message;
  reg->add_option("--email", *r->mutable_email(), "your email")->required();
  reg->add_option("--timezone", *r->mutable_timezone(), "IANA time zone, e.g. Europe/Berlin");

  auto* profile = app.add_subcommand("profile", "show your profile and preferences");
  auto* prefs = app.add_subcommand("prefs", "change preferences (see --help)");
  std::string time_zone;
  int humor = -1;
  prefs->add_option("--timezone", time_zone, "IANA time zone");
  prefs->add_option("--humor", humor, "humor intensity 0..5");
  prefs->add_option("--nudges", nudges, "on or off");
  prefs->add_option("--tracking", tracking, "behavioral tracking on or off");
  prefs->add_option("--mode", mode, "encouragement, roast, neutral or minimalist");
  prefs->add_option("--persona", persona, "roast, chill, coach or neutral");
  prefs->add_option("--channel", channel, "push, email or sms");

  auto* create = app.add_subcommand("create", "create a task");
  create->alias("add");
  auto* cr = &create_message;
  create->add_option("title", *cr->mutable_title(), "what to do")->required();
  create->add_option("--due", due, "due time, RFC 3339");
  create->add_option("--category", *cr->mutable_category());
  create->add_option("--description", *cr->mutable_description());
  int priority = 0, estimate = 0;
  create->add_option("--priority", priority, "0..4");
  create->add_option("--estimate", estimate, "estimated minutes");
  create->add_option("--id", *cr->mutable_task_id(), "task id (UUID); default: a new one");
  // --tag a --tag b, or --tag a,b: each occurrence one value, so that a
  // title after it stays the title.
  std::vector<std::string> tags, tags_all;
  auto tag_option = [](CLI::App* sub, const std::string& name, std::vector<std::string>& into,
                       const std::string& help) {
    sub->add_option(name, into, help)->delimiter(',')->allow_extra_args(false);
  };
  tag_option(create, "--tag", tags, "a tag; repeat for more (or a,b)");

  std::string id, title, category, description;
  auto* edit = app.add_subcommand("edit", "change a task");
  edit->add_option("id", id)->required();
  edit->add_option("--title", title);
  edit->add_option("--due", due, "RFC 3339");
  edit->add_flag("--no-due", no_due, "remove the due date");
  edit->add_option("--category", category);
  edit->add_option("--description", description);
  edit->add_option("--priority", priority);
  edit->add_option("--estimate", estimate);
  tag_option(edit, "--tag", tags, "the task's new tags, all of them; repeat for more (or a,b)");
  bool no_tags = false;
  edit->add_flag("--no-tags", no_tags, "remove every tag");

  auto* note = app.add_subcommand("note", "add a note to a task");
  std::string note_text;
  note->add_option("id", id)->required();
  note->add_option("text", note_text, "the note, one argument (quote it)")->required();

  auto* snooze = app.add_subcommand("snooze", "put a task off");
  snooze->add_option("id", id)->required();
  snooze->add_option("--until", until, "RFC 3339");
  snooze->add_option("--for", in, "90m, 2h, 3d");
  std::string reason;
  snooze->add_option("--reason", reason);

  std::map<std::string, CLI::App*> simple;
  for (auto [name, help] : {std::pair{"complete", "mark a task done"},
                            {"delete", "delete a task"},
                            {"reopen", "make a completed task pending"},
                            {"restore", "bring a deleted task back"},
                            {"get", "show a task"}}) {
    simple[name] = app.add_subcommand(name, help);
    simple[name]->add_option("id", id)->required();
  }

  auto* list = app.add_subcommand("list", "list tasks");
  auto* ls = &list_message;
  list->add_option("--status", status_list, "comma separated: pending,snoozed,completed,deleted");
  list->add_option("--category", *ls->mutable_category());
  tag_option(list, "--tag", tags, "tasks with any of these tags; repeat for more (or a,b)");
  tag_option(list, "--tag-all", tags_all, "tasks with every one of these tags");
  std::string due_from, due_to;
  list->add_option("--due-from", due_from, "RFC 3339");
  list->add_option("--due-to", due_to, "RFC 3339");
  uint32_t page_size = 0;
  list->add_option("--page-size", page_size);
  list->add_option("--page-token", *ls->mutable_page_token());

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
  auto* raw = app.add_subcommand("send", "send any operation with a JSON body");
  raw->add_option("operation", operation, "e.g. task.create")->required();
  raw->add_option("body", raw_body, "JSON body; default {}");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : kExitUsage;
  }
  try {
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
      auto role = enum_value<coach::v1::Role>("ROLE_", role_name, coach::v1::Role_Parse);
      auto lifetime = parse_from_now(ttl) - TimeUtil::GetCurrentTime();
      fmt::print("{}\n", signer->issue(*user, role, std::chrono::seconds(lifetime.seconds())));
      return 0;
    }
    if (!token_file.empty()) {
      auto token = coach::apps::read_secret_file(token_file);
      if (!token) throw UsageError{token.error().message};
      g.token = *token;
    }
    if (g.token.empty())
      throw UsageError{
          "a token is required: --token-file or COACH_TOKEN; coachctl admin token issues one"};
    if (raw->parsed()) return send(g, operation, raw_body);
    if (insights->parsed()) {
      Global json = g;
      json.json = true;
      return send(json, "user.insights", "");
    }
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
    if (ops_batch->parsed()) return run_batch(g, batch_full, batch_wait);
    if (erase->parsed()) return send(g, "user.delete", R"({"confirm": ")" + confirm + R"("})");
    if (export_all->parsed()) return export_user(g);
    if (reg->parsed()) {
      coach::v1::Command only;
      *only.mutable_register_user() = register_message;
      return send_command(g, "user.register", only);
    }
    if (profile->parsed()) return send(g, "user.get", "");
    if (prefs->parsed()) {
      coach::v1::Command only;
      auto* p = only.mutable_set_preferences();
      if (!time_zone.empty()) p->set_timezone(time_zone);
      if (humor >= 0) p->set_humor_intensity(humor);
      if (auto v = on_off(nudges, "--nudges")) p->set_nudges_enabled(*v);
      if (auto v = on_off(tracking, "--tracking")) p->set_behavioral_tracking_enabled(*v);
      if (!mode.empty())
        p->set_coaching_mode(enum_value<coach::v1::CoachingMode>("COACHING_MODE_", mode,
                                                                 coach::v1::CoachingMode_Parse));
      if (!persona.empty())
        p->set_persona_type(enum_value<coach::v1::PersonaType>("PERSONA_TYPE_", persona,
                                                               coach::v1::PersonaType_Parse));
      if (!channel.empty())
        p->set_delivery_channel(enum_value<coach::v1::DeliveryChannel>(
            "DELIVERY_CHANNEL_", channel, coach::v1::DeliveryChannel_Parse));
      return send_command(g, "preferences.set", only);
    }
    if (create->parsed()) {
      coach::v1::Command only;
      auto* x = only.mutable_task()->mutable_create();
      *x = create_message;
      if (!due.empty()) *x->mutable_due_at() = parse_time(due, "--due");
      x->set_priority(priority);
      x->set_estimated_minutes(estimate);
      for (const auto& tag : tags) x->add_tags(tag);
      return send_command(g, "task.create", only);
    }
    if (edit->parsed()) {
      coach::v1::Command only;
      auto* x = only.mutable_task()->mutable_edit();
      x->set_task_id(id);
      if (edit->count("--title")) x->set_title(title);
      if (!due.empty()) *x->mutable_due_at() = parse_time(due, "--due");
      if (no_due) x->set_clear_due_at(true);
      if (edit->count("--category")) x->set_category(category);
      if (edit->count("--description")) x->set_description(description);
      if (edit->count("--priority")) x->set_priority(priority);
      if (edit->count("--estimate")) x->set_estimated_minutes(estimate);
      if (no_tags && edit->count("--tag")) throw UsageError{"give --tag or --no-tags, not both"};
      if (no_tags || edit->count("--tag")) x->set_replace_tags(true);
      for (const auto& tag : tags) x->add_tags(tag);
      return send_command(g, "task.edit", only);
    }
    if (note->parsed()) {
      coach::v1::Command only;
      auto* x = only.mutable_task()->mutable_note();
      x->set_task_id(id);
      x->set_text(note_text);
      return send_command(g, "task.note", only);
    }
    if (snooze->parsed()) {
      coach::v1::Command only;
      auto* x = only.mutable_task()->mutable_snooze();
      x->set_task_id(id);
      if (until.empty() == in.empty()) throw UsageError{"snooze needs --until or --for"};
      *x->mutable_until() = until.empty() ? parse_from_now(in) : parse_time(until, "--until");
      x->set_reason(reason);
      return send_command(g, "task.snooze", only);
    }
    for (auto& [name, sub] : simple) {
      if (!sub->parsed()) continue;
      coach::v1::Command only;
      auto* t = only.mutable_task();
      if (name == "complete") t->mutable_complete()->set_task_id(id);
      if (name == "delete") t->mutable_delete_()->set_task_id(id);
      if (name == "reopen") t->mutable_reopen()->set_task_id(id);
      if (name == "restore") t->mutable_restore()->set_task_id(id);
      if (name == "get") {
        only.mutable_get_task()->set_task_id(id);
        return send_command(g, "task.get", only);
      }
      return send_command(g, "task." + name, only);
    }
    if (list->parsed()) {
      coach::v1::Command only;
      auto* x = only.mutable_list_tasks();
      *x = list_message;
      for (size_t start = 0; start < status_list.size();) {
        auto end = status_list.find(',', start);
        auto word =
            status_list.substr(start, end == std::string::npos ? std::string::npos : end - start);
        x->add_statuses(
            enum_value<coach::v1::TaskStatus>("TASK_STATUS_", word, coach::v1::TaskStatus_Parse));
        start = end == std::string::npos ? status_list.size() : end + 1;
      }
      if (!due_from.empty()) *x->mutable_due_from() = parse_time(due_from, "--due-from");
      if (!due_to.empty()) *x->mutable_due_to() = parse_time(due_to, "--due-to");
      x->set_page_size(page_size);
      for (const auto& tag : tags) x->add_tags_any(tag);
      for (const auto& tag : tags_all) x->add_tags_all(tag);
      return send_command(g, "task.list", only);
    }
  } catch (const UsageError& e) {
    fmt::print(stderr, "coachctl: {}\n", e.message);
    return kExitUsage;
  }
  return kExitUsage;
}
