// coach-gateway as outsiders meet it (issue 19): coachd and coach-gateway as
// processes on a nats-server on a free loopback port, driven by Python's
// grpcio (tests/grpc_client_test.py): health, reflection, the task life
// cycle, auth failures, bad input, an unknown task; with coachd stopped,
// a deadline and a full gateway (busy). And the
// service definition checked against the operation table.
#include <doctest/doctest.h>
#include <signal.h>

#include <algorithm>
#include <thread>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>
#include <httplib.h>
#include <nats/nats.h>

#include "apps/coach-gateway/grpc_mapping.h"
#include "schema/coach_service.pb.h"
#include "tests/processes.h"
#include "tests/support.h"
#include "wire/auth.h"
#include "wire/nats_connect.h"
#include "wire/notify_subjects.h"
#include "wire/operations.h"

using namespace coach;
using namespace coach::test;

TEST_CASE("coach_service.proto declares every operation, in order, with its own message") {
  const auto* service = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
      std::string(apps::kGrpcService));
  REQUIRE(service != nullptr);
  const auto& table = actors::operation_table();
  // Every operation, then the gateway's own stream.
  REQUIRE(service->method_count() == static_cast<int>(table.size()) + 1);
  const auto* watch = service->method(static_cast<int>(table.size()));
  CHECK(watch->name() == "WatchNotifications");
  CHECK(watch->server_streaming());
  CHECK_FALSE(watch->client_streaming());
  CHECK(watch->output_type() == v1::NudgeRecord::descriptor());
  for (const auto& op : table) {
    const auto* method = service->method(static_cast<int>(op.index));
    CAPTURE(op.name);
    CHECK(method->name() == apps::grpc_method_name(op.name));
    CHECK(method->input_type() == op.fields.back()->message_type());
    CHECK(method->output_type() == v1::Reply::descriptor());
  }
}

TEST_CASE("coach's error codes map to gRPC status codes by the documented table") {
  CHECK(apps::grpc_method_name("task.create") == "TaskCreate");
  CHECK(apps::grpc_method_name("admin.notification.report") == "AdminNotificationReport");
  CHECK(apps::grpc_code_for("invalid_argument") == 3);
  CHECK(apps::grpc_code_for("not_found") == 5);
  CHECK(apps::grpc_code_for("conflict") == 10);
  CHECK(apps::grpc_code_for("wrong_expected_version") == 10);
  CHECK(apps::grpc_code_for("busy") == 8);
  CHECK(apps::grpc_code_for("unauthenticated") == 16);
  CHECK(apps::grpc_code_for("permission_denied") == 7);
  CHECK(apps::grpc_code_for("unavailable") == 14);
  CHECK(apps::grpc_code_for("corrupted") == 15);
  CHECK(apps::grpc_code_for("something new") == 13);
  CHECK(apps::grpc_code_for("resource_exhausted") == 8);
  CHECK(apps::grpc_code_for("timeout") == 4);
  CHECK(apps::http_status_for("timeout") == 504);
  CHECK(apps::http_status_for("resource_exhausted") == 429);
}

