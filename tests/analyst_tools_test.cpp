// coach-import, coach-replay and coach-eval as their users run them: real processes on
// a data dir a real coachd made, with tokens signed by its key.
#include <doctest/doctest.h>
#include <google/protobuf/util/time_util.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "events/codec.h"
#include "events/upcast.h"
#include "schema/internal.pb.h"
#include "tests/processes.h"
#include "tests/support.h"
#include "wire/api_codec.h"

using namespace coach;

namespace {

struct Node {
  test::TempDir dir;
  std::string data = dir.str() + "/data";
  std::string token_key() const { return dir.str() + "/token.key"; }

  std::string token(v1::Role role) const {
    auto signer = actors::TokenSigner::load(token_key(), false);
    REQUIRE(signer);
    return signer->issue(Uuid::random(), role, std::chrono::hours(1));
  }
  std::string write(const std::string& name, const std::string& text) const {
    auto path = dir.str() + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  test::ToolRun run(const char* tool, std::vector<std::string> args, v1::Role role) {
    std::vector<std::string> all = {"--data-dir", data, "--token-file",
                                    test::write_secret(dir, "token", token(role))};
    all.insert(all.end(), args.begin(), args.end());
    return test::run_tool(tool, all, dir.str() + "/run" + std::to_string(++runs));
  }
  test::ToolRun import(std::vector<std::string> args, v1::Role role = v1::ROLE_ADMIN) {
    return run(COACH_IMPORT, std::move(args), role);
  }
  test::ToolRun replay(std::vector<std::string> args, v1::Role role = v1::ROLE_ANALYST) {
    return run(COACH_REPLAY, std::move(args), role);
  }
  int runs = 0;
};

// Lines of a CSV output that mention `text`.
std::vector<std::string> lines_with(const std::string& out, const std::string& text) {
  std::vector<std::string> found;
  std::stringstream in(out);
  for (std::string line; std::getline(in, line);)
    if (line.find(text) != std::string::npos) found.push_back(line);
  return found;
}

// Starts coachd once on the node's data dir, so that keys and store exist.
void initialize(Node& node) {
  test::NatsServer nats(node.dir.str());
  test::Coachd coachd(node.data, nats.url());
  coachd.process().signal(SIGTERM);
  CHECK(coachd.process().wait() == 0);
}

const std::string kAda = "0b6c2d54-7a3e-4f0b-9c1d-2e3f4a5b6c7d";
const std::string kBob = "1c7d3e65-8b4f-4a1c-8d2e-3f4a5b6c7d8e";

const std::string kHeader =
    "user_id,task_id,event,timestamp,due_at,category,estimated_minutes,priority,title,until\n";

}  // namespace

TEST_CASE("coach-import: good rows land, bad rows are named by line, reruns add nothing") {
  Node node;
  initialize(node);
  auto csv = node.write(
      "history.csv",
      kHeader + kAda +
          ",essay,created,2026-01-05T09:00:00Z,2026-01-08T17:00:00Z,study,60,2,\"Essay, part "
          "1\",\n" +
          kAda + ",essay,snoozed,2026-01-06T09:00:00Z,,,,,,2026-01-07T09:00:00Z\n" + kAda +
          ",essay,completed,2026-01-09T10:00:00Z,,,,,,\n" + kAda +
          ",ghost,completed,2026-01-09T11:00:00Z,,,,,,\n" +            // line 5: unknown task
          kBob + ",plan,created,not-a-time,,,,,Plan,\n" +              // line 6
          kBob + ",plan2,created,2026-01-06T09:00:00Z,,,,9,Plan,\n" +  // line 7: priority
          kBob + ",ok,created,2026-01-06T10:00:00Z,,,,,Fine,\n");

  SUBCASE("reject writes nothing and names every bad line") {
    auto r = node.import({"--on-error", "reject", "csv", csv});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("line 5: not_found") != std::string::npos);
    CHECK(r.err.find("line 6: timestamp \"not-a-time\"") != std::string::npos);
    CHECK(r.err.find("line 7: invalid_argument: priority") != std::string::npos);
    CHECK(r.out.find("nothing written") != std::string::npos);
    auto tasks = node.replay({"tasks"});
    CHECK(tasks.exit_code == 0);
    CHECK(lines_with(tasks.out, kAda).empty());
  }
  SUBCASE("skip imports the good rows; a rerun adds nothing") {
    auto r = node.import({"--tracking", "csv", csv});
    CHECK(r.exit_code == 2);  // some rows were bad
    CHECK(r.out.find("4 imported, 0 already imported, 3 bad") != std::string::npos);
    auto again = node.import({"--tracking", "csv", csv});
    CHECK(again.out.find("0 imported, 4 already imported, 3 bad") != std::string::npos);
    auto tasks = node.replay({"tasks", "--user", kAda});
    REQUIRE(tasks.exit_code == 0);
    auto essay = lines_with(tasks.out, "\"Essay, part 1\"");
    REQUIRE(essay.size() == 1);
    CHECK(essay[0].find(",completed,2,60,2026-01-05T09:00:00Z,2026-01-08T17:00:00Z,"
                        "2026-01-09T10:00:00Z,1,0") != std::string::npos);
    CHECK(lines_with(node.replay({"tasks", "--user", kBob}).out, "Fine").size() == 1);
  }
  SUBCASE("a user's token, or a store held by coachd, is refused") {
    auto user = node.import({"csv", csv}, v1::ROLE_USER);
    CHECK(user.exit_code == 1);
    CHECK(user.err.find("permission_denied") != std::string::npos);
    auto analyst = node.import({"csv", csv}, v1::ROLE_ANALYST);
    CHECK(analyst.exit_code == 1);
    test::NatsServer nats(node.dir.str());
    test::Coachd coachd(node.data, nats.url());
    auto busy = node.import({"csv", csv});
    CHECK(busy.exit_code == 1);
    CHECK(busy.err.find("is coachd running?") != std::string::npos);
  }
}

