// coachctl as a person runs it, against a real node: tags, notes and the
// list filters (apps/coachctl), with its exit codes and error lines.
#include <doctest/doctest.h>
#include <google/protobuf/util/json_util.h>
#include <libical/ical.h>

#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <sstream>

#include "tests/coach_node.h"

using namespace coach;

namespace {

struct Node : test::CoachNode {
  std::string user;
  // Variables every run of coachctl gets (COACH_NOW, say).
  std::vector<std::string> env;
  explicit Node(const std::string& zone = "UTC", const std::string& id = new_uuid_string())
      : user(id) {
    ok("user.register", R"({"email": "cli@example.com", "timezone": ")" + zone + R"("})", user);
  }
  test::ToolRun coachctl(std::vector<std::string> args) {
    return CoachNode::coachctl(std::move(args), token(v1::ROLE_USER, Uuid::parse(user).value()),
                               env);
  }
  // A coachctl run that must succeed; what it printed.
  std::string out(std::vector<std::string> args) {
    auto run = coachctl(args);
    CAPTURE(args);
    CAPTURE(run.err);
    REQUIRE(run.exit_code == 0);
    return run.out;
  }
  // Runs each command line in turn; a transcript as a terminal shows it:
  // "$ coachctl ...", what it printed, and for a failed run its exit code
  // and error lines.
  std::string transcript(const std::vector<std::vector<std::string>>& runs) {
    std::string text;
    for (const auto& args : runs) {
      text += "$ coachctl";
      for (const auto& a : args)  // quoted as a shell would need it
        text +=
            " " + (a.find_first_of(" \"") == std::string::npos && !a.empty() ? a : "'" + a + "'");
      auto run = coachctl(args);
      text += "\n" + run.out;
      if (run.exit_code != 0) text += "[exit " + std::to_string(run.exit_code) + "]\n" + run.err;
    }
    return text;
  }
};

v1::Reply reply_of(const std::string& json) {
  v1::Reply reply;
  REQUIRE(google::protobuf::util::JsonStringToMessage(json, &reply).ok());
  return reply;
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// `text` must be tests/golden/coachctl/<name>.txt exactly. After a change
// of coachctl's output on purpose, COACH_UPDATE_GOLDEN=1 writes the files
// instead (then read the diff before committing it).
void golden(const std::string& name, const std::string& text) {
  std::string path = std::string(COACH_SOURCE_DIR) + "/tests/golden/coachctl/" + name + ".txt";
  if (const char* update = std::getenv("COACH_UPDATE_GOLDEN"); update && *update == '1') {
    std::ofstream(path) << text;
    return;
  }
  auto want = slurp(path);
  REQUIRE_MESSAGE(!want.empty(), path << " is missing (COACH_UPDATE_GOLDEN=1 writes it)");
  CHECK_MESSAGE(text == want, path << " differs; got:\n" << text);
}

// Friday 2026-03-06 09:00 in New York (EST, -05:00), two days before the
// change to EDT (-04:00): coachctl's clock in the golden runs. coach keeps
// its own, so tasks are created after it and their age counts nothing.
constexpr const char* kNow = "COACH_NOW=2026-03-06T14:00:00Z";
constexpr const char* kNewYork = "America/New_York";
constexpr const char* kUser = "00000000-0000-4000-8000-00000000c0de";

// A fixed task id whose short id is its first four characters.
std::string fixed_id(const std::string& four) {
  return four + "0000-0000-4000-8000-000000000000";
}

}  // namespace

TEST_CASE("coachctl: add and edit with --tag, note, list --tag and --tag-all, get shows notes") {
  // Local time is the user's (their profile's zone), five hours east of UTC.
  Node node("Asia/Karachi");
  auto created = reply_of(
      node.out({"--json", "add", "--tag", "Home", "Plant tulips", "--tag", "garden,home"}));
  auto tulips = created.task().id();
  CHECK(created.task().title() == "Plant tulips");
  REQUIRE(created.task().tags_size() == 2);
  CHECK(created.task().tags(0) == "garden");
  CHECK(created.task().tags(1) == "home");
  auto roof = reply_of(node.out({"--json", "create", "Fix the roof", "--tag", "home"})).task().id();
  node.out({"create", "Call mum"});
  node.out({"create", "Sweep the porch", "--tag", "home"});

  // The line of a task shows its tags; an edit's --tag is the new set.
  auto edited = node.out({"edit", roof, "--tag", "home", "--tag", "URGENT"});
  CHECK(has(edited, "Fix the roof  #home #urgent"));
  auto cleared = reply_of(node.out({"--json", "edit", tulips, "--no-tags"}));
  CHECK(cleared.task().tags_size() == 0);
  node.out({"edit", tulips, "--tag", "garden"});

  // Notes: one line each under the task, at the local time.
  auto noted = node.out({"note", tulips, "bought 40 bulbs"});
  CHECK(has(noted, "Plant tulips  #garden  (1 note)"));
  CHECK(has(noted, "bought 40 bulbs"));
  node.out({"note", tulips, "left bed first\nthen the right"});
  auto json = reply_of(node.out({"--json", "get", tulips})).task();
  REQUIRE(json.notes_size() == 2);
  time_t at = static_cast<time_t>(json.notes(0).added_at().seconds()) + 5 * 3600;
  std::tm t{};
  gmtime_r(&at, &t);
  char expected[64];
  std::strftime(expected, sizeof expected, "%a %Y-%m-%d %H:%M PKT", &t);
  auto got = node.out({"get", tulips});
  CAPTURE(got);
  CHECK(has(got, tulips));
  CHECK(has(got, "title        Plant tulips\n"));
  CHECK(has(got, "tags         #garden\n"));
  CHECK(has(got, "notes        2\n"));
  CHECK(has(got, std::string("  ") + expected + "  bought 40 bulbs\n"));
  // A second line of a note is indented under its text.
  CHECK(has(got, "left bed first\n" + std::string(2 + std::strlen(expected) + 2, ' ') +
                     "then the right\n"));

  // list --tag: any of them; --tag-all: every one.
  auto any = node.out({"list", "--tag", "garden", "--tag", "urgent"});
  CHECK(has(any, "Plant tulips"));
  CHECK(has(any, "Fix the roof"));
  CHECK_FALSE(has(any, "Call mum"));
  auto all = node.out({"list", "--tag-all", "home,urgent"});
  CHECK(has(all, "Fix the roof"));
  CHECK_FALSE(has(all, "Plant tulips"));
  CHECK_FALSE(has(all, "Sweep the porch"));  // home, but not urgent
  CHECK(has(node.out({"list", "--tag", "nothing"}), "no tasks"));

  // Errors: coach's answer printed, exit 1; bad usage, exit 2.
  auto bad = node.coachctl({"add", "x", "--tag", "to do"});
  CHECK(bad.exit_code == 1);
  CHECK(has(bad.err, "error: invalid_argument: tag \"to do\" in tags holds whitespace"));
  node.out({"delete", roof});
  auto late = node.coachctl({"note", roof, "too late"});
  CHECK(late.exit_code == 1);
  CHECK(has(late.err, "error: conflict: task " + roof + " is deleted; restore it"));
  auto empty = node.coachctl({"note", tulips, ""});
  CHECK(empty.exit_code == 1);
  CHECK(has(empty.err, "error: invalid_argument: text is required"));
  CHECK(node.coachctl({"edit", tulips, "--tag", "a", "--no-tags"}).exit_code == 2);
  CHECK(node.coachctl({"note", tulips}).exit_code == 2);
}

TEST_CASE("coachctl settings: flags, then the environment, then the config file run.sh writes") {
  Node node;
  std::string xdg = node.dir.str() + "/xdg", conf = xdg + "/coach/coachctl.conf";
  // What scripts/run.sh does on its first run, for this node.
  auto script = [&] {
    return test::run_tool("bash",
                          {std::string(COACH_SOURCE_DIR) + "/scripts/coachctl-config.sh",
                           COACH_COACHCTL, node.nats.url(), "",
                           node.nats.creds(actors::BusRole::client), node.token_key(), "plaintext"},
                          node.dir.str() + "/config-script", std::chrono::seconds(60),
                          node.coachctl_env({"XDG_CONFIG_HOME=" + xdg}));
  };
  auto written = script();
  CAPTURE(written.err);
  REQUIRE(written.exit_code == 0);
  CHECK(has(written.out, "wrote coachctl's config " + conf));
  // coachctl with no flags and nothing in the environment but XDG_CONFIG_HOME.
  auto bare = [&](std::vector<std::string> args, std::vector<std::string> env = {}) {
    env.push_back("XDG_CONFIG_HOME=" + xdg);
    return test::run_tool(COACH_COACHCTL, args, node.dir.str() + "/bare", std::chrono::seconds(60),
                          node.coachctl_env(env));
  };
  auto first = bare({"list"});  // a new user: coachctl says what to do
  CHECK(first.exit_code == 1);
  CHECK(has(first.err, "coachctl: register first: coachctl register --email"));
  auto reg = bare({"register", "--email", "anywhere@example.com"});
  CAPTURE(reg.err);
  REQUIRE(reg.exit_code == 0);
  CHECK(has(reg.out, "<anywhere@example.com>"));
  REQUIRE(bare({"add", "From anywhere"}).exit_code == 0);
  CHECK(has(bare({"list"}).out, "From anywhere"));

  // The environment beats the config file, a flag beats the environment.
  auto away = bare({"list"}, {"COACH_NATS_URL=nats://127.0.0.1:1"});
  CHECK(away.exit_code == 3);
  auto flagged =
      bare({"--nats-url", node.nats.url(), "list"}, {"COACH_NATS_URL=nats://127.0.0.1:1"});
  CHECK(flagged.exit_code == 0);
  CHECK(has(flagged.out, "From anywhere"));
  auto other =
      bare({"profile"}, {"COACH_TOKEN=" + node.token(v1::ROLE_USER, *Uuid::parse(node.user))});
  CHECK(has(other.out, "<cli@example.com>"));

  // A second run keeps the file as it is.
  auto before = slurp(conf);
  auto again = script();
  CHECK(again.exit_code == 0);
  CHECK(has(again.out, "kept as it is"));
  CHECK(slurp(conf) == before);

  // A broken config file, or a missing one named, is bad usage.
  {
    std::ofstream bad(node.dir.str() + "/bad.conf");
    bad << "# fine\nnats-url = nats://127.0.0.1:1\nno equals sign here\n";
  }
  auto broken = bare({"--config", node.dir.str() + "/bad.conf", "list"});
  CHECK(broken.exit_code == 2);
  CHECK(has(broken.err, "bad.conf:3: a line is `key = value`"));
  auto missing = bare({"--config", node.dir.str() + "/none.conf", "list"});
  CHECK(missing.exit_code == 2);
  CHECK(has(missing.err, "cannot read the config file"));
}

TEST_CASE("coachctl dates: every form, echoed in the user's zone across a DST change (golden)") {
  Node node(kNewYork, kUser);
  node.env = {kNow};
  std::vector<std::vector<std::string>> runs;
  int n = 0;
  for (const char* form : {"today", "tomorrow 17:00", "fri", "next monday 9am", "+2d", "+3h", "eod",
                           "eow", "2026-12-02", "2026-12-02 17:00", "2026-03-10T12:00:00Z",
                           "2026-03-10T12:00:00+01:00", "sun 02:30", "5pm", "Mon 9AM"}) {
    char four[9];  // four digits here; room for any int's, which -O0's checker wants
    std::snprintf(four, sizeof four, "%04x", 0xa000 + 0x111 * ++n);
    runs.push_back({"add", std::string("due ") + form, "--due", form, "--id", fixed_id(four)});
  }
  runs.push_back({"add", "estimates", "--estimate", "1h30m", "--id", fixed_id("e001")});
  runs.push_back({"add", "a week", "--estimate", "1w", "--due", "+1w", "--id", fixed_id("e002")});
  runs.push_back({"add", "ninety", "--estimate", "90", "--id", fixed_id("e003")});
  runs.push_back({"list", "--sort", "due"});
  // Wrong forms: bad usage, with what is accepted; nothing is created.
  runs.push_back({"add", "typo", "--due", "frday"});
  runs.push_back({"add", "typo", "--due", "tomorrow 25:00"});
  runs.push_back({"add", "typo", "--estimate", "2y"});
  runs.push_back({"edit", "a111", "--due", "2026-02-30"});
  golden("dates", node.transcript(runs));
  CHECK_FALSE(has(node.out({"list", "--status", "all"}), "typo"));
  // --json keeps full ids.
  auto json = reply_of(node.out({"--json", "get", "a111"}));
  CHECK(json.task().id() == fixed_id("a111"));
}

// The tasks of the views' golden runs, at kNow in New York.
void add_view_tasks(Node& node) {
  using V = std::vector<std::string>;
  for (const V& args : {
           V{"add", "File taxes", "--due", "2026-03-01", "--priority", "4", "--category", "Money",
             "--estimate", "2h", "--id", fixed_id("a1a1")},
           V{"add", "Reply to Ann", "--due", "yesterday 17:00", "--priority", "2", "--category",
             "Work", "--estimate", "15m", "--tag", "email", "--id", fixed_id("b2b2")},
           V{"add", "Write the report", "--due", "today 17:00", "--priority", "3", "--category",
             "Work", "--estimate", "1h30m", "--tag", "work,q1", "--description",
             "Figures from Bob.\nSend to Carol.", "--id", fixed_id("c3c3")},
           V{"add", "Book dentist", "--due", "tomorrow", "--priority", "1", "--category", "health",
             "--id", fixed_id("d4d4")},
           V{"add", "Plan the trip", "--due", "next monday 9am", "--category", "Home", "--estimate",
             "3h", "--id", fixed_id("e5e5")},
           V{"add", "Read a book", "--category", "home", "--id", fixed_id("f6f6")},
           V{"add", "Call the bank", "--due", "+3h", "--priority", "2", "--category", "money",
             "--id", fixed_id("a7a7")},
           V{"add", "Old idea", "--id", fixed_id("c8c8")},
       })
    node.out(args);
  node.out({"done", "a7a7", "--took", "20m"});
  node.out({"delete", "c8c8"});
}

TEST_CASE("coachctl views: list, next, today and overdue in local time (golden)") {
  Node node(kNewYork, kUser);
  node.env = {kNow};
  add_view_tasks(node);
  golden("views", node.transcript({
                      {"list"},
                      {"next"},
                      {"next", "--limit", "3"},
                      {"today"},
                      {"overdue"},
                      {"list", "--sort", "priority"},
                      {"list", "--sort", "urgency"},
                      {"list", "--sort", "title"},
                      {"list", "--sort", "created"},
                      {"list", "--priority", "2+"},
                      {"list", "--priority", "3"},
                      {"list", "--category", "WORK"},
                      {"list", "--category", "home"},
                      {"list", "--status", "completed,deleted"},
                      {"list", "--status", "all", "--category", "money"},
                      {"list", "--due-to", "eod"},
                      {"list", "--due-to", "tomorrow"},
                      {"list", "--due-from", "tomorrow", "--due-to", "eow"},
                      {"list", "--status", "done"},
                      {"list", "--sort", "size"},
                      {"list", "--priority", "5"},
                  }));
  // Colour only when asked for here (not a terminal): overdue red, within a
  // day yellow; never an escape in plain output.
  auto coloured = node.out({"--color", "always", "next"});
  CHECK(has(coloured, "\033[31m4 d overdue"));
  CHECK(has(coloured, "\033[33min 8 h"));
  CHECK_FALSE(has(node.out({"next"}), "\033"));
  CHECK_FALSE(has(node.out({"--color", "never", "next"}), "\033"));
  // On a real terminal (script(1) gives coachctl a pseudo-terminal) colour
  // is on by itself, and NO_COLOR turns it off.
  auto on_terminal = [&](const std::string& no_color) {
    std::string line =
        std::string(COACH_COACHCTL) + " --plaintext --nats-url " + node.nats.url() +
        " --nats-creds " + node.nats.creds(actors::BusRole::client) + " --token-file " +
        test::write_secret(node.dir, "tty.token", node.token(v1::ROLE_USER, *Uuid::parse(kUser))) +
        " next";
    std::vector<std::string> env = {kNow, "TERM=xterm"};
    if (!no_color.empty()) env.push_back("NO_COLOR=" + no_color);
    auto run = test::run_tool("script", {"-qec", line, "/dev/null"}, node.dir.str() + "/tty",
                              std::chrono::seconds(60), node.coachctl_env(env));
    CAPTURE(run.err);
    CHECK(run.exit_code == 0);
    CHECK(has(run.out, "File taxes"));
    return run.out;
  };
  CHECK(has(on_terminal(""), "\033[31m4 d overdue"));
  CHECK_FALSE(has(on_terminal("1"), "\033"));
  // get: every field; created and updated are coach's clock, not kNow.
  auto got = node.out({"get", "c3c3"});
  std::string fixed;
  std::istringstream lines(got);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("created ", 0) == 0 || line.rfind("updated ", 0) == 0) {
      CHECK_MESSAGE((has(line, " EST") || has(line, " EDT")), line);  // New York's
      continue;
    }
    fixed += line + "\n";
  }
  golden("get", fixed);
}

