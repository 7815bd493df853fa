// Nudges end to end, all real: coachd as a process, nats-server with
// JetStream, an HTTP server in place of the LLM, and coach-deliver as the
// delivery gateway. Degraded mode proven: the LLM slow, failing or down.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <thread>

#include "coach_node.h"
#include "llm_stub.h"
#include "processes.h"
#include "schema/internal.pb.h"
#include "support.h"

using namespace coach;
using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

namespace {

// A node whose nudge checks run at once, with a push gateway at hand.
struct Node : test::CoachNode {
  std::string outbox = dir.str() + "/outbox.jsonl";

  explicit Node(std::vector<std::string> args)
      : CoachNode([&] {
          args.insert(args.end(), {"--nudge-check-delay-ms", "100", "--nudge-startup-spread", "1"});
          return args;
        }()) {}
  // What run.sh gives coach-deliver: a delivery gateway's token, which
  // reports deliveries and does nothing else.
  std::string delivery_token(const Uuid& gateway = Uuid::random()) const {
    return token(v1::ROLE_DELIVERY, gateway);
  }
  // coach-deliver for push, as a process.
  // Its token comes from a file only the owner may read, never the command line.
  std::string token_file(mode_t mode = 0600) {
    auto path = dir.str() + "/deliver.token";
    std::ofstream(path) << delivery_token() << "\n";
    ::chmod(path.c_str(), mode);
    return path;
  }
  test::Process deliver(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--channel",
                                     "push",
                                     "--nats-url",
                                     nats.url(),
                                     "--plaintext",
                                     "--nats-creds",
                                     nats.creds(actors::BusRole::deliver, "push"),
                                     "--token-file",
                                     token_file(),
                                     "--out",
                                     outbox};
    args.insert(args.end(), extra.begin(), extra.end());
    return test::Process(COACH_DELIVER, args, dir.str() + "/deliver.log");
  }
  // A user with one task due in an hour: a deadline nudge is due at once.
  std::string user_with_due_task(const std::string& extra_prefs = "",
                                 const std::string& email = "n@example.com",
                                 const std::string& title = "Send the report",
                                 std::chrono::seconds due_in = 1h) {
    auto user = new_uuid_string();
    ok("user.register",
       R"({"email": ")" + email + R"(", "timezone": "UTC", "preferences": {)" + extra_prefs + "}}",
       user);
    auto due = std::chrono::system_clock::now() + due_in;
    ok("task.create",
       R"({"title": ")" + title + R"(", "estimated_minutes": 30, "due_at": ")" +
           coach::format_time(due) + "\"}",
       user);
    return user;
  }
  v1::NodeStats node() {
    auto r = client->raw("coach.v1.admin.node", "", {{"Authorization", "Bearer " + admin_token()}});
    REQUIRE(r);
    REQUIRE(r->has_node_stats());
    return r->node_stats();
  }
  // Waits until the user's newest nudge satisfies `done`.
  std::optional<v1::NudgeRecord> wait_nudge(const std::string& user,
                                            const std::function<bool(const v1::NudgeRecord&)>& done,
                                            std::chrono::seconds timeout = 20s) {
    auto until = Steady::now() + timeout;
    while (Steady::now() < until) {
      auto list = ok("nudge.list", "", user).nudge_list();
      if (list.nudges_size() > 0 && done(list.nudges(0))) return list.nudges(0);
      std::this_thread::sleep_for(50ms);
    }
    return std::nullopt;
  }
  size_t outbox_lines() const {
    std::ifstream in(outbox);
    return static_cast<size_t>(std::count(std::istreambuf_iterator<char>(in), {}, '\n'));
  }
};

bool sent(const v1::NudgeRecord& r) {
  return r.notification().status() == v1::NOTIFICATION_STATUS_SENT;
}

}  // namespace