TEST_CASE("coach-import reads Taskwarrior's export") {
  Node node;
  initialize(node);
  auto json = node.write("tw.json", R"([
{"id":0,"description":"File taxes","end":"20260110T120000Z","entry":"20260102T080000Z","modified":"20260110T120000Z","project":"home","status":"completed","uuid":"5f0e5b1e-0c1f-4c55-9d9b-3a5f0e1d2c3b","due":"20260108T170000Z","priority":"H","urgency":0},
{"id":1,"description":"Read paper","entry":"20260103T080000Z","modified":"20260103T080000Z","status":"waiting","wait":"20260105T080000Z","uuid":"6a1f6c2f-1d2a-4d66-8e0c-4b6a1f2e3d4c","urgency":0},
{"id":0,"description":"Weekly review","entry":"20260101T080000Z","status":"recurring","recur":"weekly","uuid":"7b2a7d3a-2e3b-4e77-9f1d-5c7b2a3f4e5d","urgency":0},
{"id":0,"description":"Old idea","end":"20260104T080000Z","entry":"20260101T090000Z","status":"deleted","uuid":"8c3b8e4b-3f4c-4f88-8a2e-6d8c3b4a5f6e","urgency":0}
])");
  auto r = node.import({"taskwarrior", json, "--user", kAda});
  CHECK_MESSAGE(r.exit_code == 0, r.err);
  CHECK(r.err.find("recurring template 7b2a7d3a") != std::string::npos);
  auto tasks = node.replay({"tasks", "--user", kAda});
  CHECK(lines_with(tasks.out, "File taxes,home,completed,3").size() == 1);
  CHECK(lines_with(tasks.out, "Read paper,,snoozed").size() == 1);
  CHECK(lines_with(tasks.out, "Old idea,,deleted").size() == 1);
  CHECK(lines_with(tasks.out, "Weekly review").empty());

  auto broken = node.write("broken.json", "[{\"uuid\": ");
  auto bad = node.import({"taskwarrior", broken, "--user", kAda});
  CHECK(bad.exit_code == 1);
  CHECK(bad.err.find("not a Taskwarrior export") != std::string::npos);
}

namespace {

// What coachd serves about `user` from the node's data dir: coachd started
// on it for the question, then stopped.
struct Served {
  test::NatsServer nats;
  test::Coachd coachd;
  test::Client client;
  explicit Served(Node& node)
      : nats(node.dir.str()), coachd(node.data, nats.url()), client(nats.url(), node.token_key()) {}
  v1::Reply ok(const std::string& operation, const std::string& body, const std::string& user) {
    auto r = client.request(operation, body, user);
    REQUIRE_MESSAGE(r, r.error().message);
    REQUIRE_MESSAGE(!r->has_error(), r->error().message());
    return *r;
  }
  // Every event of the user's log, through user.export's pages.
  std::vector<v1::TaskEvent> log(const std::string& user) {
    std::vector<v1::TaskEvent> all;
    for (uint64_t from = 1; from != 0;) {
      auto page = ok("user.export", R"({"from_sequence": )" + std::to_string(from) + "}", user)
                      .user_export();
      for (const auto& e : page.events()) all.push_back(e);
      from = page.next_sequence();
    }
    return all;
  }
};

std::string time_of(const google::protobuf::Timestamp& t) {
  return google::protobuf::util::TimeUtil::ToString(t);
}

}  // namespace

TEST_CASE("coach-import init makes a data dir and keys, without coachd, once") {
  Node node;
  // No token: there is no key yet to check one with.
  auto made =
      test::run_tool(COACH_IMPORT, {"--data-dir", node.data, "init"}, node.dir.str() + "/init");
  CHECK_MESSAGE(made.exit_code == 0, made.err);
  CHECK(made.out.find("coachctl admin token --key-file " + node.token_key()) != std::string::npos);
  CHECK(std::filesystem::exists(node.data + "/events/CURRENT"));
  CHECK(std::filesystem::exists(node.dir.str() + "/master.key"));
  auto again = node.import({"init"});
  CHECK(again.exit_code == 1);
  CHECK(again.err.find("conflict") != std::string::npos);
  // The keys work: an import with a token the new key signed, then coachd
  // serves what was imported.
  auto csv = node.write("one.csv", kHeader + kAda + ",t,created,2026-01-05T09:00:00Z,,,,,First,\n");
  auto imported = node.import({"csv", csv});
  CHECK_MESSAGE(imported.exit_code == 0, imported.err);
  Served served(node);
  CHECK(served.ok("task.list", "", kAda).task_list().tasks_size() == 1);
}