TEST_CASE("coachctl short ids: every command takes a prefix, and says when one is wrong (golden)") {
  Node node(kNewYork, kUser);
  node.env = {kNow};
  node.out({"add", "One", "--id", "abcd1111-0000-4000-8000-000000000001"});
  node.out({"add", "Two", "--id", "abcd2222-0000-4000-8000-000000000002"});
  node.out({"add", "Three", "--id", "f00d0000-0000-4000-8000-000000000003"});
  golden("handles", node.transcript({
                        {"list"},
                        {"edit", "abcd1", "--title", "One, edited", "--due", "fri 5pm"},
                        {"done", "f00d"},
                        {"reopen", "f00d0"},
                        {"delete", "abcd2222"},
                        {"restore", "abcd2222-0000-4000-8000-000000000002"},
                        {"complete", "ABCD1111-0000-4000-8000-000000000001", "--took", "1h"},
                        {"list", "--status", "all"},
                        {"get", "abcd"},
                        {"done", "beef"},
                        {"done", "f0"},
                        {"delete", "abcd1111-0000-4000-8000-00000000000f"},
                    }));
  // note and nudge now take one too; --json shows full ids.
  CHECK(
      has(node.out({"note", "ABCD2", "upper case is the same id"}), "noted abcd2  Two  (1 note)"));
  auto nudge = reply_of(node.out({"--json", "nudge", "now", "abcd2"}));
  CHECK(nudge.nudge().task_id() == "abcd2222-0000-4000-8000-000000000002");
  auto got = reply_of(node.out({"--json", "get", "f00d"}));
  CHECK(got.task().id() == "f00d0000-0000-4000-8000-000000000003");
}

