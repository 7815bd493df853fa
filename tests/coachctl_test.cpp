// coachctl as a person runs it, against a real node: tags, notes and the
// list filters (apps/coachctl), with its exit codes and error lines.
#include <doctest/doctest.h>
#include <google/protobuf/util/json_util.h>

#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
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
      for (const auto& a : args)
        text += " " + (a.find(' ') == std::string::npos && !a.empty() ? a : "\"" + a + "\"");
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
    char four[5];
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
