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
  std::string user = new_uuid_string();
  explicit Node(const std::string& zone = "UTC") {
    ok("user.register", R"({"email": "cli@example.com", "timezone": ")" + zone + R"("})", user);
  }
  test::ToolRun coachctl(std::vector<std::string> args) {
    return CoachNode::coachctl(std::move(args), token(v1::ROLE_USER, Uuid::parse(user).value()));
  }
  // A coachctl run that must succeed; what it printed.
  std::string out(std::vector<std::string> args) {
    auto run = coachctl(args);
    CAPTURE(run.err);
    REQUIRE(run.exit_code == 0);
    return run.out;
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