namespace {

// Publishes made-up nudges of 4 KiB on a user's live feed with coachd's
// identity, 500 a second, until destroyed.
class LiveFlood {
 public:
  LiveFlood(NatsServer& nats, const Uuid& user) {
    actors::NatsConfig config;
    config.url = nats.url();
    config.plaintext = true;
    config.creds_file = nats.creds(actors::BusRole::coachd);
    auto connected = actors::connect_nats(config);
    REQUIRE_MESSAGE(connected, error_of(connected));
    connection_ = *connected;
    thread_ = std::thread([this, subject = actors::live_subject(user.to_string())] {
      v1::NudgeRecord record;
      record.mutable_nudge()->set_generated_text(std::string(4096, 'x'));
      for (uint64_t position = 1000000; !stop_; ++position) {
        record.set_position(position);
        auto bytes = record.SerializeAsString();
        natsConnection_Publish(connection_, subject.c_str(), bytes.data(),
                               static_cast<int>(bytes.size()));
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
    });
  }
  ~LiveFlood() {
    stop_ = true;
    thread_.join();
    natsConnection_Destroy(connection_);
  }

 private:
  natsConnection* connection_ = nullptr;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace

TEST_CASE("a gRPC client of another implementation runs the task life cycle and its errors") {
  TempDir dir;
  NatsServer nats(dir.str());
  Coachd coachd(dir.str() + "/node", nats.url());
  Process gateway(COACH_GATEWAY,
                  {"--plaintext", "--listen", "127.0.0.1:0", "--nats-url", nats.url(),
                   "--nats-creds", nats.creds(actors::BusRole::gateway), "--workers", "1",
                   "--queue", "1", "--watch-buffer", "16"},
                  dir.str() + "/gateway.log");
  REQUIRE_MESSAGE(gateway.wait_for_log("\"msg\":\"ready\"", std::chrono::seconds(20)),
                  gateway.log());
  auto log = gateway.log();
  auto at = log.find("\"grpc\":\"") + 8;
  auto address = log.substr(at, log.find('"', at) - at);
  auto signer = actors::TokenSigner::load(dir.str() + "/token.key", false);
  REQUIRE(signer);
  auto me = Uuid::random();
  auto token = signer->issue(me, v1::ROLE_USER, std::chrono::hours(1));
  auto other = signer->issue(Uuid::random(), v1::ROLE_USER, std::chrono::hours(1));
  auto run = run_tool("/usr/bin/python3",
                      {COACH_SOURCE_DIR "/tests/grpc_client_test.py", "--address", address,
                       "--py-dir", COACH_PY_DIR, "--token", token, "--other-token", other},
                      dir.str() + "/python", std::chrono::seconds(60));
  CHECK_MESSAGE(run.exit_code == 0, run.out << run.err << "\n" << gateway.log());
  MESSAGE(run.out);
  // coachd stopped: a deadline ends a call, a full gateway says busy.
  coachd.process().signal(SIGSTOP);
  auto stalled =
      run_tool("/usr/bin/python3",
               {COACH_SOURCE_DIR "/tests/grpc_client_test.py", "--address", address, "--py-dir",
                COACH_PY_DIR, "--token", token, "--other-token", other, "--phase", "stalled"},
               dir.str() + "/python-stalled", std::chrono::seconds(60));
  coachd.process().signal(SIGCONT);
  CHECK_MESSAGE(stalled.exit_code == 0, stalled.out << stalled.err << "\n" << gateway.log());
  // A client that stops reading its stream while the feed floods is cut
  // (the flood comes from here, as coachd would send it).
  {
    LiveFlood flood(nats, me);
    auto slow =
        run_tool("/usr/bin/python3",
                 {COACH_SOURCE_DIR "/tests/grpc_client_test.py", "--address", address, "--py-dir",
                  COACH_PY_DIR, "--token", token, "--other-token", other, "--phase", "slow"},
                 dir.str() + "/python-slow", std::chrono::seconds(60));
    CHECK_MESSAGE(slow.exit_code == 0, slow.out << slow.err << "\n" << gateway.log());
  }
  gateway.signal(SIGTERM);
  CHECK(gateway.wait() == 0);
  CHECK(gateway.log().find("\"msg\":\"stopped\"") != std::string::npos);
}

namespace {

// coachd and coach-gateway with the JSON mapping, and a user token.
struct HttpSetup {
  explicit HttpSetup(const std::vector<std::string>& extra = {})
      : gateway(
            COACH_GATEWAY,
            [&] {
              std::vector<std::string> args = {"--plaintext",
                                               "--listen",
                                               "127.0.0.1:0",
                                               "--http-listen",
                                               "127.0.0.1:0",
                                               "--allow-origin",
                                               "https://app.example",
                                               "--nats-url",
                                               nats.url(),
                                               "--nats-creds",
                                               nats.creds(actors::BusRole::gateway)};
              args.insert(args.end(), extra.begin(), extra.end());
              return args;
            }(),
            dir.str() + "/gateway.log") {}
  TempDir dir;
  NatsServer nats{dir.str()};
  Coachd coachd{dir.str() + "/node", nats.url()};
  Process gateway;
  std::string url() {
    REQUIRE_MESSAGE(gateway.wait_for_log("\"msg\":\"ready\"", std::chrono::seconds(20)),
                    gateway.log());
    auto log = gateway.log();
    auto at = log.find("\"http\":\"") + 8;
    return log.substr(at, log.find('"', at) - at);
  }
  std::string token() {
    auto signer = actors::TokenSigner::load(dir.str() + "/token.key", false);
    REQUIRE(signer);
    return signer->issue(Uuid::random(), v1::ROLE_USER, std::chrono::hours(1));
  }
};

v1::Reply reply_of(const httplib::Result& res) {
  REQUIRE(res);
  v1::Reply reply;
  REQUIRE_MESSAGE(google::protobuf::util::JsonStringToMessage(res->body, &reply).ok(), res->body);
  return reply;
}

}  // namespace

TEST_CASE("browsers: JSON over HTTP with the same tokens, errors, and an origin check") {
  HttpSetup setup;
  const auto own_origin = setup.url();
  httplib::Client http(own_origin);
  http.set_read_timeout(10);
  const std::string bearer = "Bearer " + setup.token();
  const httplib::Headers me = {{"Authorization", bearer}};
  auto post = [&](const std::string& method, const std::string& body,
                  httplib::Headers headers = {}) {
    headers.insert({"Authorization", bearer});
    return http.Post("/coach.v1.CoachService/" + method, headers, body, "application/json");
  };
  auto registered = post("UserRegister", R"({"timezone": "Europe/Berlin"})");
  REQUIRE(registered);
  CHECK_MESSAGE(registered->status == 200, registered->body);
  CHECK(reply_of(registered).has_profile());
  auto created = post("TaskCreate", R"({"title": "Water the plants"})");
  REQUIRE(created);
  CHECK(created->status == 200);
  auto task_id = reply_of(created).task().id();
  CHECK(!task_id.empty());

  // Errors: the status by the table, coach's error as the body.
  auto bad_json = post("TaskCreate", R"({"title": )");
  REQUIRE(bad_json);
  CHECK(bad_json->status == 400);
  CHECK(reply_of(bad_json).error().code() == "invalid_argument");
  auto no_token = http.Post("/coach.v1.CoachService/TaskList", "{}", "application/json");
  REQUIRE(no_token);
  CHECK(no_token->status == 401);
  CHECK(reply_of(no_token).error().code() == "unauthenticated");
  auto unknown = post("TaskGet", R"({"task_id": ")" + Uuid::random().to_string() + R"("})");
  REQUIRE(unknown);
  CHECK(unknown->status == 404);
  auto no_method = post("NoSuchMethod", "{}");
  REQUIRE(no_method);
  CHECK(no_method->status == 404);
  auto as_text = http.Post("/coach.v1.CoachService/TaskList", me, "{}", "text/plain");
  REQUIRE(as_text);
  CHECK(as_text->status == 415);
  auto bad_timeout = post("TaskList", "{}", {{"Connect-Timeout-Ms", "soon"}});
  REQUIRE(bad_timeout);
  CHECK(bad_timeout->status == 400);
  auto huge = post("TaskCreate", R"({"title": ")" + std::string(70 * 1024, 'x') + R"("})");
  REQUIRE(huge);
  CHECK(huge->status == 413);
  auto get = http.Get("/coach.v1.CoachService/TaskList", me);
  REQUIRE(get);
  CHECK(get->status == 405);

  // Browsers: another site's page is refused before coach sees anything;
  // an allowed origin gets its preflight and CORS headers.
  auto evil =
      post("TaskCreate", R"({"title": "from elsewhere"})", {{"Origin", "https://evil.example"}});
  REQUIRE(evil);
  CHECK(evil->status == 403);
  auto same_origin = post("TaskList", "{}", {{"Origin", own_origin}});
  REQUIRE(same_origin);
  CHECK(same_origin->status == 200);  // the gateway's own pages (the web client)
  // A DNS-rebinding page names itself in Origin and Host alike: still another origin.
  auto rebound = post("TaskCreate", R"({"title": "rebound"})",
                      {{"Origin", "http://rebind.example:8443"}, {"Host", "rebind.example:8443"}});
  REQUIRE(rebound);
  CHECK(rebound->status == 403);
  httplib::Headers preflight = {{"Origin", "https://app.example"},
                                {"Access-Control-Request-Method", "POST"}};
  auto options = http.Options("/coach.v1.CoachService/TaskList", preflight);
  REQUIRE(options);
  CHECK(options->status == 204);
  CHECK(options->get_header_value("Access-Control-Allow-Origin") == "https://app.example");
  CHECK(options->get_header_value("Access-Control-Allow-Headers").find("Authorization") !=
        std::string::npos);
  auto evil_preflight =
      http.Options("/coach.v1.CoachService/TaskList", {{"Origin", "https://evil.example"}});
  REQUIRE(evil_preflight);
  CHECK(evil_preflight->status == 403);
  auto allowed = post("TaskList", "{}", {{"Origin", "https://app.example"}});
  REQUIRE(allowed);
  CHECK(allowed->status == 200);
  CHECK(allowed->get_header_value("Access-Control-Allow-Origin") == "https://app.example");
  // None of the refused calls changed anything: the one task.
  auto tasks = reply_of(allowed).task_list().tasks();
  REQUIRE(tasks.size() == 1);
  CHECK(tasks[0].id() == task_id);
}

TEST_CASE("browsers: calls beyond the HTTP bound are answered busy at once") {
  HttpSetup setup({"--http-max-in-flight", "1"});
  auto url = setup.url();
  const std::string bearer = "Bearer " + setup.token();
  setup.coachd.process().signal(SIGSTOP);  // nothing is answered: calls wait
  std::vector<int> statuses(3, 0);
  std::vector<std::string> retry_after(3);
  std::vector<std::thread> callers;
  for (size_t i = 0; i < statuses.size(); ++i)
    callers.emplace_back([&, i] {
      httplib::Client http(url);
      http.set_read_timeout(10);
      auto res = http.Post("/coach.v1.CoachService/TaskList",
                           {{"Authorization", bearer}, {"Connect-Timeout-Ms", "1500"}}, "{}",
                           "application/json");
      if (!res) return;
      statuses[i] = res->status;
      retry_after[i] = res->get_header_value("Retry-After");
    });
  for (auto& c : callers) c.join();
  setup.coachd.process().signal(SIGCONT);
  CAPTURE(statuses[0]);
  CAPTURE(statuses[1]);
  CAPTURE(statuses[2]);
  CHECK(std::count(statuses.begin(), statuses.end(), 504) == 1);  // the one let through waited
  CHECK(std::count(statuses.begin(), statuses.end(), 429) == 2);
  for (size_t i = 0; i < statuses.size(); ++i)
    if (statuses[i] == 429) CHECK(retry_after[i] == "1");
}