TEST_CASE("a due nudge is written by the LLM, delivered over JetStream and confirmed") {
  test::LlmStub llm;
  Node n({"--llm-url", llm.url()});
  auto gateway = n.deliver();
  auto user = n.user_with_due_task();
  auto done = n.wait_nudge(user, sent);
  REQUIRE(done);
  CHECK(done->nudge().trigger() == "deadline_approaching");
  CHECK(done->nudge().source() == v1::NUDGE_SOURCE_LLM);
  CHECK(done->nudge().generated_text().find("Stub coach says") == 0);
  CHECK(done->nudge().delivered());
  CHECK(done->notification().channel() == v1::DELIVERY_CHANNEL_PUSH);
  CHECK(done->notification().has_delivered_at());
  CHECK(n.outbox_lines() == 1);
  // Delivery came back as an event in the user's log.
  auto exported = n.ok("user.export", "", user).user_export();
  int created = 0, delivered = 0;
  for (const auto& e : exported.events()) {
    created += e.has_nudge_created();
    delivered += e.has_nudge_delivered();
  }
  CHECK(created == 1);
  CHECK(delivered == 1);

  // Rating: bad input is refused with a code, a good rating is stored.
  auto rate = [&](const std::string& body) { return n.client->request("nudge.rate", body, user); };
  auto bad = rate(R"({"nudge_id": ")" + done->nudge().id() + R"(", "usefulness": 9})");
  REQUIRE(bad);
  CHECK(bad->error().code() == "invalid_argument");
  bad = rate(R"({"nudge_id": ")" + new_uuid_string() + R"(", "usefulness": 3})");
  REQUIRE(bad);
  CHECK(bad->error().code() == "not_found");
  n.ok("nudge.rate", R"({"nudge_id": ")" + done->nudge().id() + R"(", "usefulness": 4})", user);
  CHECK(n.ok("nudge.list", "", user).nudge_list().nudges(0).usefulness() == 4);
  // Only admins (delivery gateways) report deliveries.
  auto report = n.client->request("admin.notification.report",
                                  R"({"notification_id": ")" + done->notification().id() +
                                      R"(", "status": "NOTIFICATION_STATUS_SENT"})",
                                  user);
  REQUIRE(report);
  CHECK(report->error().code() == "permission_denied");
  // A delivery gateway's token reports, and may do nothing else.
  auto gateway_id = Uuid::random();
  auto as_gateway = [&](const std::string& op, const std::string& body, const std::string& who) {
    auto r = n.client->raw(
        "coach.v1." + op, body,
        {{"Authorization", "Bearer " + n.delivery_token(gateway_id)}, {"Coach-User", who}});
    REQUIRE(r);
    return r->has_error() ? r->error().code() : std::string("ok");
  };
  CHECK(as_gateway("admin.ops", "", user) == "permission_denied");
  CHECK(as_gateway("admin.notification.report",
                   R"({"notification_id": ")" + new_uuid_string() +
                       R"(", "status": "NOTIFICATION_STATUS_SENT"})",
                   user) == "not_found");  // allowed: the id is unknown
  CHECK(as_gateway("task.list", "", user) == "permission_denied");
  CHECK(as_gateway("user.insights", "", user) == "permission_denied");
  CHECK(as_gateway("user.register", R"({"email": "g@example.com"})", gateway_id.to_string()) ==
        "permission_denied");  // not even for its own token's user

  // More bad input, each answered with a code; the user's log is unchanged.
  auto events_before = n.ok("user.export", "", user).user_export().events_size();
  auto code_of = [&](const std::string& op, const std::string& body) {
    auto r = n.client->request(op, body, user);
    REQUIRE(r);
    return r->has_error() ? r->error().code() : std::string("ok");
  };
  CHECK(code_of("nudge.now", R"({"task_id": "not-a-uuid"})") == "invalid_argument");
  CHECK(code_of("nudge.now", R"({"task_id": ")" + new_uuid_string() + "\"}") == "not_found");
  CHECK(code_of("nudge.now", R"({"mood": "grumpy"})") == "invalid_argument");
  CHECK(code_of("nudge.list", R"({"limit": 51})") == "invalid_argument");
  CHECK(code_of("nudge.rate", R"({"nudge_id": ")" + done->nudge().id() +
                                  R"(", "usefulness": 2, "comment": ")" + std::string(1001, 'x') +
                                  "\"}") == "invalid_argument");
  auto admin_report = [&](const std::string& body) {
    auto r = n.client->raw("coach.v1.admin.notification.report", body,
                           {{"Authorization", "Bearer " + n.admin_token()}, {"Coach-User", user}});
    REQUIRE(r);
    return r->has_error() ? r->error().code() : std::string("ok");
  };
  auto id = done->notification().id();
  CHECK(admin_report(R"({"notification_id": ")" + id +
                     R"(", "status": "NOTIFICATION_STATUS_QUEUED"})") == "invalid_argument");
  CHECK(admin_report(R"({"notification_id": ")" + new_uuid_string() +
                     R"(", "status": "NOTIFICATION_STATUS_SENT"})") == "not_found");
  CHECK(admin_report(R"({"user_id": ")" + new_uuid_string() + R"(", "notification_id": ")" + id +
                     R"(", "status": "NOTIFICATION_STATUS_FAILED"})") == "invalid_argument");
  // Asking before sending: a sent notification must not be sent again, an
  // unknown one is not found, a check carries no outcome.
  CHECK(admin_report(R"({"notification_id": ")" + id + R"(", "check_only": true})") == "conflict");
  CHECK(admin_report(R"({"notification_id": ")" + new_uuid_string() +
                     R"(", "check_only": true})") == "not_found");
  CHECK(admin_report(R"({"notification_id": ")" + id +
                     R"(", "check_only": true, "status": "NOTIFICATION_STATUS_SENT"})") ==
        "invalid_argument");
  // A repeated report of a sent notification changes nothing.
  CHECK(admin_report(R"({"notification_id": ")" + id +
                     R"(", "status": "NOTIFICATION_STATUS_FAILED"})") == "ok");
  auto after = n.ok("nudge.list", "", user).nudge_list().nudges(0);
  CHECK(after.notification().status() == v1::NOTIFICATION_STATUS_SENT);
  CHECK(n.ok("user.export", "", user).user_export().events_size() == events_before);

  // No repeat: the trigger is cooling down, and an opted-out user gets nothing.
  auto quiet = n.user_with_due_task(R"("nudges_enabled": false)");
  std::this_thread::sleep_for(1500ms);
  CHECK(n.ok("nudge.list", "", quiet).nudge_list().nudges_size() == 0);
  CHECK(n.ok("nudge.list", "", user).nudge_list().nudges_size() == 1);
  CHECK(n.outbox_lines() == 1);
  // No nudge about a finished task ("is the one to do next" would be wrong).
  auto finished = n.ok("task.create", R"({"title": "Already done"})", user).task().id();
  n.ok("task.complete", R"({"task_id": ")" + finished + "\"}", user);
  CHECK(code_of("nudge.now", R"({"task_id": ")" + finished + "\"}") == "conflict");
}