TEST_CASE("coach-import keeps Taskwarrior's tags, annotations, start, scheduled, wait, no e-mail") {
  Node node;
  initialize(node);
  const std::string kTagged = "5f0e5b1e-0c1f-4c55-9d9b-3a5f0e1d2c3b";
  const std::string kLater = "6a1f6c2f-1d2a-4d66-8e0c-4b6a1f2e3d4c";
  auto json = node.write(
      "tw.json",
      R"([
{"id":1,"description":"Write essay","entry":"20260102T080000Z","modified":"20260106T090000Z","project":"school","status":"pending","uuid":")" +
          kTagged +
          R"(","tags":["Essay","urgent"],"start":"20260104T100000Z","annotations":[{"entry":"20260103T120000Z","description":"outline in notes.md"},{"entry":"20260105T120000Z","description":"ask Bob"}],"urgency":0},
{"id":2,"description":"Plan trip","entry":"20260102T080000Z","modified":"20260106T090000Z","status":"pending","uuid":")" +
          kLater + R"(","scheduled":"20260120T080000Z","urgency":0}
])");
  auto dry = node.import({"--dry-run", "taskwarrior", json, "--user", kAda});
  CHECK_MESSAGE(dry.exit_code == 0, dry.err);
  CHECK(dry.out.find("6 rows: 6 good") != std::string::npos);
  CHECK(dry.out.find("events for 1 users (1 newly registered); dry run: nothing written") !=
        std::string::npos);
  CHECK(lines_with(node.replay({"tasks"}).out, kAda).empty());
  // "N events for": what the run would write, and then writes.
  auto events_of = [](const std::string& out) {
    auto at = out.find(" events for ");
    if (at == std::string::npos || at == 0) return std::string();
    auto from = out.rfind(' ', at - 1) + 1;
    return out.substr(from, at - from);
  };
  CHECK(events_of(dry.out) != "0");

  auto r = node.import({"taskwarrior", json, "--user", kAda});
  CHECK_MESSAGE(r.exit_code == 0, r.err);
  CHECK(r.out.find("6 rows: 6 imported") != std::string::npos);
  CHECK(events_of(r.out) == events_of(dry.out));
  Served served(node);
  auto user = served.ok("user.get", "", kAda).profile();
  CHECK(user.user().email().empty());  // none made up
  auto tagged = served.ok("task.get", R"({"task_id": ")" + kTagged + "\"}", kAda).task();
  CHECK(std::vector<std::string>(tagged.tags().begin(), tagged.tags().end()) ==
        std::vector<std::string>{"essay", "urgent"});
  REQUIRE(tagged.notes_size() == 3);
  CHECK(tagged.notes(0).text() == "outline in notes.md");
  CHECK(time_of(tagged.notes(0).added_at()) == "2026-01-03T12:00:00Z");
  CHECK(tagged.notes(1).text() == "Started");
  CHECK(time_of(tagged.notes(1).added_at()) == "2026-01-04T10:00:00Z");
  CHECK(time_of(tagged.notes(2).added_at()) == "2026-01-05T12:00:00Z");
  CHECK(tagged.category() == "school");
  // Scheduled in the future of its last change: put off until then.
  auto later = served.ok("task.get", R"({"task_id": ")" + kLater + "\"}", kAda).task();
  CHECK(later.snooze_count() == 1);
  CHECK(time_of(later.updated_at()) == "2026-01-06T09:00:00Z");  // `modified`
  int snoozes = 0;
  for (const auto& e : served.log(kAda))
    if (e.has_task_snoozed()) {
      ++snoozes;
      CHECK(e.task_id() == kLater);
      CHECK(time_of(e.task_snoozed().until()) == "2026-01-20T08:00:00Z");
      CHECK(time_of(e.created_at()) == "2026-01-06T09:00:00Z");
    }
  CHECK(snoozes == 1);
}

TEST_CASE("coach-import reads undo.data: every change at its own time") {
  Node node;
  initialize(node);
  const std::string kEssay = "5f0e5b1e-0c1f-4c55-9d9b-3a5f0e1d2c3b";
  const std::string kGone = "9d4c9f5c-4a5d-4a99-8b3f-7e9d4c5b6a7f";
  // 1767600000 is 2026-01-05T08:00:00Z; a day is 86400 s.
  auto task = [&](const std::string& uuid, const std::string& rest) {
    return "[description:\"Essay \\\"draft\\\" &open;v1&close;\" entry:\"1767600000\" uuid:\"" +
           uuid + "\" " + rest + "]";
  };
  const std::string created =
      task(kEssay, "due:\"1767888000\" project:\"study\" status:\"pending\"");
  const std::string moved =
      task(kEssay, "due:\"1768060800\" project:\"study\" status:\"pending\" tags:\"school\"");
  const std::string noted =
      task(kEssay,
           "annotation_1767700000:\"outline done\" due:\"1768060800\" project:\"study\" "
           "status:\"pending\" tags:\"school\"");
  const std::string done =
      task(kEssay,
           "annotation_1767700000:\"outline done\" due:\"1768060800\" end:\"1768000000\" "
           "project:\"study\" status:\"completed\" tags:\"school\"");
  const std::string reopened = noted;
  const std::string gone = task(kGone, "status:\"pending\"");
  const std::string gone_deleted = task(kGone, "end:\"1767700000\" status:\"deleted\"");
  auto undo = node.write(
      "undo.data", "time 1767600000\nnew " + created + "\n---\ntime 1767600000\nnew " + gone +
                       "\n---\ntime 1767686400\nold " + created + "\nnew " + moved +
                       "\n---\ntime 1767700000\nold " + moved + "\nnew " + noted +
                       "\n---\ntime 1767700000\nold " + gone + "\nnew " + gone_deleted +
                       "\n---\ntime 1768000000\nold " + noted + "\nnew " + done +
                       "\n---\ntime 1768010000\nold " + done + "\nnew " + reopened + "\n---\n");
  // The export knows only the state now (and not the purged task).
  auto json = node.write(
      "tw.json",
      R"([{"description":"Essay","entry":"20260105T080000Z","status":"pending","uuid":")" + kEssay +
          R"("}])");
  auto r = node.import({"--tracking", "taskwarrior", json, "--undo", undo, "--user", kAda});
  CHECK_MESSAGE(r.exit_code == 0, r.err);

  Served served(node);
  std::vector<std::string> seen;
  for (const auto& e : served.log(kAda)) {
    if (e.task_id().empty()) continue;
    std::string what = e.task_id() == kGone ? "gone:" : "";
    if (e.has_task_created()) what += "created";
    if (e.has_task_modified()) what += "edited";
    if (e.has_task_note_added()) what += "noted";
    if (e.has_task_completed()) what += "completed";
    if (e.has_task_reopened()) what += "reopened";
    if (e.has_task_deleted()) what += "deleted";
    seen.push_back(what + "@" + time_of(e.created_at()));
  }
  std::string joined;
  for (const auto& x : seen) joined += x + " ";
  CAPTURE(joined);
  CHECK(seen == std::vector<std::string>{
                    "created@2026-01-05T08:00:00Z", "gone:created@2026-01-05T08:00:00Z",
                    "edited@2026-01-06T08:00:00Z", "noted@2026-01-06T11:46:40Z",
                    "gone:deleted@2026-01-06T11:46:40Z", "completed@2026-01-09T23:06:40Z",
                    "reopened@2026-01-10T01:53:20Z"});
  auto essay = served.ok("task.get", R"({"task_id": ")" + kEssay + "\"}", kAda).task();
  CHECK(essay.title() == "Essay \"draft\" [v1]");
  CHECK(essay.status() == v1::TASK_STATUS_PENDING);
  CHECK(time_of(essay.due_at()) == "2026-01-10T16:00:00Z");  // moved later on Jan 6
  CHECK(essay.edit_count() == 1);
  CHECK(time_of(essay.updated_at()) == "2026-01-10T01:53:20Z");
  CHECK(essay.tags_size() == 1);
  // Tracking learned from the history: the postponement is counted.
  auto insights = served.ok("user.insights", "", kAda).insights();
  CHECK(insights.behavioral_tracking_enabled());

  auto broken = node.write("broken.undo", "time 1767600000\nnew [uuid:\"x\" description:\"a]\n");
  auto bad = node.import({"taskwarrior", json, "--undo", broken, "--user", kAda});
  CHECK(bad.exit_code == 1);
  CHECK(bad.err.find("broken.undo: line 2") != std::string::npos);
}

