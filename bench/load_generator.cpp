#include "bench/load_generator.h"

#include <nats/nats.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <sstream>
#include <tuple>

#include "tests/processes.h"
#include "wire/nats_connect.h"

namespace coach::bench {

int guarded_main(const char* name, int (*run)(int, char**), int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    fmt::print(stderr, "{}: {}\n", name, e.what());
    return 1;
  }
}

double Figures::percentile(double p) const {
  if (micros.empty()) return 0;
  auto sorted = micros;
  std::sort(sorted.begin(), sorted.end());
  return sorted[std::min(sorted.size() - 1, static_cast<size_t>(p * sorted.size()))];
}

double Figures::rate() const {
  return static_cast<double>(micros.size()) / seconds;
}

void report(const std::string& what, int clients, const Figures& f) {
  fmt::print(
      "{:<28} {:>2} client{}  p50 {:>7.0f} us  p95 {:>7.0f} us  p99 {:>7.0f} us  {:>8.0f} /s\n",
      what, clients, clients == 1 ? " " : "s", f.percentile(0.50), f.percentile(0.95),
      f.percentile(0.99), f.rate());
}

std::pair<natsConnection*, std::string> connect(const std::string& url, actors::BusRole role) {
  actors::NatsConfig config;
  config.url = url;
  config.plaintext = true;  // loopback benchmark
  config.creds_file = test::creds_for(url, role);
  auto nc = must(actors::connect_nats(config), "connect");
  std::ifstream in(config.creds_file);
  std::stringstream creds;
  creds << in.rdbuf();
  return {nc, actors::inbox_prefix_of(must(actors::credentials_public_key(creds.str()), "creds"))};
}

LoadGenerator::LoadGenerator(const std::string& url, int clients, std::vector<std::string> users,
                             std::vector<std::string> tokens, Next next, std::string content_type)
    : clients_(clients),
      users_(std::move(users)),
      tokens_(std::move(tokens)),
      next_(std::move(next)),
      content_type_(std::move(content_type)),
      slots_(clients) {
  std::tie(nc_, inbox_) = connect(url, actors::BusRole::client);
  inbox_ += ".bench";
  natsConnection_Subscribe(&sub_, nc_, (inbox_ + ".*").c_str(), &LoadGenerator::on_reply, this);
  natsSubscription_SetPendingLimits(sub_, -1, -1);
  natsConnection_Flush(nc_);
}

LoadGenerator::~LoadGenerator() {
  natsSubscription_Unsubscribe(sub_);
  natsSubscription_Destroy(sub_);
  natsConnection_Destroy(nc_);
}

Figures LoadGenerator::run(double seconds) {
  {
    std::lock_guard lock(mu_);
    finished_ = 0;
  }
  for (auto& slot : slots_) slot = Slot{};  // each run starts its clients' cycles afresh
  start_ = Steady::now();
  deadline_ =
      start_ + std::chrono::duration_cast<Steady::duration>(std::chrono::duration<double>(seconds));
  for (int c = 0; c < clients_; ++c) send(c, "");
  std::unique_lock lock(mu_);
  done_cv_.wait(lock, [&] { return finished_ == clients_; });
  Figures f;
  f.seconds = std::chrono::duration<double>(Steady::now() - start_).count();
  for (auto& slot : slots_) f.micros.insert(f.micros.end(), slot.micros.begin(), slot.micros.end());
  return f;
}

void LoadGenerator::send(int c, std::string_view last_reply) {
  auto& slot = slots_[c];
  auto [subject, body] = next_(c, slot.i++, last_reply);
  natsMsg* msg = nullptr;
  auto reply = inbox_ + "." + std::to_string(c);
  natsMsg_Create(&msg, subject.c_str(), reply.c_str(), body.data(), static_cast<int>(body.size()));
  natsMsgHeader_Set(msg, "Coach-User", users_[c].c_str());
  natsMsgHeader_Set(msg, "Authorization", tokens_[c].c_str());
  if (!content_type_.empty()) natsMsgHeader_Set(msg, "Content-Type", content_type_.c_str());
  slot.sent = Steady::now();
  natsConnection_PublishMsg(nc_, msg);
  natsMsg_Destroy(msg);
}

void LoadGenerator::on_reply(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  auto* self = static_cast<LoadGenerator*>(closure);
  std::string_view subject = natsMsg_GetSubject(msg);
  int c = std::atoi(subject.substr(subject.rfind('.') + 1).data());
  auto& slot = self->slots_[c];
  auto now = Steady::now();
  std::string_view data(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg)));
  const char* status = nullptr;
  bool failed = natsMsgHeader_Get(msg, "Coach-Status", &status) == NATS_OK && status &&
                std::string_view(status) == "error";
  if (failed && self->errors_++ == 0) {
    std::lock_guard lock(self->mu_);
    self->first_error_ = std::string(data);
  }
  slot.micros.push_back(std::chrono::duration<double, std::micro>(now - slot.sent).count());
  if (now < self->deadline_) {
    self->send(c, data);
  } else {
    std::lock_guard lock(self->mu_);
    ++self->finished_;
    self->done_cv_.notify_one();
  }
  natsMsg_Destroy(msg);
}

LoadGenerator::Next crud_cycle(int clients, bool reads_only) {
  auto task_ids = std::make_shared<std::vector<std::string>>(clients);
  return [task_ids, reads_only](int c, int i, std::string_view last) {
    auto& id = (*task_ids)[c];
    // The reply to create holds the new task's id first.
    auto created_id = [&] {
      auto at = last.find(R"("id":")");
      return at == std::string_view::npos ? std::string() : std::string(last.substr(at + 6, 36));
    };
    if (reads_only && i > 0) {
      if (i == 1) id = created_id();
      return std::pair{std::string("coach.v1.task.get"), R"({"task_id": ")" + id + "\"}"};
    }
    if (i % 4 == 1) id = created_id();
    switch (i % 4) {
      case 0:
        return std::pair{std::string("coach.v1.task.create"), std::string(R"({"title": "bench"})")};
      case 1:
        return std::pair{std::string("coach.v1.task.get"), R"({"task_id": ")" + id + "\"}"};
      case 2:
        return std::pair{
            std::string("coach.v1.task.edit"),
            R"({"task_id": ")" + id + R"(", "title": "bench )" + std::to_string(i) + "\"}"};
      default:
        return std::pair{std::string("coach.v1.task.complete"), R"({"task_id": ")" + id + "\"}"};
    }
  };
}

}  // namespace coach::bench