TEST_CASE(
    "with the LLM failing, every due nudge goes out from templates, the breaker opens, "
    "then closes") {
  test::LlmStub llm(test::LlmMode::error500);
  Node n({"--llm-url", llm.url(), "--llm-timeout-ms", "200", "--llm-breaker-failures", "3",
          "--llm-breaker-cooldown-ms", "1500"});
  auto gateway = n.deliver();
  std::vector<std::string> users;
  for (int i = 0; i < 6; ++i) users.push_back(n.user_with_due_task());
  for (const auto& user : users) {
    auto done = n.wait_nudge(user, sent);
    REQUIRE(done);
    CHECK(done->nudge().source() == v1::NUDGE_SOURCE_TEMPLATE);
    CHECK(done->nudge().generated_text().find("Send the report") != std::string::npos);
  }
  auto stats = n.node();
  CHECK(stats.llm_breaker() == "open");
  CHECK(stats.nudges_by_template() >= 6);
  CHECK(stats.template_fallbacks().count("breaker open") == 1);
  int calls = llm.requests();
  CHECK(calls < 6 * 3);  // the open breaker spared the LLM

  // Garbage and offensive answers are not used either.
  for (auto mode : {test::LlmMode::garbage, test::LlmMode::offensive}) {
    llm.set_mode(mode);
    std::this_thread::sleep_for(1600ms);  // the breaker lets a probe through
    auto user = n.user_with_due_task();
    auto nudge = n.ok("nudge.now", "", user).nudge();
    CHECK(nudge.source() == v1::NUDGE_SOURCE_TEMPLATE);
    CHECK(nudge.generated_text().find("idiot") == std::string::npos);
  }
  // Back to normal: the breaker closes and the LLM writes again.
  llm.set_mode(test::LlmMode::normal);
  std::this_thread::sleep_for(1600ms);
  auto user = n.user_with_due_task();
  auto nudge = n.ok("nudge.now", "", user).nudge();
  CHECK(nudge.source() == v1::NUDGE_SOURCE_LLM);
  CHECK_FALSE(nudge.delivered());  // the reply is not a delivery: no report says so
  CHECK(n.node().llm_breaker() == "closed");
}