TEST_CASE("coach-import: a CSV with a byte order mark, tags and notes, --tracking on a rerun") {
  Node node;
  initialize(node);
  auto csv = node.write(
      "bom.csv", "\xEF\xBB\xBF" + kHeader.substr(0, kHeader.size() - 1) + ",tags,text,email\n" +
                     kAda +
                     ",t,created,2026-01-05T09:00:00Z,,,,,Tagged,,Work home,,ada@example.com\n" +
                     kAda + ",t,noted,2026-01-05T10:00:00Z,,,,,,,,\"a note, with a comma\",\n");
  auto r = node.import({"csv", csv});
  CHECK_MESSAGE(r.exit_code == 0, r.err);
  CHECK(r.out.find("2 rows: 2 imported") != std::string::npos);
  // Again with --tracking: nothing new, and it says why tracking stays off.
  auto again = node.import({"--tracking", "csv", csv});
  CHECK(again.exit_code == 0);
  CHECK(again.err.find("warning: user " + kAda + " is registered already") != std::string::npos);
  CHECK(again.err.find("import again with --tracking") != std::string::npos);
  Served served(node);
  CHECK(served.ok("user.get", "", kAda).profile().user().email() == "ada@example.com");
  auto listed = served.ok("task.list", "", kAda).task_list();
  REQUIRE(listed.tasks_size() == 1);
  CHECK(listed.tasks(0).tags_size() == 2);
  REQUIRE(listed.tasks(0).notes_size() == 1);
  CHECK(listed.tasks(0).notes(0).text() == "a note, with a comma");
}