TEST_CASE("coachctl prefs and profile: friendly forms in, words out, errors list values (golden)") {
  Node node(kNewYork, kUser);
  node.env = {kNow};
  golden("prefs",
         node.transcript({
             {"profile"},
             {"prefs", "--work-hours", "mon-thu 08:00-12:00,13:00-16:00; fri 08:00-12:00",
              "--notify-window", "08:00-21:00", "--channel", "email", "--daily-cap", "5", "--mode",
              "roast", "--persona", "coach", "--humor", "3"},
             {"prefs", "--timezone", "Europe/Berlin", "--notify-window", "sat,sun 22:00-02:00",
              "--tracking", "on", "--nudges", "off", "--adaptation", "off", "--mode", "MINIMALIST"},
             {"prefs", "--work-hours", "none", "--notify-window", "any"},
             {"prefs", "--mode", "loud"},
             {"prefs", "--persona", "boss"},
             {"prefs", "--channel", "fax"},
             {"prefs", "--work-hours", "mon-fry 09:00-17:00"},
             {"prefs", "--notify-window", "9-5pm"},
             {"prefs", "--tracking", "yes"},
             {"prefs", "--humor", "9"},
             {"prefs", "--timezone", "Mars/Olympus"},
             {"profile"},
         }));
  // Enum values are words everywhere, in every view of the profile.
  auto shown = node.out({"profile"});
  CHECK_FALSE(has(shown, "COACHING_MODE_"));
  CHECK_FALSE(has(shown, "PERSONA_TYPE_"));
  CHECK_FALSE(has(shown, "DELIVERY_CHANNEL_"));
}