TEST_CASE(
    "the nudge trial: decisions drawn at the node's odds, logged, opt-out and deadline kept") {
  Node n({"--nudge-hold-back", "0.5"});
  const std::string tracked = R"("behavioral_tracking_enabled": true)";
  std::vector<std::string> trial, outside;
  for (int i = 0; i < 40; ++i)
    trial.push_back(n.user_with_due_task(tracked, "t@example.com", "Late", -24h));
  for (int i = 0; i < 4; ++i) {
    outside.push_back(n.user_with_due_task(tracked + R"(, "nudge_trial_opt_out": true)",
                                           "o@example.com", "Late", -24h));
    outside.push_back(n.user_with_due_task("", "u@example.com", "Late", -24h));  // untracked
    outside.push_back(n.user_with_due_task(tracked));  // due in 1 h: deadline-critical
  }
  // Each user's log, once its decision point has passed: a nudge, or a
  // decision to hold one back.
  auto log_of = [&](const std::string& user) {
    auto until = Steady::now() + 20s;
    for (;;) {
      auto exported = n.ok("user.export", "", user).user_export();
      bool done = false;
      for (const auto& e : exported.events())
        done |= e.has_nudge_created() || (e.has_nudge_decided() && !e.nudge_decided().sent());
      if (done || Steady::now() > until) return exported;
      std::this_thread::sleep_for(50ms);
    }
  };
  int held = 0;
  for (const auto& user : trial) {
    auto log = log_of(user);
    std::vector<const v1::TaskEvent*> decided, created;
    for (const auto& e : log.events()) {
      if (e.has_nudge_decided()) decided.push_back(&e);
      if (e.has_nudge_created()) created.push_back(&e);
    }
    REQUIRE(decided.size() == 1);
    const auto& d = decided[0]->nudge_decided();
    CHECK(d.trigger() == "overdue");
    CHECK(d.send_probability() == doctest::Approx(0.5));
    if (d.sent()) {
      REQUIRE(created.size() == 1);
      CHECK(created[0]->nudge_created().decision_id() == d.decision_id());
      CHECK(created[0]->sequence() > decided[0]->sequence());  // stored at the draw
    } else {
      ++held;
      CHECK(created.empty());
    }
  }
  // 40 draws at 0.5: outside 8..32 once in ~10^4 runs.
  MESSAGE(held, " of ", trial.size(), " held back");
  CHECK(held >= 8);
  CHECK(held <= 32);
  for (const auto& user : outside) {
    auto log = log_of(user);
    int decided = 0, created = 0;
    for (const auto& e : log.events()) {
      decided += e.has_nudge_decided();
      created += e.has_nudge_created() && e.nudge_created().decision_id().empty();
    }
    CHECK(decided == 0);
    CHECK(created == 1);  // sent, outside the trial
  }
}

