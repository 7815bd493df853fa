// coach through coach-gateway (gRPC) beside coach straight over NATS, in
// one run (issue 19; docs/performance.md, "gRPC"): the same CRUD cycle
// (create, get, edit, complete; protobuf bodies both ways), p50/p99 and
// throughput at 1 and 64 clients, and the ratios. coachd and coach-gateway
// run as processes on a nats-server on a free loopback port; the gRPC
// clients share one channel (HTTP/2 streams), as a service's client would.
// Then live notifications: 200 nudges made over NATS (nudge.now) while a
// gRPC WatchNotifications stream and a Server-Sent Events stream of the
// same user are open; from each nudge's created_at (stamped when coachd
// decides it, before it is stored) to its arrival on each stream, beside
// the same span to the nudge.now reply as the raw baseline.
//
//   build/bench/grpc_bench [--seconds S]
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <google/protobuf/util/json_util.h>
#include <httplib.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <map>
#include <memory>
#include <thread>

#include "apps/coach-gateway/grpc_mapping.h"
#include "base/time.h"
#include "bench/load_generator.h"
#include "schema/coach_service.pb.h"
#include "schema/commands.pb.h"
#include "tests/processes.h"
#include "wire/auth.h"

using namespace coach;
using bench::Figures;
using bench::must;
using bench::Steady;

namespace {

// Each client's next request as (operation, protobuf body), from the reply
// to its last one: create, get, edit, complete, again.
using Next = std::function<std::pair<std::string, std::string>(int, int, std::string_view)>;

Next crud_cycle(int clients) {
  auto ids = std::make_shared<std::vector<std::string>>(clients);
  return [ids](int c, int i, std::string_view last) {
    auto& id = (*ids)[c];
    if (i % 4 == 1) {
      v1::Reply reply;
      id = reply.ParseFromArray(last.data(), static_cast<int>(last.size())) ? reply.task().id()
                                                                            : std::string();
    }
    switch (i % 4) {
      case 0: {
        v1::CreateTask m;
        m.set_title("bench");
        return std::pair{std::string("task.create"), m.SerializeAsString()};
      }
      case 1: {
        v1::GetTask m;
        m.set_task_id(id);
        return std::pair{std::string("task.get"), m.SerializeAsString()};
      }
      case 2: {
        v1::EditTask m;
        m.set_task_id(id);
        m.set_title("bench " + std::to_string(i));
        return std::pair{std::string("task.edit"), m.SerializeAsString()};
      }
      default: {
        v1::CompleteTask m;
        m.set_task_id(id);
        return std::pair{std::string("task.complete"), m.SerializeAsString()};
      }
    }
  };
}

// The closed loop of bench::LoadGenerator, over gRPC: each client has one
// call in flight, the next made in the last one's completion callback.
class GrpcLoad {
 public:
  GrpcLoad(const std::string& address, int clients, std::vector<std::string> tokens, Next next)
      : channel_(grpc::CreateChannel(address, grpc::InsecureChannelCredentials())),
        stub_(channel_),
        tokens_(std::move(tokens)),
        next_(std::move(next)),
        slots_(clients) {}

  Figures run(double seconds) {
    for (auto& slot : slots_) slot = Slot{};
    {
      std::lock_guard lock(mu_);
      finished_ = 0;
    }
    start_ = Steady::now();
    deadline_ = start_ + std::chrono::duration_cast<Steady::duration>(
                             std::chrono::duration<double>(seconds));
    for (int c = 0; c < static_cast<int>(slots_.size()); ++c) send(c, "");
    std::unique_lock lock(mu_);
    done_.wait(lock, [&] { return finished_ == static_cast<int>(slots_.size()); });
    Figures f;
    f.seconds = std::chrono::duration<double>(Steady::now() - start_).count();
    for (auto& slot : slots_)
      f.micros.insert(f.micros.end(), slot.micros.begin(), slot.micros.end());
    return f;
  }
  int errors() const { return errors_; }