TEST_CASE("coachctl commands: unknown ones list the rest, send prints its reply (golden)") {
  Node node(kNewYork, kUser);
  node.env = {kNow};
  golden("commands", node.transcript({
                         {"frobnicate"},
                         {},
                         {"send", "task.list"},
                         {"send", "task.get", R"({"task_id": ")" + fixed_id("aaaa") + R"("})"},
                         {"send", "task.list", R"({"bad": 1})"},
                         {"nudge"},
                         {"nudge", "shout"},
                         {"schedule", "accept"},
                     }));
  auto unknown = node.coachctl({"send", "task.nothing"});
  CHECK(unknown.exit_code == 1);
  CHECK(has(unknown.err, "error: invalid_argument: unknown subject coach.v1.task.nothing"));
  // send prints coach's reply as it is, --json or not.
  auto raw = node.out({"send", "task.create", R"({"title": "raw"})"});
  auto created = reply_of(raw);
  CHECK(created.task().title() == "raw");
  CHECK(raw == node.out({"--json", "send", "task.get",
                         R"({"task_id": ")" + created.task().id() + R"("})"}));
}

TEST_CASE("coachctl snooze: --for and --until in local time, and the SNOOZED UNTIL column") {
  Node node("Asia/Kolkata");  // +05:30 all year
  auto id = reply_of(node.out({"--json", "add", "Water the plants"})).task().id();
  auto shown = [](const google::protobuf::Timestamp& t) {
    time_t at = static_cast<time_t>(t.seconds()) + 5 * 3600 + 30 * 60;
    std::tm tm{};
    gmtime_r(&at, &tm);
    char text[64];
    std::strftime(text, sizeof text, "%a %Y-%m-%d %H:%M IST", &tm);
    return std::string(text);
  };
  auto for_two = node.out({"snooze", id.substr(0, 8), "--for", "2h"});
  auto snoozed = reply_of(node.out({"--json", "get", id})).task();
  REQUIRE(snoozed.status() == v1::TASK_STATUS_SNOOZED);
  CHECK(snoozed.snoozed_until().seconds() - snoozed.updated_at().seconds() >= 7199);
  CHECK(has(for_two, "  snoozed until " + shown(snoozed.snoozed_until()) + " (in 1 h)") !=
        has(for_two, "  snoozed until " + shown(snoozed.snoozed_until()) + " (in 2 h)"));
  auto list = node.out({"list"});
  CAPTURE(list);
  CHECK(has(list, "SNOOZED UNTIL"));
  CHECK(has(list, "Water the plants  " + shown(snoozed.snoozed_until()) + "\n"));
  CHECK(has(node.out({"get", id}), "snoozed until"));
  // A day alone: the start of that day, local midnight.
  auto until = node.out({"snooze", id, "--until", "tomorrow"});
  CHECK(has(until, " 00:00 IST (in "));
  auto later = reply_of(node.out({"--json", "get", id})).task();
  CHECK((later.snoozed_until().seconds() + 5 * 3600 + 30 * 60) % 86400 == 0);
  // Not both, not neither; a past instant is coach's error.
  CHECK(node.coachctl({"snooze", id, "--for", "2h", "--until", "tomorrow"}).exit_code == 2);
  CHECK(node.coachctl({"snooze", id}).exit_code == 2);
  auto past = node.coachctl({"snooze", id, "--until", "yesterday"});
  CHECK(past.exit_code == 1);
  CHECK(has(past.err, "error: invalid_argument: "));
}