TEST_CASE("while the LLM hangs, task CRUD is answered and nudge.now answers before the LLM") {
  // How fast CRUD stays beside a hanging LLM is a figure of bench/nudge_bench
  // (--only crud-while-llm-hangs); here only what must hold: every create is
  // answered, each well before the hanging LLM could have answered anything.
  test::LlmStub llm;
  Node n({"--llm-url", llm.url(), "--llm-timeout-ms", "10000", "--llm-workers", "4"});
  llm.set_mode(test::LlmMode::slow);
  std::vector<std::string> waiting;
  for (int i = 0; i < 12; ++i) waiting.push_back(n.user_with_due_task());
  std::this_thread::sleep_for(500ms);
  CHECK(n.node().llm_queue() + 4 >= 12);  // 4 in the workers' hands, the rest queued
  auto user = n.user_with_due_task();
  int answered = 0;
  for (int i = 0; i < 50; ++i) {
    auto r = n.client->request("task.create", R"({"title": "quick one"})", user, {},
                               actors::Encoding::json, 5000);  // the LLM hangs for 10 s
    answered += r && r->has_task();
  }
  CHECK(answered == 50);
  // nudge.now does not wait for the LLM: its own deadline (3 s) ends it with
  // the template, long before the LLM's 10 s.
  auto nudge =
      n.client->request("nudge.now", "", waiting.front(), {}, actors::Encoding::json, 8000);
  REQUIRE_MESSAGE(nudge, test::error_of(nudge));
  REQUIRE(nudge->has_nudge());
  CHECK(nudge->nudge().source() == v1::NUDGE_SOURCE_TEMPLATE);
}

TEST_CASE("a notification no gateway can deliver is dead-lettered and recorded as failed") {
  Node n({"--notify-max-deliver", "3", "--notify-ack-wait-ms", "300"});
  auto gateway = n.deliver({"--fail-all"});
  auto user = n.user_with_due_task();
  auto failed = n.wait_nudge(user, [](const v1::NudgeRecord& r) {
    return r.notification().status() == v1::NOTIFICATION_STATUS_FAILED;
  });
  REQUIRE(failed);
  CHECK(failed->notification().attempts() == 3);
  CHECK(failed->nudge().source() == v1::NUDGE_SOURCE_TEMPLATE);  // no --llm-url
  CHECK(n.node().dead_letters() == 1);
  CHECK(n.node().notifications_pending() == 0);
  CHECK(n.outbox_lines() == 0);
  auto exported = n.ok("user.export", "", user).user_export();
  bool recorded = false;
  for (const auto& e : exported.events())
    if (e.has_notification_failed()) {
      recorded = e.notification_failed().dead_lettered();
      CHECK(e.notification_failed().reason().find("3 delivery attempts") != std::string::npos);
    }
  CHECK(recorded);
}

// Whether any file under `dir` holds `text`.
bool some_file_holds(const std::string& dir, const std::string& text) {
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    if (bytes.find(text) != std::string::npos) return true;
  }
  return false;
}

TEST_CASE("JetStream holds no plaintext, a deleted user's notifications are purged, never sent") {
  Node n({"--notify-max-deliver", "2", "--notify-ack-wait-ms", "300"});
  std::string jetstream = n.dir.str() + "/jetstream";
  // One user's notification is dead-lettered by a gateway that refuses all.
  std::string dead_user;
  {
    auto refusing = n.deliver({"--fail-all"});
    dead_user = n.user_with_due_task("", "dead-letter@example.com", "Dead letter title");
    REQUIRE(n.wait_nudge(dead_user, [](const v1::NudgeRecord& r) {
      return r.notification().status() == v1::NOTIFICATION_STATUS_FAILED;
    }));
  }
  // Two more wait in the queue with no gateway: one to be deleted, one kept.
  auto gone = n.user_with_due_task("", "gone-user@example.com", "Gone user title");
  auto kept = n.user_with_due_task("", "kept-user@example.com", "Kept user title");
  auto until = Steady::now() + 20s;
  while (n.node().notifications_pending() < 2 && Steady::now() < until)
    std::this_thread::sleep_for(50ms);
  REQUIRE(n.node().notifications_pending() == 2);
  CHECK(n.node().dead_letters() == 1);
  // Encrypted at rest: no block file shows an address or a title.
  for (std::string secret :
       {"dead-letter@example.com", "Dead letter title", "gone-user@example.com", "Gone user title",
        "kept-user@example.com", "Kept user title"}) {
    CAPTURE(secret);
    CHECK_FALSE(some_file_holds(jetstream, secret));
  }

  for (const auto& user : {dead_user, gone})
    n.ok("user.delete", R"({"confirm": ")" + user + "\"}", user);
  // Once the deletes have replied, only the kept user's message is left.
  CHECK(n.node().notifications_pending() == 1);
  CHECK(n.node().dead_letters() == 0);
  auto gateway = n.deliver();
  REQUIRE(n.wait_nudge(kept, sent));
  std::this_thread::sleep_for(500ms);  // time for anything else to arrive
  std::ifstream in(n.outbox);
  std::string outbox((std::istreambuf_iterator<char>(in)), {});
  CHECK(outbox.find(kept) != std::string::npos);
  CHECK(outbox.find(gone) == std::string::npos);
  CHECK(outbox.find(dead_user) == std::string::npos);
  CHECK(n.outbox_lines() == 1);
}