 private:
  struct Call {
    grpc::ClientContext context;
    grpc::ByteBuffer request, response;
  };
  struct Slot {
    int i = 0;
    Steady::time_point sent;
    std::vector<double> micros;
  };

  void send(int c, std::string_view last) {
    auto& slot = slots_[c];
    auto [operation, body] = next_(c, slot.i++, last);
    auto call = std::make_shared<Call>();
    call->context.AddMetadata("authorization", tokens_[c]);
    grpc::Slice slice(body);
    call->request = grpc::ByteBuffer(&slice, 1);
    slot.sent = Steady::now();
    stub_.UnaryCall(&call->context,
                    "/" + std::string(apps::kGrpcService) + "/" + apps::grpc_method_name(operation),
                    {}, &call->request, &call->response,
                    [this, c, call](grpc::Status status) { done(c, *call, status); });
  }

  void done(int c, Call& call, const grpc::Status& status) {
    auto& slot = slots_[c];
    auto now = Steady::now();
    slot.micros.push_back(std::chrono::duration<double, std::micro>(now - slot.sent).count());
    if (!status.ok()) ++errors_;
    std::string reply;
    std::vector<grpc::Slice> slices;
    if (status.ok() && call.response.Dump(&slices).ok())
      for (const auto& s : slices) reply.append(reinterpret_cast<const char*>(s.begin()), s.size());
    if (now < deadline_) {
      send(c, reply);
    } else {
      std::lock_guard lock(mu_);
      ++finished_;
      done_.notify_one();
    }
  }

  std::shared_ptr<grpc::Channel> channel_;
  grpc::GenericStub stub_;
  std::vector<std::string> tokens_;
  Next next_;
  std::vector<Slot> slots_;
  Steady::time_point start_, deadline_;
  std::atomic<int> errors_{0};
  std::mutex mu_;
  std::condition_variable done_;
  int finished_ = 0;
};

void ratio(int clients, const Figures& grpc, const Figures& nats) {
  fmt::print("{:<28} {:>2} client{}  p50 {:.2f}x  p99 {:.2f}x  throughput {:.2f}x\n", "gRPC / NATS",
             clients, clients == 1 ? " " : "s", grpc.percentile(0.5) / nats.percentile(0.5),
             grpc.percentile(0.99) / nats.percentile(0.99), grpc.rate() / nats.rate());
}

// When each nudge (by id) arrived, as each stream saw it.
class Arrivals {
 public:
  void seen(const std::string& id) {
    std::lock_guard lock(mu_);
    at_.emplace(id, std::chrono::system_clock::now());
  }
  std::optional<std::chrono::system_clock::time_point> when(const std::string& id) {
    std::lock_guard lock(mu_);
    auto it = at_.find(id);
    if (it == at_.end()) return std::nullopt;
    return it->second;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::chrono::system_clock::time_point> at_;
};

// A WatchNotifications stream read on a thread (the generic stub: no
// generated client code, as for the unary calls).
class GrpcWatch {
 public:
  GrpcWatch(const std::string& address, const std::string& token, Arrivals& arrivals)
      : channel_(grpc::CreateChannel(address, grpc::InsecureChannelCredentials())),
        stub_(channel_) {
    context_.AddMetadata("authorization", token);
    call_ = stub_.PrepareCall(
        &context_, "/" + std::string(apps::kGrpcService) + "/WatchNotifications", &queue_);
    thread_ = std::thread([this, &arrivals] { read(arrivals); });
  }
  ~GrpcWatch() {
    context_.TryCancel();
    thread_.join();
  }