TEST_CASE("coachctl schedule: one table a day in local time, accept and reject by row") {
  Node node("Asia/Tokyo");  // +09:00 all year
  auto local = [](int64_t seconds, const char* format) {
    time_t at = static_cast<time_t>(seconds) + 9 * 3600;
    std::tm tm{};
    gmtime_r(&at, &tm);
    char text[64];
    std::strftime(text, sizeof text, format, &tm);
    return std::string(text);
  };
  // Work hours only on the day after tomorrow: the plan does not move with
  // the clock between the runs below.
  std::string day = local(std::time(nullptr) + 2 * 86400, "%a");
  for (auto& c : day) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  node.out({"prefs", "--work-hours", day + " 09:00-17:00"});
  auto report = reply_of(node.out({"--json", "add", "Write the report", "--due", "+6d",
                                   "--estimate", "2h", "--priority", "3"}))
                    .task()
                    .id();
  auto sweep = reply_of(node.out({"--json", "add", "Sweep", "--due", "+5d", "--estimate", "45m"}))
                   .task()
                   .id();
  // Their short ids are their first 4 characters unless those clash.
  REQUIRE_FALSE(report.substr(0, 4) == sweep.substr(0, 4));  // 1 in 65536
  auto plan = reply_of(node.out({"--json", "schedule", "--days", "7"})).schedule();
  REQUIRE(plan.recommendations_size() == 2);
  auto text = node.out({"schedule", "--days", "7"});
  CAPTURE(text);
  std::string want;
  int row = 0;
  for (const auto& r : plan.recommendations()) {
    if (row == 0) want += local(r.recommended_start().seconds(), "%a %Y-%m-%d") + "\n";
    bool is_report = r.task_id() == report;
    char line[200];
    std::snprintf(line, sizeof line, "%4d  %s-%s  %3.0f%%  %s  (%s)\n", ++row,
                  local(r.recommended_start().seconds(), "%H:%M").c_str(),
                  local(r.recommended_due().seconds(), "%H:%M").c_str(), 100 * r.confidence_score(),
                  is_report ? "Write the report" : "Sweep",
                  (is_report ? report : sweep).substr(0, 4).c_str());
    want += line;
  }
  CHECK(text.rfind(want, 0) == 0);
  CHECK(has(text, "planned 2 h 45 min of 8 h free work time\n"));

  // accept 2: row 2 of that plan is kept, and shown under "accepted".
  const auto& first = plan.recommendations(1);
  auto accepted = node.out({"schedule", "accept", "2", "--days", "7"});
  CHECK(has(accepted, "accepted " +
                          local(first.recommended_start().seconds(), "%a %Y-%m-%d %H:%M") + "-" +
                          local(first.recommended_due().seconds(), "%H:%M")));
  auto after = reply_of(node.out({"--json", "schedule", "--days", "7"})).schedule();
  REQUIRE(after.accepted_size() == 1);
  CHECK(after.accepted(0).task_id() == first.task_id());
  CHECK(after.accepted(0).recommended_start().seconds() == first.recommended_start().seconds());
  CHECK(has(node.out({"schedule", "--days", "7"}), "\naccepted\n"));
  // reject 1: the remaining row, turned down.
  REQUIRE(after.recommendations_size() == 1);
  CHECK(after.recommendations(0).task_id() == plan.recommendations(0).task_id());
  auto rejected = node.out({"schedule", "reject", "1", "--days", "7", "--reason", "busy"});
  CHECK(has(rejected, "rejected " + local(after.recommendations(0).recommended_start().seconds(),
                                          "%a %Y-%m-%d %H:%M")));
  // A row the plan does not have is bad usage and changes nothing.
  auto none = node.coachctl({"schedule", "accept", "9", "--days", "7"});
  CHECK(none.exit_code == 2);
  CHECK(has(none.err, "row 9: the plan has 1 row (coachctl schedule)"));
  CHECK(reply_of(node.out({"--json", "schedule", "--days", "7"})).schedule().accepted_size() == 1);

  // The same plan for a calendar app, read back by libical's parser.
  auto ics = node.out({"calendar", "export", "--days", "7"});
  icalcomponent* cal = icalparser_parse_string(ics.c_str());
  REQUIRE_MESSAGE(cal != nullptr, ics);
  std::map<std::string, icalcomponent*> events;
  for (auto* e = icalcomponent_get_first_component(cal, ICAL_VEVENT_COMPONENT); e;
       e = icalcomponent_get_next_component(cal, ICAL_VEVENT_COMPONENT))
    events[icalcomponent_get_uid(e)] = e;
  auto* kept = events.count(after.accepted(0).id() + "@coach")
                   ? events.at(after.accepted(0).id() + "@coach")
                   : nullptr;
  REQUIRE_MESSAGE(kept != nullptr, ics);
  CHECK(icalcomponent_get_status(kept) == ICAL_STATUS_CONFIRMED);
  CHECK(icaltime_as_timet(icalcomponent_get_dtstart(kept)) ==
        after.accepted(0).recommended_start().seconds());
  CHECK(events.count(report + ".due@coach") == 1);
  CHECK(events.count(sweep + ".due@coach") == 1);
  icalcomponent_free(cal);
  // A horizon coach does not plan is refused, with nothing half printed.
  auto too_far = node.coachctl({"calendar", "export", "--days", "61"});
  CHECK(too_far.exit_code == 1);
  CHECK(has(too_far.err, "horizon_days must be 1 to 60"));
  CHECK(too_far.out.empty());
}