TEST_CASE("coach-replay: read only beside a running coachd, point-in-time joins never look ahead") {
  Node node;
  initialize(node);
  auto csv =
      node.write("history.csv",
                 kHeader + kAda + ",a,created,2026-01-05T09:00:00Z,2026-01-06T09:00:00Z,,,,A,\n" +
                     kAda + ",a,completed,2026-01-07T09:00:00Z,,,,,,\n" +  // a day late
                     kAda + ",b,created,2026-01-08T09:00:00Z,2026-01-20T09:00:00Z,,,,B,\n" + kAda +
                     ",b,completed,2026-01-09T09:00:00Z,,,,,,\n");
  REQUIRE(node.import({"--tracking", "csv", csv}).exit_code == 0);

  test::NatsServer nats(node.dir.str());
  test::Coachd coachd(node.data, nats.url());
  auto rows = node.write("rows.csv", "user_id,timestamp\n" + kAda + ",2026-01-07T08:59:59Z\n" +
                                         kAda + ",2026-01-07T09:00:00Z\n" + kAda +
                                         ",2026-01-20T00:00:00Z\nnobody,2026-01-01T00:00:00Z\n");
  auto join = node.replay({"join", "--rows", rows});
  CHECK(join.exit_code == 2);  // one bad row, reported and skipped
  CHECK(join.err.find("rows.csv line 5: user_id must be a UUID") != std::string::npos);
  auto answers = lines_with(join.out, kAda);
  REQUIRE(answers.size() == 3);
  // Before the late completion: 2 events known (registration, create).
  CHECK(answers[0].find("2026-01-07T08:59:59Z,true,2,v1,") != std::string::npos);
  // At it: 3 events, and the completion a day late shows in the features.
  CHECK(answers[1].find("2026-01-07T09:00:00Z,true,3,v1,") != std::string::npos);
  CHECK(answers[1].find(",24,") != std::string::npos);  // completion_latency_avg: 24 h late
  CHECK(answers[2].find(",true,5,v1,") != std::string::npos);

  // With task ids (as imported: a UUID, or the source's own id, which
  // coach-import made a stable UUID of), each row also has the task's
  // lateness risk then, while the task is open.
  auto task_of = [&](const char* key) { return Uuid::derived(kAda + '\0' + key).to_string(); };
  auto task_rows =
      node.write("task-rows.csv",
                 "user_id,task_id,timestamp\n" + kAda + "," + task_of("a") +
                     ",2026-01-05T10:00:00Z\n" + kAda + ",a,2026-01-07T08:59:59Z\n" + kAda + "," +
                     task_of("a") + ",2026-01-07T09:00:00Z\n" + kAda + "," + task_of("b") +
                     ",2026-01-07T09:00:00Z\n" + kAda + ",,2026-01-07T09:00:00Z\n" + kAda + "," +
                     std::string(129, 'x') + ",2026-01-07T09:00:00Z\n");
  auto with_tasks = node.replay(
      {"join", "--rows", task_rows, "--models-dir", std::string(COACH_SOURCE_DIR) + "/models"});
  CHECK(with_tasks.exit_code == 2);
  CHECK(with_tasks.err.find("task-rows.csv line 7: task_id must be a UUID") != std::string::npos);
  auto risks = lines_with(with_tasks.out, kAda);
  REQUIRE(risks.size() == 5);
  auto risk_of = [](const std::string& line) {
    auto last = line.rfind(',');
    auto before = line.rfind(',', last - 1);
    return line.substr(before + 1, last - before - 1);
  };
  auto version_of = [](const std::string& line) { return line.substr(line.rfind(',') + 1); };
  // Open and not yet due: a risk in (0, 1) by models/lateness-v1.txt.
  INFO(risks[0]);
  REQUIRE_FALSE(risk_of(risks[0]).empty());
  double r = std::stod(risk_of(risks[0]));
  CHECK(r > 0);
  CHECK(r < 1);
  CHECK(version_of(risks[0]) == "v1");
  // Open past its due date (named by the source's id "a"): late for certain.
  CHECK(risks[1].find(task_of("a") + ",1,v1") != std::string::npos);
  // At 09:00:00 the completion is known (events at or before the instant
  // count); b is created only on the 8th; a row without a task has none.
  for (size_t i : {2u, 3u, 4u}) {
    INFO(risks[i]);
    CHECK(risk_of(risks[i]).empty());
  }
  CHECK(risks[2].find("2026-01-07T09:00:00Z,true,3,v1,") != std::string::npos);
  // Without a task_id column the output has the same columns, empty.
  CHECK(answers[0].substr(answers[0].size() - 3) == ",,,");
  // Rows with tasks but no risk model where told: a clear error, exit 1.
  auto no_model = node.replay({"join", "--rows", task_rows, "--models-dir", node.dir.str()});
  CHECK(no_model.exit_code == 1);
  CHECK(no_model.err.find("no risk model file " + node.dir.str() + "/lateness-v1.txt") !=
        std::string::npos);

  auto what_if = node.write("what-if.txt", R"(version what-if
bias 3
weight share_late_smoothed 0
weight share_very_late 0
weight mean_lateness_days 0
weight mean_tension 0
weight overdue_open 0
weight history 0
reference share_late_smoothed 0
reference share_very_late 0
reference mean_lateness_days 0
reference mean_tension 0
reference overdue_open 0
reference history 0
)");
  auto scores = node.replay({"--model-file", what_if, "scores", "--user", kAda});
  REQUIRE_MESSAGE(scores.exit_code == 0, scores.err);
  CHECK(lines_with(scores.out, ",what-if,0.952574").size() == 5);
  auto json = node.replay({"--format", "json", "daily", "--user", kAda});
  CHECK(json.out.find("\"as_of\": \"2026-01-08T00:00:00Z\", \"as_of_sequence\": 3") !=
        std::string::npos);
  CHECK(node.replay({"--model-version", "nope", "scores"}).exit_code == 1);
  CHECK(node.replay({"tasks"}, v1::ROLE_USER).exit_code == 1);
}

