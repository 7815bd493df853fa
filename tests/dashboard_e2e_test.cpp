// The ops dashboard end to end: coachd and nats-server as processes, the page
// opened in Debian's headless Chromium driven through chromedriver (W3C
// WebDriver over loopback). Commands sent over NATS must show on the page;
// a screenshot is kept in build/test-artifacts/.
#include <doctest/doctest.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <httplib.h>
#include <sodium.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include "schema/internal.pb.h"
#include "tests/browser.h"
#include "tests/processes.h"
#include "tests/support.h"
#include "wire/api_codec.h"
#include "wire/auth.h"

using namespace coach;
using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;
using google::protobuf::Value;

namespace {

uint64_t number_in(const std::string& text) {
  std::string digits;
  for (char c : text)
    if (std::isdigit(static_cast<unsigned char>(c))) digits += c;
  return digits.empty() ? 0 : std::stoull(digits);
}

}  // namespace

TEST_CASE("the dashboard shows live figures that change as commands arrive") {
  test::TempDir dir;
  test::NatsServer nats(dir.str());
  test::Coachd coachd(dir.str() + "/data", nats.url());
  auto signer = actors::TokenSigner::load(dir.str() + "/token.key", false);
  REQUIRE(signer);
  auto admin = signer->issue(Uuid::random(), v1::ROLE_ADMIN, std::chrono::hours(1));
  test::Client client(nats.url(), dir.str() + "/token.key");
  test::Browser browser(dir.str());

  SUBCASE("a user token is refused with its reason, on the sign-in form") {
    auto user = signer->issue(Uuid::random(), v1::ROLE_USER, std::chrono::hours(1));
    browser.open(coachd.ops_url() + "/#token=" + user);
    auto error = browser.wait_text("login-error", [](const std::string& t) { return !t.empty(); });
    CHECK(error.find("permission_denied") != std::string::npos);
    CHECK(browser.run("return document.getElementById('panels').hidden;").bool_value());
  }

  SUBCASE("figures follow commands; the token leaves the address bar") {
    browser.open(coachd.ops_url() + "/#token=" + admin);
    auto state = browser.wait_text("node-state", [](const std::string& t) { return t == "ready"; });
    REQUIRE(state == "ready");
    CHECK(browser.run("return location.href;").string_value().find("token") == std::string::npos);
    CHECK(browser.text("resident-actors") == "0");
    auto commands_before = number_in(browser.text("commands-total"));

    std::vector<std::string> users;
    for (int i = 0; i < 3; ++i) {
      users.push_back(new_uuid_string());
      auto r = client.request("user.register", R"({"email": "d@example.com"})", users.back());
      REQUIRE(r);
      REQUIRE(!r->has_error());
      for (int t = 0; t < 4; ++t) {
        auto c = client.request("task.create", R"({"title": "t"})", users.back());
        REQUIRE(c);
        REQUIRE(!c->has_error());
      }
    }
    auto stop = client.raw("coach.v1.admin.actor.stop", R"({"user_id": ")" + users[0] + "\"}",
                           {{"Authorization", "Bearer " + admin}});
    REQUIRE(stop);
    REQUIRE(!stop->has_error());
    auto batch = client.raw("coach.v1.admin.batch.run", R"({"full": true})",
                            {{"Authorization", "Bearer " + admin}});
    REQUIRE(batch);
    REQUIRE(!batch->has_error());

    CHECK(browser.wait_text("resident-actors", [](auto& t) { return t == "3"; }) == "3");
    CHECK(browser.wait_text("users-known", [](auto& t) { return t == "3"; }) == "3");
    auto commands = browser.wait_text("commands-total", [&](auto& t) {
      return number_in(t) >= commands_before + 17;  // 3 registrations, 12 creates, stop, batch
    });
    CHECK(number_in(commands) >= commands_before + 17);
    CHECK(browser.wait_text("events-appended", [](auto& t) { return number_in(t) >= 15; }) != "0");
    CHECK(browser.wait_text("actor-restarts", [](auto& t) { return t == "1"; }) == "1");
    CHECK(browser
              .wait_text("restart-reasons",
                         [](auto& t) { return t.find("exit_reason(kill)") != std::string::npos; })
              .find("exit_reason(kill)") != std::string::npos);
    CHECK(browser.wait_text("batch-runs", [](auto& t) { return t == "1"; }) == "1");
    auto table = browser.wait_text(
        "commands", [](auto& t) { return t.find("task.create") != std::string::npos; });
    CHECK(table.find("task.create") != std::string::npos);
    CHECK(table.find("user.register") != std::string::npos);
    CHECK(browser.text("group-commits") != "0");
    CHECK(browser.text("notifications-pending") == "0");
    CHECK(browser.text("llm-breaker") == "no LLM");
    CHECK(browser.text("cluster-mode") == "single node");
    CHECK(browser.text("cluster-held") == "–");

    MESSAGE("screenshot: " << browser.save_screenshot(COACH_ARTIFACTS_DIR, "dashboard"));
  }
}