TEST_CASE("coachctl nudges: now about a task or the most pressing, list, rate by row") {
  Node node;
  auto id = reply_of(node.out({"--json", "add", "Call the bank", "--due", "+1d"})).task().id();
  node.out({"add", "Later", "--due", "+9d"});
  auto now = node.out({"nudge", "now"});
  auto list = reply_of(node.out({"--json", "nudge", "list"})).nudge_list();
  REQUIRE(list.nudges_size() == 1);
  const auto& first = list.nudges(0).nudge();
  // The text first, then how and about what, in words.
  CHECK(now.rfind(first.generated_text() + "\n", 0) == 0);
  CHECK(has(
      now, "encouragement mode, by template, on demand, about Call the bank  (" + id.substr(0, 4)));
  CHECK_FALSE(has(now, "COACHING_MODE"));
  auto about = node.out({"nudge", "now", id.substr(0, 6)});
  CHECK(has(about, "about Call the bank"));
  auto shown = node.out({"nudge", "list"});
  CAPTURE(shown);
  CHECK(has(shown, "  1  "));
  CHECK(has(shown, "  2  "));
  CHECK(has(shown, "asked for, encouragement mode, template\n     " + first.generated_text()));

  // Rate by the row nudge list shows: row 2 is the older, first one.
  auto rated = node.out({"nudge", "rate", "2", "4", "good timing"});
  CHECK(has(rated, "rated nudge 2 4/5; coach now: encouragement mode, coach persona, humor 2"));
  auto after = reply_of(node.out({"--json", "nudge", "list"})).nudge_list();
  REQUIRE(after.nudges_size() == 2);
  CHECK(after.nudges(1).nudge().id() == first.id());
  CHECK(after.nudges(1).usefulness() == 4);
  CHECK(has(node.out({"nudge", "list"}), "rated 4/5"));
  // Low ratings move coach gentler, and rate says so.
  node.out({"prefs", "--mode", "roast", "--persona", "roast"});
  for (int i = 0; i < 3; ++i) node.out({"nudge", "now"});
  node.out({"nudge", "rate", "1", "1"});
  node.out({"nudge", "rate", "2", "1"});
  CHECK(has(node.out({"nudge", "rate", "3", "1", "too harsh"}),
            "coach now: encouragement mode, coach persona, humor 1"));
  // Errors: a row or a rating out of range is bad usage; a done task, coach's conflict.
  auto wrong_row = node.coachctl({"nudge", "rate", "9", "3"});
  CHECK(wrong_row.exit_code == 2);
  CHECK(has(wrong_row.err, "nudge 9: there are 5 nudges (coachctl nudge list)"));
  auto wrong_rating = node.coachctl({"nudge", "rate", "1", "7"});
  CHECK(wrong_rating.exit_code == 2);
  CHECK(has(wrong_rating.err, "usefulness is 1 (useless) to 5 (very useful), got 7"));
  node.out({"done", id});
  auto done = node.coachctl({"nudge", "now", id});
  CHECK(done.exit_code == 1);
  CHECK(has(done.err, "error: conflict: "));
}