TEST_CASE("coach-replay metrics: weekly figures and cohorts over users, small groups left out") {
  Node node;
  initialize(node);
  // Six users in ISO week 2 of 2026 (5 to 11 January), each a task due on
  // the 7th; four complete it in time, one late (the 9th), one never. Two of
  // them are active again in week 3.
  std::string csv = kHeader;
  std::vector<std::string> users;
  for (int i = 0; i < 6; ++i) {
    auto user = Uuid::derived("metrics-user-" + std::to_string(i)).to_string();
    users.push_back(user);
    csv += user + ",t,created,2026-01-05T09:00:00Z,2026-01-07T09:00:00Z,,,,T,\n";
    if (i < 4) csv += user + ",t,completed,2026-01-06T09:00:00Z,,,,,,\n";
    if (i == 4) csv += user + ",t,completed,2026-01-09T09:00:00Z,,,,,,\n";
    if (i < 2) csv += user + ",u,created,2026-01-13T09:00:00Z,2026-01-20T09:00:00Z,,,,U,\n";
  }
  REQUIRE(node.import({"csv", node.write("m.csv", csv)}).exit_code == 0);
  auto weekly = node.replay({"metrics", "--from", "2026-01-05T00:00:00Z", "--to",
                             "2026-01-19T00:00:00Z", "--min-users", "5"});
  REQUIRE_MESSAGE(weekly.exit_code == 0, weekly.err);
  auto w2 = lines_with(weekly.out, "2026-W02,");
  REQUIRE(w2.size() == 1);
  // 6 users, 6 active; completion 5 of 6 due (by the week's end); overdue
  // at the week's end: 1 of the 1 still open; no snoozes, no nudges.
  CHECK(w2[0] == "2026-W02,6,6,0.833333,1,0,0,0,,");
  // Week 3 had 2 active users: under 5, left out (its figures would be
  // theirs); so is week 4's row (no one active), and so are 14 of the 15
  // days from the 5th to the 19th (below), counted apart.
  CHECK(lines_with(weekly.out, "2026-W03,").empty());
  CHECK(weekly.err.find("metrics of 6 users, 2 groups under 5 users left out, and 14 days") !=
        std::string::npos);

  // By local day: all six were active on the 5th (creating), four on the
  // 6th (completing: under 5, left out), none later.
  auto daily = node.replay({"metrics", "--from", "2026-01-05T00:00:00Z", "--to",
                            "2026-01-19T00:00:00Z", "--view", "daily", "--min-users", "5"});
  REQUIRE_MESSAGE(daily.exit_code == 0, daily.err);
  CHECK(daily.out.find("day,users,active_users,completion_rate") == 0);
  CHECK(lines_with(daily.out, "2026-01-05,") ==
        std::vector<std::string>{"2026-01-05,6,6,,0,0,0,0,,"});
  CHECK(lines_with(daily.out, "2026-01-06,").empty());

  auto cohorts = node.replay({"metrics", "--from", "2026-01-05T00:00:00Z", "--to",
                              "2026-01-27T00:00:00Z", "--view", "retention", "--min-users", "5"});
  REQUIRE_MESSAGE(cohorts.exit_code == 0, cohorts.err);
  auto c = lines_with(cohorts.out, "2026-W02,");
  REQUIRE(c.size() == 1);
  // Known by the 27th (weeks 3 and 4 over): 4 of 6 active in neither.
  INFO(c[0]);
  CHECK(c[0].find("2026-W02,6,6,4,1,0.333333,0") == 0);

  // k-anonymity: with a threshold above the group, nothing is printed.
  auto small = node.replay({"metrics", "--from", "2026-01-05T00:00:00Z", "--to",
                            "2026-01-19T00:00:00Z", "--min-users", "7"});
  REQUIRE(small.exit_code == 0);
  CHECK(lines_with(small.out, "2026-W").empty());
  CHECK(small.err.find("groups under 7 users left out") != std::string::npos);
  // Bad input and a user's token: clear errors, exit 1 or 2.
  auto bad = node.replay({"metrics", "--from", "yesterday"});
  CHECK(bad.exit_code == 1);
  CHECK(bad.err.find("--from must be an RFC 3339 time") != std::string::npos);
  auto backwards =
      node.replay({"metrics", "--from", "2026-02-01T00:00:00Z", "--to", "2026-01-01T00:00:00Z"});
  CHECK(backwards.exit_code == 1);
  CHECK(node.replay({"metrics", "--from", "2026-01-05T00:00:00Z", "--view", "nope"}).exit_code ==
        2);
  CHECK(node.replay({"metrics", "--from", "2026-01-05T00:00:00Z"}, v1::ROLE_USER).exit_code == 1);
  // k-anonymity cannot be turned off, nor one user's figures asked for.
  CHECK(node.replay({"metrics", "--from", "2026-01-05T00:00:00Z", "--min-users", "1"}).exit_code ==
        2);
  auto one = node.replay({"metrics", "--from", "2026-01-05T00:00:00Z", "--user", users[0]});
  CHECK(one.exit_code == 1);
  CHECK(one.err.find("never one user's") != std::string::npos);
}

namespace {

// A small OULAD-shaped data set: two modules, `students` students each, three
// assessments per module; every third submission is late.
struct OuladTables {
  std::vector<std::vector<std::string>> assessments, submissions, registrations;
};

OuladTables small_oulad(int students) {
  OuladTables t;
  int id = 100;
  for (const std::string module : {"AAA", "BBB"}) {
    std::vector<int> ids;
    for (int due : {20, 50, 90}) {
      ids.push_back(++id);
      t.assessments.push_back({module, "2013J", std::to_string(id), "TMA", std::to_string(due),
                               due == 90 ? "50" : "25"});
    }
    for (int s = 0; s < students; ++s) {
      std::string student = module + std::to_string(1000 + s);
      t.registrations.push_back({module, "2013J", student, "-10", "?"});
      for (size_t i = 0; i < ids.size(); ++i) {
        int due = i == 0 ? 20 : i == 1 ? 50 : 90;
        int day = (s + static_cast<int>(i)) % 3 == 0 ? due + 3 : due - 2;
        t.submissions.push_back({std::to_string(ids[i]), student, std::to_string(day), "0", "70"});
      }
    }
  }
  return t;
}

// Writes a table: plain (LF, no quotes, a trailing blank line) or as the
// original OULAD distribution has it (every cell quoted, CRLF), with the
// columns in `order` (indexes into `header`).
void write_table(const std::string& path, const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows, bool quoted,
                 std::vector<size_t> order = {}) {
  if (order.empty())
    for (size_t i = 0; i < header.size(); ++i) order.push_back(i);
  std::ofstream out(path, std::ios::binary);
  auto line = [&](const std::vector<std::string>& cells) {
    for (size_t i = 0; i < order.size() && order[i] < cells.size(); ++i)  // short rows stay short
      out << (i ? "," : "") << (quoted ? "\"" + cells[order[i]] + "\"" : cells[order[i]]);
    out << (quoted ? "\r\n" : "\n");
  };
  line(header);
  for (const auto& row : rows) line(row);
  if (!quoted) out << "\n\n";  // trailing blank lines
}

const std::vector<std::string> kAssessmentColumns = {
    "code_module", "code_presentation", "id_assessment", "assessment_type", "date", "weight"};
const std::vector<std::string> kSubmissionColumns = {"id_assessment", "id_student",
                                                     "date_submitted", "is_banked", "score"};
const std::vector<std::string> kRegistrationColumns = {
    "code_module", "code_presentation", "id_student", "date_registration", "date_unregistration"};

void write_oulad(const std::string& dir, const OuladTables& t, bool quoted) {
  std::filesystem::create_directories(dir);
  // The quoted copy also has its columns in another order: read by name.
  write_table(dir + "/assessments.csv", kAssessmentColumns, t.assessments, quoted,
              quoted ? std::vector<size_t>{5, 4, 3, 2, 1, 0} : std::vector<size_t>{});
  write_table(dir + "/studentAssessment.csv", kSubmissionColumns, t.submissions, quoted,
              quoted ? std::vector<size_t>{1, 0, 4, 3, 2} : std::vector<size_t>{});
  write_table(dir + "/studentRegistration.csv", kRegistrationColumns, t.registrations, quoted);
}

test::ToolRun eval(const test::TempDir& dir, const std::string& data,
                   std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"--data", data, "--simulate", "0"};
  args.insert(args.end(), extra.begin(), extra.end());
  return test::run_tool(COACH_EVAL, args, dir.str() + "/eval-" + std::to_string(args.size()));
}

}  // namespace

