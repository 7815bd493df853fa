// Debian's headless Chromium driven through chromedriver's W3C WebDriver
// API over loopback, for the tests of coach's pages (the ops dashboard,
// the web client). Failures are doctest REQUIREs.
#pragma once

#include <google/protobuf/struct.pb.h>
#include <httplib.h>

#include <chrono>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "tests/processes.h"

namespace coach::test {

inline constexpr const char* kChromium = "/usr/bin/chromium";
inline constexpr const char* kChromedriver = "/usr/bin/chromedriver";

// A JSON text parsed (REQUIRE on failure), and a string as a JSON string.
google::protobuf::Value parse_json(const std::string& text);
std::string json_string(const std::string& s);

class Browser {
 public:
  // Starts chromedriver (its log and Chromium's profile in `dir`) and a
  // session in a window of `width` x `height`. REQUIREs that both are
  // installed (scripts/setup.sh installs them).
  explicit Browser(const std::string& dir, int width = 1400, int height = 1200);
  ~Browser();  // ends the session

  void open(const std::string& url);
  // Runs `script` in the page with arguments[0] = `arg`; its return value.
  google::protobuf::Value run(const std::string& script, const std::string& arg = "");
  // #id's text, or "<no #id>".
  std::string text(const std::string& id);
  // Waits until #id's text satisfies `done`; its last text.
  std::string wait_text(const std::string& id, const std::function<bool(const std::string&)>& done,
                        std::chrono::seconds timeout = std::chrono::seconds(15));
  // Waits until `script` returns true; whether it did.
  bool wait_until(const std::string& script, const std::string& arg = "",
                  std::chrono::seconds timeout = std::chrono::seconds(15));
  // Clicks the element `selector` (CSS) finds, as a user would (WebDriver's
  // element click: scrolled into view, refused when covered).
  void click(const std::string& selector);
  // Types `keys` into the element `selector` finds, after clearing it.
  void type(const std::string& selector, const std::string& keys);
  void resize(int width, int height);
  std::string screenshot_png();
  // Saves a screenshot as <artifacts>/<name>.png; its path.
  std::string save_screenshot(const std::string& artifacts, const std::string& name);

 private:
  std::string path(const std::string& rest) const { return "/session/" + session_ + rest; }
  std::string element(const std::string& selector);
  // Finds `selector` and runs each (action, body) on it; found again when
  // the page replaced it meanwhile (a stale reference), a few times.
  void on_element(const std::string& selector,
                  const std::vector<std::pair<std::string, std::string>>& steps);
  google::protobuf::Value call(const std::string& method, const std::string& where,
                               const std::string& body);

  int port_;
  Process driver_;
  httplib::Client http_;
  std::string session_;
};

}  // namespace coach::test
