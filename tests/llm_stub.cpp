#include "llm_stub.h"

#include <httplib.h>

namespace coach::test {
namespace {

std::string answer(const std::string& text) {
  std::string escaped;
  for (char c : text) {
    if (c == '"' || c == '\\') escaped.push_back('\\');
    escaped.push_back(c);
  }
  return R"({"id":"stub-1","object":"chat.completion","model":"stub","choices":[{"index":0,)"
         R"("message":{"role":"assistant","content":")" +
         escaped +
         R"("},"finish_reason":"stop"}],"usage":{"prompt_tokens":90,"completion_tokens":30,)"
         R"("total_tokens":120}})";
}

void sleep_unless(const std::atomic<bool>& stopping, std::chrono::milliseconds total) {
  auto end = std::chrono::steady_clock::now() + total;
  while (!stopping && std::chrono::steady_clock::now() < end)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

}  // namespace

bool parse_llm_mode(const std::string& name, LlmMode* mode) {
  if (name == "normal")
    *mode = LlmMode::normal;
  else if (name == "slow")
    *mode = LlmMode::slow;
  else if (name == "500")
    *mode = LlmMode::error500;
  else if (name == "garbage")
    *mode = LlmMode::garbage;
  else if (name == "offensive")
    *mode = LlmMode::offensive;
  else
    return false;
  return true;
}

LlmStub::LlmStub(LlmMode mode, std::chrono::milliseconds delay, int port)
    : server_(std::make_unique<httplib::Server>()), mode_(mode), delay_(delay.count()) {
  server_->new_task_queue = [] { return new httplib::ThreadPool(16); };
  server_->Post(
      "/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
        ++requests_;
        bool well_formed = req.body.find("\"messages\"") != std::string::npos &&
                           req.body.find("\"max_tokens\"") != std::string::npos;
        switch (mode_.load()) {
          case LlmMode::slow:
            sleep_unless(stopping_, std::chrono::seconds(30));
            res.set_content(answer("Too late to matter."), "application/json");
            return;
          case LlmMode::error500:
            res.status = 500;
            res.set_content(R"({"error":"model crashed"})", "application/json");
            return;
          case LlmMode::garbage:
            res.set_content("{\"choices\": [ this is not json", "application/json");
            return;
          case LlmMode::offensive:
            res.set_content(answer("Get up, you lazy idiot."), "application/json");
            return;
          case LlmMode::normal:
            break;
        }
        sleep_unless(stopping_, std::chrono::milliseconds(delay_.load()));
        if (!well_formed) {
          res.status = 400;
          return;
        }
        res.set_content(answer("Stub coach says: one small step on it now, you can do this."),
                        "application/json");
      });
  server_->Put(R"(/mode/(\w+))", [this](const httplib::Request& req, httplib::Response& res) {
    LlmMode wanted;
    if (!parse_llm_mode(req.matches[1], &wanted)) {
      res.status = 400;
      return;
    }
    mode_ = wanted;
    res.set_content("ok", "text/plain");
  });
  port_ = port ? (server_->bind_to_port("127.0.0.1", port) ? port : -1)
               : server_->bind_to_any_port("127.0.0.1");
  if (port_ <= 0) throw std::runtime_error("llm stub: cannot bind a loopback port");
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  while (!server_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

LlmStub::~LlmStub() {
  stopping_ = true;
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace coach::test