TEST_CASE("coach-eval reads OULAD by header names: quoted cells, CRLF, blank lines") {
  test::TempDir dir;
  auto tables = small_oulad(12);
  write_oulad(dir.str() + "/plain", tables, false);
  write_oulad(dir.str() + "/quoted", tables, true);
  auto plain = eval(dir, dir.str() + "/plain");
  REQUIRE_MESSAGE(plain.exit_code == 0, plain.err);
  // 24 students with three tasks each, predicted after their first two
  // deadlines.
  CHECK(plain.out.find("24 students, 72 tasks, 48 predictions") != std::string::npos);
  auto quoted = eval(dir, dir.str() + "/quoted");
  REQUIRE_MESSAGE(quoted.exit_code == 0, quoted.err);
  CHECK(quoted.out == plain.out);
}

TEST_CASE("coach-eval follows its protocol: which tasks count and which are predicted") {
  // Worked out by hand from apps/coach-eval/oulad.h. Deadlines: TMA 1 at
  // day 20, TMA 2 and CMA 3 at day 50, TMA 4 at day 80; an exam and a TMA
  // without a date never count.
  OuladTables t;
  for (auto row : std::vector<std::vector<std::string>>{{"1", "TMA", "20"},
                                                        {"2", "TMA", "50"},
                                                        {"3", "CMA", "50"},
                                                        {"4", "TMA", "80"},
                                                        {"5", "Exam", "100"},
                                                        {"6", "TMA", ""}})
    t.assessments.push_back({"AAA", "2013J", row[0], row[1], row[2], "10"});
  auto submit = [&](const char* assessment, const char* student, const char* day,
                    const char* banked = "0") {
    t.submissions.push_back({assessment, student, day, banked, "70"});
  };
  // s1: four tasks. Task 2 (late) is predicted after deadline 1; CMA 3
  // shares deadline 2 (nothing new is known); task 4 (never submitted) is
  // predicted after deadline 3.
  t.registrations.push_back({"AAA", "2013J", "s1", "-5", "?"});
  submit("1", "s1", "18");
  submit("2", "s1", "52");
  submit("3", "s1", "45");
  // s2: task 2 is a banked mark (left out); CMA 3 was submitted on day 15,
  // before deadline 1 passed (not predicted); task 4 is predicted.
  t.registrations.push_back({"AAA", "2013J", "s2", "0", "?"});
  submit("1", "s2", "10");
  submit("2", "s2", "40", "1");
  submit("3", "s2", "15");
  submit("4", "s2", "79");
  // s3 withdrew on day 60: task 4, due after that, is left out; task 2 is
  // predicted.
  t.registrations.push_back({"AAA", "2013J", "s3", "0", "60"});
  // s4 registered on day 30: task 1, due before and never submitted, is
  // left out; task 2 was submitted on day 25, before registering (OULAD has
  // such rows): it counts, on time; task 4 is predicted.
  t.registrations.push_back({"AAA", "2013J", "s4", "30", "?"});
  submit("2", "s4", "25");
  test::TempDir dir;
  write_oulad(dir.str() + "/data", t, false);
  auto run = eval(dir, dir.str() + "/data");
  REQUIRE_MESSAGE(run.exit_code == 0, run.err);
  CHECK_MESSAGE(run.out.find("4 students, 13 tasks, 5 predictions") != std::string::npos, run.out);
  // Four of the five predicted tasks were late.
  CHECK_MESSAGE(run.out.find("AAA              5  0.800") != std::string::npos, run.out);
}

TEST_CASE("coach-eval names the file and line of a bad row and exits 1, never crashes") {
  test::TempDir dir;
  auto data = dir.str() + "/data";
  struct Case {
    const char* what;
    std::function<void(OuladTables&)> spoil;
    std::string file, error;
  };
  std::vector<Case> cases = {
      {"a day that is no number", [](OuladTables& t) { t.submissions[2][2] = "soon"; },
       "studentAssessment.csv", ": line 4: date_submitted \"soon\" is not a whole number of days"},
      {"a weight that is no number", [](OuladTables& t) { t.assessments[0][5] = "1x"; },
       "assessments.csv", ": line 2: weight \"1x\" is not a number"},
      {"a short row", [](OuladTables& t) { t.registrations[4].pop_back(); },
       "studentRegistration.csv", ": line 6: 4 cells where the header has 5"},
      {"a presentation code", [](OuladTables& t) { t.registrations[0][1] = "2013X"; },
       "studentRegistration.csv", ": line 2: code_presentation \"2013X\" is not a year and B or J"},
      {"an unclosed quote", [](OuladTables& t) { t.assessments[1][3] = "\"TMA"; },
       "assessments.csv", ": line 3: a quote is never closed"},
  };
  for (const auto& c : cases) {
    INFO(std::string(c.what));
    auto tables = small_oulad(3);
    c.spoil(tables);
    write_oulad(data, tables, false);
    auto r = eval(dir, data);
    CHECK(r.exit_code == 1);
    CHECK_MESSAGE(r.err.find(data + "/" + c.file + c.error) != std::string::npos, r.err);
  }
  // A header without a column the evaluation needs.
  auto tables = small_oulad(3);
  write_oulad(data, tables, false);
  write_table(
      data + "/assessments.csv",
      {"code_module", "code_presentation", "id_assessment", "assessment_type", "date", "mass"},
      tables.assessments, false);
  auto r = eval(dir, data);
  CHECK(r.exit_code == 1);
  CHECK_MESSAGE(
      r.err.find("assessments.csv: line 1: the header has no column weight") != std::string::npos,
      r.err);
}

