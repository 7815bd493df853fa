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
#include "tests/processes.h"
#include "tests/support.h"
#include "wire/api_codec.h"
#include "wire/auth.h"

using namespace coach;
using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;
using google::protobuf::Value;

namespace {

constexpr const char* kChromium = "/usr/bin/chromium";
constexpr const char* kChromedriver = "/usr/bin/chromedriver";

Value parse_json(const std::string& text) {
  Value v;
  auto status = google::protobuf::util::JsonStringToMessage(text, &v);
  REQUIRE_MESSAGE(status.ok(), text);
  return v;
}

std::string quote(const std::string& s) {
  Value v;
  v.set_string_value(s);
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(v, &out);
  return out;
}

// A browser session through chromedriver's W3C WebDriver API.
class Browser {
 public:
  Browser(const std::string& dir)
      : port_(test::free_port()),
        driver_(kChromedriver, {"--port=" + std::to_string(port_)}, dir + "/chromedriver.log"),
        http_("127.0.0.1", port_) {
    REQUIRE_MESSAGE(driver_.wait_for_log("started successfully", 20s),
                    "chromedriver did not start: " << driver_.log());
    http_.set_read_timeout(60);
    // The flags this machine needs: no sandbox as root, no GPU, and nothing
    // that reaches out to the network (there is none but loopback).
    std::string args;
    for (const std::string& flag : std::vector<std::string>{
             "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic",
             "--window-size=1400,1200", "--user-data-dir=" + dir + "/chromium-profile"})
      args += (args.empty() ? "" : ",") + quote(flag);
    auto session = call("POST", "/session",
                        R"({"capabilities": {"alwaysMatch": {"browserName": "chrome",
                           "goog:chromeOptions": {"binary": ")" +
                            std::string(kChromium) + R"(", "args": [)" + args + "]}}}}");
    session_ = session.struct_value().fields().at("sessionId").string_value();
    REQUIRE_FALSE(session_.empty());
  }
  ~Browser() {
    if (!session_.empty()) http_.Delete(("/session/" + session_).c_str());
  }

  void open(const std::string& url) { call("POST", path("/url"), "{\"url\": " + quote(url) + "}"); }

  // Runs `script` in the page; its return value.
  Value run(const std::string& script, const std::string& arg = "") {
    return call("POST", path("/execute/sync"),
                "{\"script\": " + quote(script) + ", \"args\": [" + quote(arg) + "]}");
  }
  std::string text(const std::string& id) {
    auto v =
        run("var e = document.getElementById(arguments[0]); return e ? e.textContent : null;", id);
    return v.has_string_value() ? v.string_value() : "<no #" + id + ">";
  }
  // Waits until #id's text satisfies `done`; its last text.
  std::string wait_text(const std::string& id, const std::function<bool(const std::string&)>& done,
                        std::chrono::seconds timeout = 15s) {
    auto until = Steady::now() + timeout;
    std::string last;
    while (Steady::now() < until) {
      last = text(id);
      if (done(last)) return last;
      std::this_thread::sleep_for(200ms);
    }
    return last;
  }
  std::string screenshot_png() {
    auto b64 = call("GET", path("/screenshot"), "").string_value();
    std::string png(b64.size(), '\0');
    size_t len = 0;
    REQUIRE(sodium_base642bin(reinterpret_cast<unsigned char*>(png.data()), png.size(), b64.data(),
                              b64.size(), nullptr, &len, nullptr,
                              sodium_base64_VARIANT_ORIGINAL) == 0);
    png.resize(len);
    return png;
  }

 private:
  std::string path(const std::string& rest) const { return "/session/" + session_ + rest; }
  // One WebDriver call; its "value", failing the test on a WebDriver error.
  Value call(const std::string& method, const std::string& where, const std::string& body) {
    auto res = method == "GET" ? http_.Get(where.c_str())
                               : http_.Post(where.c_str(), body, "application/json");
    REQUIRE_MESSAGE(res, "no answer from chromedriver for " << where);
    auto json = parse_json(res->body);
    const auto& value = json.struct_value().fields().at("value");
    REQUIRE_MESSAGE(res->status == 200, where << ": " << res->body.substr(0, 600));
    return value;
  }

  int port_;
  test::Process driver_;
  httplib::Client http_;
  std::string session_;
};

uint64_t number_in(const std::string& text) {
  std::string digits;
  for (char c : text)
    if (std::isdigit(static_cast<unsigned char>(c))) digits += c;
  return digits.empty() ? 0 : std::stoull(digits);
}

}  // namespace

TEST_CASE("the dashboard shows live figures that change as commands arrive") {
  REQUIRE_MESSAGE(std::filesystem::exists(kChromium),
                  "Debian's chromium is missing: scripts/setup.sh installs it");
  REQUIRE_MESSAGE(std::filesystem::exists(kChromedriver),
                  "Debian's chromium-driver is missing: scripts/setup.sh installs it");
  REQUIRE(sodium_init() >= 0);
  test::TempDir dir;
  test::NatsServer nats(dir.str());
  test::Coachd coachd(dir.str() + "/data", nats.url());
  auto signer = actors::TokenSigner::load(dir.str() + "/token.key", false);
  REQUIRE(signer);
  auto admin = signer->issue(Uuid::random(), v1::ROLE_ADMIN, std::chrono::hours(1));
  test::Client client(nats.url(), dir.str() + "/token.key");
  Browser browser(dir.str());

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

    auto png = browser.screenshot_png();
    REQUIRE(png.size() > 10000);
    CHECK(png.substr(1, 3) == "PNG");
    std::filesystem::create_directories(COACH_ARTIFACTS_DIR);
    std::ofstream(std::string(COACH_ARTIFACTS_DIR) + "/dashboard.png", std::ios::binary) << png;
    MESSAGE("screenshot: " << COACH_ARTIFACTS_DIR << "/dashboard.png");
  }
}