TEST_CASE("coachctl features and insights: plain words, and what to do while tracking is off") {
  Node node;
  auto off = node.coachctl({"features"});
  CHECK(off.exit_code == 1);
  CHECK(has(off.err, "coachctl prefs --tracking on"));
  auto quiet = node.out({"insights"});
  CHECK(has(quiet, "Behavioral tracking is off."));
  CHECK(has(quiet, "coachctl prefs --tracking on"));
  CHECK_FALSE(has(quiet, "Your weeks"));  // tracking off: nothing computed
  node.out({"prefs", "--tracking", "on"});
  node.out({"add", "Late one", "--due", "+1d"});
  auto features = node.out({"features"});
  CHECK(has(features, "procrastination score  "));
  CHECK(has(features, "behavior mode          not yet"));
  auto insights = node.out({"insights"});
  CAPTURE(insights);
  CHECK(has(insights, "Behavioral tracking is on."));
  CHECK(has(insights, "\n- You created 1 task"));
  // This week: the task just added, none done or due yet.
  CHECK(has(insights, "         1       0/0        0        0           0/0\n"));
  // Today the same, under the user's last days.
  auto days = insights.find("Your last days (docs/metrics.md):\nday ");
  REQUIRE(days != std::string::npos);
  CHECK(has(insights.substr(days), "         1       0/0        0        0           0/0\n"));
  for (const auto* text : {&features, &insights}) {
    CHECK_FALSE(has(*text, "{"));
    CHECK_FALSE(has(*text, "\"procrastination_score\""));
  }
  auto json = reply_of(node.out({"--json", "features"}));
  CHECK(json.has_feature_snapshot());
}

