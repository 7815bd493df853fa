#include "tests/browser.h"

#include <doctest/doctest.h>
#include <google/protobuf/util/json_util.h>
#include <sodium.h>

#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "tests/support.h"

namespace coach::test {

using google::protobuf::Value;
using Steady = std::chrono::steady_clock;

Value parse_json(const std::string& text) {
  Value v;
  auto status = google::protobuf::util::JsonStringToMessage(text, &v);
  REQUIRE_MESSAGE(status.ok(), text);
  return v;
}

std::string json_string(const std::string& s) {
  Value v;
  v.set_string_value(s);
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(v, &out);
  return out;
}

Browser::Browser(const std::string& dir, int width, int height)
    : port_(free_port()),
      driver_(kChromedriver, {"--port=" + std::to_string(port_)}, dir + "/chromedriver.log"),
      http_("127.0.0.1", port_) {
  REQUIRE_MESSAGE(std::filesystem::exists(kChromium),
                  "Debian's chromium is missing: scripts/setup.sh installs it");
  REQUIRE_MESSAGE(std::filesystem::exists(kChromedriver),
                  "Debian's chromium-driver is missing: scripts/setup.sh installs it");
  REQUIRE(sodium_init() >= 0);
  REQUIRE_MESSAGE(driver_.wait_for_log("started successfully", std::chrono::seconds(20)),
                  "chromedriver did not start: " << driver_.log());
  http_.set_read_timeout(60);
  // The flags this machine needs: no sandbox as root, no GPU, and nothing
  // that reaches out to the network (there is none but loopback).
  std::string args;
  for (const std::string& flag : std::vector<std::string>{
           "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic",
           "--window-size=" + std::to_string(width) + "," + std::to_string(height),
           "--user-data-dir=" + dir + "/chromium-profile"})
    args += (args.empty() ? "" : ",") + json_string(flag);
  auto session = call("POST", "/session",
                      R"({"capabilities": {"alwaysMatch": {"browserName": "chrome",
                           "goog:chromeOptions": {"binary": ")" +
                          std::string(kChromium) + R"(", "args": [)" + args + "]}}}}");
  session_ = session.struct_value().fields().at("sessionId").string_value();
  REQUIRE_FALSE(session_.empty());
}

Browser::~Browser() {
  if (!session_.empty()) http_.Delete(("/session/" + session_).c_str());
}

void Browser::open(const std::string& url) {
  call("POST", path("/url"), "{\"url\": " + json_string(url) + "}");
}

Value Browser::run(const std::string& script, const std::string& arg) {
  return call("POST", path("/execute/sync"),
              "{\"script\": " + json_string(script) + ", \"args\": [" + json_string(arg) + "]}");
}

std::string Browser::text(const std::string& id) {
  auto v =
      run("var e = document.getElementById(arguments[0]); return e ? e.textContent : null;", id);
  return v.has_string_value() ? v.string_value() : "<no #" + id + ">";
}

std::string Browser::wait_text(const std::string& id,
                               const std::function<bool(const std::string&)>& done,
                               std::chrono::seconds timeout) {
  auto until = Steady::now() + timeout;
  std::string last;
  while (Steady::now() < until) {
    last = text(id);
    if (done(last)) return last;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return last;
}

bool Browser::wait_until(const std::string& script, const std::string& arg,
                         std::chrono::seconds timeout) {
  auto until = Steady::now() + timeout;
  while (Steady::now() < until) {
    auto v = run(script, arg);
    if (v.has_bool_value() && v.bool_value()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return false;
}

std::string Browser::element(const std::string& selector) {
  auto found = call("POST", path("/element"),
                    R"({"using": "css selector", "value": )" + json_string(selector) + "}");
  // The W3C element reference key.
  const auto& fields = found.struct_value().fields();
  auto it = fields.find("element-6066-11e4-a52e-4f735466cecf");
  REQUIRE_MESSAGE(it != fields.end(), "no element " << selector);
  return it->second.string_value();
}

void Browser::on_element(const std::string& selector,
                         const std::vector<std::pair<std::string, std::string>>& steps) {
  // A page that re-renders between finding an element and acting on it
  // leaves a stale reference: find it again, as a person's eye would.
  for (int attempt = 1;; ++attempt) {
    auto id = element(selector);
    bool stale = false;
    for (const auto& [action, body] : steps) {
      auto where = path("/element/" + id + "/" + action);
      auto res = http_.Post(where.c_str(), body, "application/json");
      REQUIRE_MESSAGE(res, "no answer from chromedriver for " << where);
      if (res->status == 200) continue;
      stale = res->body.find("stale element reference") != std::string::npos;
      REQUIRE_MESSAGE((stale && attempt < 5), where << ": " << res->body.substr(0, 600));
      break;
    }
    if (!stale) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

void Browser::click(const std::string& selector) {
  on_element(selector, {{"click", "{}"}});
}

void Browser::type(const std::string& selector, const std::string& keys) {
  on_element(selector, {{"clear", "{}"}, {"value", "{\"text\": " + json_string(keys) + "}"}});
}

void Browser::resize(int width, int height) {
  call("POST", path("/window/rect"),
       "{\"width\": " + std::to_string(width) + ", \"height\": " + std::to_string(height) + "}");
}

std::string Browser::screenshot_png() {
  auto b64 = call("GET", path("/screenshot"), "").string_value();
  std::string png(b64.size(), '\0');
  size_t len = 0;
  REQUIRE(sodium_base642bin(reinterpret_cast<unsigned char*>(png.data()), png.size(), b64.data(),
                            b64.size(), nullptr, &len, nullptr,
                            sodium_base64_VARIANT_ORIGINAL) == 0);
  png.resize(len);
  return png;
}

std::string Browser::save_screenshot(const std::string& artifacts, const std::string& name) {
  auto png = screenshot_png();
  REQUIRE(png.size() > 10000);
  CHECK(png.substr(1, 3) == "PNG");
  std::filesystem::create_directories(artifacts);
  auto file = artifacts + "/" + name + ".png";
  std::ofstream(file, std::ios::binary) << png;
  return file;
}

// One WebDriver call; its "value", failing the test on a WebDriver error.
Value Browser::call(const std::string& method, const std::string& where, const std::string& body) {
  auto res = method == "GET" ? http_.Get(where.c_str())
                             : http_.Post(where.c_str(), body, "application/json");
  REQUIRE_MESSAGE(res, "no answer from chromedriver for " << where);
  auto json = parse_json(res->body);
  const auto& value = json.struct_value().fields().at("value");
  REQUIRE_MESSAGE(res->status == 200, where << ": " << res->body.substr(0, 600));
  return value;
}

}  // namespace coach::test