TEST_CASE("a message in a gateway's hands when its user is deleted is never sent") {
  Node n({"--notify-ack-wait-ms", "10000"});
  // The gateway holds each message 2 s between fetching and sending.
  auto gateway = n.deliver({"--hold-ms", "2000"});
  auto user = n.user_with_due_task("", "held@example.com", "Held title");
  REQUIRE(n.wait_nudge(user, [](const v1::NudgeRecord& r) { return r.has_notification(); }));
  std::this_thread::sleep_for(500ms);  // fetched by now, and held
  n.ok("user.delete", R"({"confirm": ")" + user + "\"}", user);
  REQUIRE(gateway.wait_for_log("not sent", 10s));
  CHECK(n.outbox_lines() == 0);
  std::this_thread::sleep_for(300ms);  // the termination reaches the server
  CHECK(n.node().notifications_pending() == 0);
  CHECK(gateway.log().find("held@example.com") == std::string::npos);
}

TEST_CASE("a gateway that fails first is redelivered to, and the notification is sent once") {
  Node n({"--notify-max-deliver", "5", "--notify-ack-wait-ms", "300"});
  auto gateway = n.deliver({"--fail-first", "2"});
  auto user = n.user_with_due_task();
  auto done = n.wait_nudge(user, sent);
  REQUIRE(done);
  CHECK(done->notification().attempts() == 3);
  CHECK(n.outbox_lines() == 1);
  CHECK(n.node().dead_letters() == 0);
}

TEST_CASE("coach-deliver takes its token from an owner-only file and writes an owner-only outbox") {
  test::LlmStub llm;
  Node n({"--llm-url", llm.url()});
  // A token file others may read is refused, and nothing is delivered.
  auto open_file = n.token_file(0644);
  auto refused = test::run_tool(COACH_DELIVER,
                                {"--channel", "push", "--nats-url", n.nats.url(), "--plaintext",
                                 "--nats-creds", n.nats.creds(actors::BusRole::deliver, "push"),
                                 "--token-file", open_file, "--out", n.outbox},
                                n.dir.str() + "/refused");
  CHECK(refused.exit_code == 2);
  CHECK(refused.err.find("readable by others") != std::string::npos);
  // A hold out of range is refused before anything is fetched.
  auto bad_hold =
      test::run_tool(COACH_DELIVER,
                     {"--channel", "push", "--nats-url", n.nats.url(), "--plaintext",
                      "--nats-creds", n.nats.creds(actors::BusRole::deliver, "push"),
                      "--token-file", n.token_file(), "--out", n.outbox, "--hold-ms", "-5"},
                     n.dir.str() + "/bad-hold");
  CHECK(bad_hold.exit_code != 0);
  CHECK(bad_hold.err.find("--hold-ms") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(n.outbox));
  auto gateway = n.deliver();
  auto user = n.user_with_due_task();
  REQUIRE(n.wait_nudge(user, sent));
  struct stat st {};
  REQUIRE(::stat(n.outbox.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
}
