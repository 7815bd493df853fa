// LlmStub: a real HTTP server on a free loopback port that answers
// /v1/chat/completions like an OpenAI-compatible LLM, with modes for the
// degraded-mode tests: normal, slower than any timeout, HTTP 500, garbage
// JSON, offensive text. The mode can be changed while it runs, also over
// HTTP (PUT /mode/<name>), for tests that drive coachd as a process.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

namespace httplib {
class Server;
}

namespace coach::test {

enum class LlmMode { normal, slow, error500, garbage, offensive };
bool parse_llm_mode(const std::string& name, LlmMode* mode);

class LlmStub {
 public:
  // `delay`: how long a normal answer takes; `slow` mode waits `slow` (or
  // until the stub stops).
  explicit LlmStub(LlmMode mode = LlmMode::normal,
                   std::chrono::milliseconds delay = std::chrono::milliseconds(0), int port = 0);
  ~LlmStub();
  LlmStub(const LlmStub&) = delete;
  LlmStub& operator=(const LlmStub&) = delete;

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  void set_mode(LlmMode mode) { mode_ = mode; }
  void set_delay(std::chrono::milliseconds delay) { delay_ = delay.count(); }
  int requests() const { return requests_; }
  // Blocks until stopped (for the stub as a process).
  void wait() { thread_.join(); }

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<LlmMode> mode_;
  std::atomic<long> delay_;
  std::atomic<int> requests_{0};
  std::atomic<bool> stopping_{false};
};

}  // namespace coach::test