TEST_CASE("coachctl delete-me: says what went, and then the user is gone") {
  Node node;
  auto id = reply_of(node.out({"--json", "add", "One"})).task().id();
  node.out({"add", "Two"});
  node.out({"note", id, "a note"});
  auto wrong = node.coachctl({"delete-me", "--confirm", "nope"});
  CHECK(wrong.exit_code == 1);
  CHECK(has(wrong.err, "error: invalid_argument: confirm must repeat the user's id"));
  auto gone = node.out({"delete-me", "--confirm", node.user});
  CHECK(has(gone, "deleted user " + node.user + " <cli@example.com> for good at "));
  CHECK(has(gone, "2 tasks with 1 note, the schedule and its accepted blocks, every nudge"));
  CHECK(has(gone, "Only a tombstone (the id and the time) is kept"));
  auto after = node.coachctl({"list"});
  CHECK(after.exit_code == 1);
  CHECK(has(after.err, "error: not_found: "));
}

TEST_CASE("coachctl schedule: what cannot fit is at risk, by how much, with coach's suggestion") {
  Node node("Asia/Tokyo");
  time_t at = std::time(nullptr) + 2 * 86400 + 9 * 3600;  // the day after tomorrow, in Tokyo
  std::tm tm{};
  gmtime_r(&at, &tm);
  char day[8];
  std::strftime(day, sizeof day, "%a", &tm);
  std::string work_day = day;
  for (auto& c : work_day) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  node.out({"prefs", "--work-hours", work_day + " 09:00-17:00"});
  // 10 hours of work due before the one work day of 8 hours ends its week.
  auto huge =
      reply_of(node.out({"--json", "add", "Move house", "--due", "+4d", "--estimate", "10h"}))
          .task();
  auto plan = reply_of(node.out({"--json", "schedule", "--days", "7"})).schedule();
  REQUIRE(plan.at_risk_size() == 1);
  const auto& risk = plan.at_risk(0);
  CHECK(risk.minutes_short() == 120);
  auto text = node.out({"schedule", "--days", "7"});
  CAPTURE(text);
  CHECK(has(text, "\nat risk\n      Move house  (" + huge.id().substr(0, 4) +
                      "): 2 h short before its due "));
  CHECK(has(text, "; " + risk.suggestion() + "\n"));
  CHECK(has(text, "planned 8 h of 8 h free work time\n"));
}

TEST_CASE("coachctl: add --repeat and --repeat-after-done, done makes the next, delete --series") {
  Node node("Europe/Berlin");
  // Every Monday at 09:00 Berlin time from Monday 2030-01-07.
  auto first = reply_of(node.out({"--json", "add", "Weekly review", "--due", "2030-01-07 09:00",
                                  "--repeat", "FREQ=WEEKLY;BYDAY=MO"}))
                   .task();
  CHECK(first.recurrence().rrule() == "FREQ=WEEKLY;BYDAY=MO");
  CHECK(first.recurrence().zone() == "Europe/Berlin");  // the profile's
  CHECK(first.due_at().seconds() == 1894003200);        // 2030-01-07T08:00:00Z
  auto shown = node.out({"get", first.id()});
  CAPTURE(shown);
  CHECK(has(shown, "repeats      FREQ=WEEKLY;BYDAY=MO (Europe/Berlin), occurrence 1 of series"));

  node.out({"done", first.id()});
  auto open = reply_of(node.out({"--json", "list"})).task_list();
  REQUIRE(open.tasks_size() == 1);
  const auto& second = open.tasks(0);
  CHECK(second.title() == "Weekly review");
  CHECK(second.recurrence().occurrence() == 2);
  CHECK(second.recurrence().series_id() == first.id());
  CHECK(second.due_at().seconds() == 1894003200 + 7 * 86400);

  // --series: the series ends, nothing follows.
  node.out({"delete", "--series", second.id()});
  CHECK(reply_of(node.out({"--json", "list"})).task_list().tasks_size() == 0);

  auto after = reply_of(node.out({"--json", "add", "Water plants", "--due", "2030-01-07 08:00",
                                  "--repeat-after-done", "3d"}))
                   .task();
  CHECK(after.recurrence().every_days_after_done() == 3);

  // Bad rules: coach's invalid_argument, exit 1, nothing created; bad usage, exit 2.
  auto bad = node.coachctl({"add", "x", "--due", "2030-01-07", "--repeat", "FREQ=SECONDLY"});
  CHECK(bad.exit_code == 1);
  CHECK(has(bad.err, "error: invalid_argument: a task recurs at most hourly"));
  auto no_due = node.coachctl({"add", "x", "--repeat", "FREQ=DAILY"});
  CHECK(no_due.exit_code == 1);
  CHECK(has(no_due.err, "needs due_at"));
  CHECK(
      node.coachctl({"add", "x", "--due", "2030-01-07", "--repeat-after-done", "90m"}).exit_code ==
      2);
  CHECK(node.coachctl({"add", "x", "--due", "2030-01-07", "--repeat", "FREQ=DAILY",
                       "--repeat-after-done", "1d"})
            .exit_code == 2);
  CHECK(reply_of(node.out({"--json", "list"})).task_list().tasks_size() == 1);
}