 private:
  bool step(void* tag) {
    void* got = nullptr;
    bool ok = false;
    return queue_.Next(&got, &ok) && ok && got == tag;
  }
  void read(Arrivals& arrivals) {
    int tag = 0;
    call_->StartCall(&tag);
    if (!step(&tag)) return;
    auto body = v1::WatchNotifications().SerializeAsString();
    grpc::Slice slice(body);
    grpc::ByteBuffer request(&slice, 1);
    call_->Write(request, &tag);
    if (!step(&tag)) return;
    call_->WritesDone(&tag);
    if (!step(&tag)) return;
    grpc::ByteBuffer message;
    for (;;) {
      call_->Read(&message, &tag);
      if (!step(&tag)) break;
      std::vector<grpc::Slice> slices;
      std::string bytes;
      if (message.Dump(&slices).ok())
        for (const auto& s : slices)
          bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
      v1::NudgeRecord record;
      if (record.ParseFromString(bytes)) arrivals.seen(record.nudge().id());
    }
    grpc::Status status;
    call_->Finish(&status, &tag);
    step(&tag);
    queue_.Shutdown();
    void* got;
    bool ok;
    while (queue_.Next(&got, &ok)) {
    }
  }

  std::shared_ptr<grpc::Channel> channel_;
  grpc::GenericStub stub_;
  grpc::ClientContext context_;
  grpc::CompletionQueue queue_;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call_;
  std::thread thread_;
};

// The HTTP mapping's event stream read on a thread; the ids it carried.
class EventWatch {
 public:
  EventWatch(const std::string& url, const std::string& token, Arrivals& arrivals)
      : thread_([this, url, token, &arrivals] {
          httplib::Client http(url);
          http.set_read_timeout(120);
          httplib::Request req;
          req.method = "POST";
          req.path = "/" + std::string(apps::kGrpcService) + "/WatchNotifications";
          req.headers = {{"Authorization", token}};
          std::string buffer;
          req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
            buffer.append(data, n);
            for (size_t at; (at = buffer.find("\n\n")) != std::string::npos;) {
              auto event = buffer.substr(0, at);
              buffer.erase(0, at + 2);
              auto payload = event.find("data: ");
              v1::NudgeRecord record;
              if (payload != std::string::npos &&
                  google::protobuf::util::JsonStringToMessage(event.substr(payload + 6), &record)
                      .ok())
                arrivals.seen(record.nudge().id());
            }
            return !stop_;
          };
          httplib::Response res;
          httplib::Error error;
          http.send(req, res, error);
        }) {}
  ~EventWatch() {
    stop_ = true;
    thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Microseconds from created_at to `arrived`.
double since_created(const v1::CoachingNudge& nudge,
                     std::chrono::system_clock::time_point arrived) {
  return std::chrono::duration<double, std::micro>(arrived - from_timestamp(nudge.created_at()))
      .count();
}

void stream_latency(test::NatsServer& nats, const std::string& root, const std::string& address,
                    const std::string& http_url, actors::TokenSigner& signer) {
  auto user = Uuid::random();
  test::Client client(nats.url(), root + "/token.key");
  auto r = client.request("user.register", R"({"timezone": "UTC"})", user.to_string());
  if (!r || r->has_error()) throw bench::BenchFailure("cannot register the streaming user");
  auto token = "Bearer " + signer.issue(user, v1::ROLE_USER, std::chrono::hours(1));
  Arrivals over_grpc, over_events;
  GrpcWatch grpc_watch(address, token, over_grpc);
  EventWatch event_watch(http_url, token, over_events);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // both open
  std::vector<v1::CoachingNudge> nudges;
  Figures reply, grpc_stream, events;
  constexpr int kNudges = 200;
  for (int i = 0; i < kNudges; ++i) {
    auto made = client.request("nudge.now", "{}", user.to_string());
    auto answered = std::chrono::system_clock::now();
    if (!made || made->has_error()) throw bench::BenchFailure("nudge.now failed");
    nudges.push_back(made->nudge());
    reply.micros.push_back(since_created(made->nudge(), answered));
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  auto until = Steady::now() + std::chrono::seconds(10);
  int missing = 0;
  for (const auto& n : nudges) {
    std::optional<std::chrono::system_clock::time_point> g, e;
    while ((!(g = over_grpc.when(n.id())) || !(e = over_events.when(n.id()))) &&
           Steady::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (g) grpc_stream.micros.push_back(since_created(n, *g));
    if (e) events.micros.push_back(since_created(n, *e));
    missing += !g + !e;
  }
  auto line = [](const char* what, const Figures& f) {
    fmt::print("{:<42} p50 {:>8.0f} us  p99 {:>8.0f} us  ({} nudges)\n", what, f.percentile(0.5),
               f.percentile(0.99), f.micros.size());
  };
  fmt::print("live notifications, from a nudge's created_at to its arrival:\n");
  line("  the nudge.now reply (NATS)", reply);
  line("  WatchNotifications (gRPC stream)", grpc_stream);
  line("  WatchNotifications (Server-Sent Events)", events);
  fmt::print("  stream / reply p50: gRPC {:.2f}x, SSE {:.2f}x; missing: {}\n",
             grpc_stream.percentile(0.5) / reply.percentile(0.5),
             events.percentile(0.5) / reply.percentile(0.5), missing);
  if (missing) throw bench::BenchFailure(std::to_string(missing) + " notifications never arrived");
}

int run(int argc, char** argv) {
  CLI::App app{"coach through coach-gateway (gRPC) beside coach over NATS"};
  double seconds = 3;
  std::string root = "build/bench-data/grpc";
  app.add_option("--seconds", seconds, "duration of each latency run")->capture_default_str();
  app.add_option("--dir", root, "scratch directory")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  std::filesystem::remove_all(root);
  std::filesystem::create_directories(root);
  test::NatsServer nats(root);
  test::Coachd coachd(root + "/node", nats.url());
  test::Process gateway(
      COACH_GATEWAY,
      {"--plaintext", "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--nats-url",
       nats.url(), "--nats-creds", nats.creds(actors::BusRole::gateway), "--workers", "64"},
      root + "/gateway.log");
  if (!gateway.wait_for_log("\"msg\":\"ready\"", std::chrono::seconds(20)))
    throw bench::BenchFailure("coach-gateway did not start: " + gateway.log());
  auto address = test::log_value(gateway.log(), "grpc");
  auto http_url = test::log_value(gateway.log(), "http");
  auto signer = must(actors::TokenSigner::load(root + "/token.key", false), "token key");
  fmt::print(
      "grpc benchmark: nats-server {}, coachd and coach-gateway ({}) as processes, {} s "
      "per figure, CRUD cycles with protobuf bodies\n",
      nats.url(), address, seconds);
  int errors = 0;
  for (int clients : {1, 64}) {
    std::vector<std::string> users, tokens;
    test::Client setup(nats.url(), root + "/token.key");
    for (int c = 0; c < clients; ++c) {
      users.push_back(Uuid::random().to_string());
      auto r = setup.request("user.register", R"({"timezone": "UTC"})", users.back());
      if (!r || r->has_error()) throw bench::BenchFailure("cannot register a user");
      tokens.push_back("Bearer " + signer.issue(*Uuid::parse(users.back()), v1::ROLE_USER,
                                                std::chrono::hours(1)));
    }
    auto cycle = crud_cycle(clients);
    bench::LoadGenerator direct(
        nats.url(), clients, users, tokens,
        [cycle](int c, int i, std::string_view last) {
          auto [operation, body] = cycle(c, i, last);
          return std::pair{"coach.v1." + operation, body};
        },
        "application/protobuf");
    direct.run(1.0);  // warm-up
    auto over_nats = direct.run(seconds);
    bench::report("coach over NATS", clients, over_nats);
    GrpcLoad through(address, clients, tokens, crud_cycle(clients));
    through.run(1.0);
    auto over_grpc = through.run(seconds);
    bench::report("coach through gRPC", clients, over_grpc);
    ratio(clients, over_grpc, over_nats);
    errors += direct.errors() + through.errors();
  }
  stream_latency(nats, root, address, http_url, signer);
  fmt::print("errors: {}\n", errors);
  return errors == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  return bench::guarded_main("grpc_bench", run, argc, argv);
}