TEST_CASE("coach-eval without data: an error, or skipped (77) when asked to skip") {
  test::TempDir dir;
  auto missing = eval(dir, dir.str() + "/nowhere");
  CHECK(missing.exit_code == 1);
  CHECK(missing.err.find("cannot read") != std::string::npos);
  // What-if flags must name a feature and a positive penalty, else an error
  // naming the flag and no report.
  auto tables = small_oulad(3);
  write_oulad(dir.str() + "/data", tables, false);
  auto unknown = eval(dir, dir.str() + "/data", {"--without", "shoe_size"});
  CHECK(unknown.exit_code == 2);
  CHECK(unknown.err.find("--without: no feature shoe_size") != std::string::npos);
  auto no_ridge = eval(dir, dir.str() + "/data", {"--ridge", "0"});
  CHECK(no_ridge.exit_code != 0);
  CHECK(no_ridge.err.find("--ridge") != std::string::npos);
  CHECK(no_ridge.out.find("leave-one-module-out") == std::string::npos);
  auto skipped = eval(dir, dir.str() + "/nowhere", {"--skip-without-data"});
  CHECK(skipped.exit_code == 77);
  CHECK(skipped.out.find("skipped") != std::string::npos);
}

// Schema evolution (issue 21): each store in tests/fixtures/store-*/ was
// written by an earlier release (scripts/make-store-fixture.sh). This
// release must read it as it lies on disk, fold it to the same tasks, and
// serve and write on after it.
TEST_CASE("stores written by earlier releases are read unchanged and written on") {
  const std::filesystem::path fixtures = COACH_SOURCE_DIR "/tests/fixtures";
  int seen = 0;
  for (const auto& entry : std::filesystem::directory_iterator(fixtures)) {
    if (entry.path().filename().string().rfind("store-", 0) != 0) continue;
    ++seen;
    CAPTURE(entry.path().string());
    auto read = [&](const char* name) {
      std::ifstream in(entry.path() / name);
      std::stringstream text;
      text << in.rdbuf();
      return text.str();
    };
    Node node;  // a copy: the fixture itself is never opened for writing
    std::filesystem::copy(entry.path() / "data", node.data,
                          std::filesystem::copy_options::recursive);
    for (const char* key : {"master.key", "token.key"}) {
      auto to = node.dir.str() + "/" + key;
      std::filesystem::copy_file(entry.path() / key, to);
      std::filesystem::permissions(
          to, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    }
    auto tasks = node.replay({"--format", "json", "tasks"});
    REQUIRE_MESSAGE(tasks.exit_code == 0, tasks.err);
    CHECK(tasks.out == read("tasks.json"));

    auto user = read("user");
    user.erase(user.find_last_not_of(" \n") + 1);
    test::NatsServer nats(node.dir.str());
    test::Coachd coachd(node.data, nats.url());
    test::Client client(nats.url(), node.token_key());
    auto listed = client.request(
        "task.list",
        R"({"statuses": ["TASK_STATUS_PENDING", "TASK_STATUS_COMPLETED", "TASK_STATUS_SNOOZED",
                         "TASK_STATUS_DELETED"]})",
        user);
    REQUIRE_MESSAGE(listed, test::error_of(listed));
    REQUIRE_MESSAGE(!listed->has_error(), listed->error().message());
    for (const auto& t : listed->task_list().tasks())
      CHECK_MESSAGE(read("tasks.json").find(t.id()) != std::string::npos, t.id());
    CHECK(listed->task_list().tasks_size() == 3);
    // Exported in the current form: every event upcast, each task's fields
    // where today's writer puts them, nothing left in the v1 fields.
    auto exported = client.request("user.export", R"({"max_events": 2000})", user);
    REQUIRE(exported);
    REQUIRE_MESSAGE(!exported->has_error(), exported->error().message());
    const auto& page = exported->user_export();
    CHECK(page.next_sequence() == 0);
    int created_seen = 0;
    for (const auto& e : page.events()) {
      CHECK(e.schema_version() == events::kCurrentSchemaVersion);
      if (!e.has_task_created()) continue;
      ++created_seen;
      CHECK(!e.task_created().fields().title().empty());
      CHECK(events::check_shape(e));
    }
    CHECK(created_seen == 3);
    auto json = actors::to_json(*exported);
    CHECK(json.find(R"("task_created":{"fields":{"title":)") != std::string::npos);
    auto profile = client.request("user.get", "{}", user);
    REQUIRE(profile);
    auto version = profile->profile().version();
    CHECK(version > 10);
    auto created = client.request("task.create", R"({"title": "after the upgrade"})", user);
    REQUIRE(created);
    CHECK(!created->has_error());
    CHECK(client.request("user.get", "{}", user)->profile().version() == version + 1);
    auto nudges = client.request("nudge.list", "{}", user);
    REQUIRE(nudges);
    CHECK(nudges->nudge_list().nudges_size() >= 2);
  }
  CHECK_MESSAGE(seen >= 1, "no fixture in " << fixtures.string());
}
