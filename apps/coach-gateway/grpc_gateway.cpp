#include "apps/coach-gateway/grpc_gateway.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/impl/codegen/server_callback_handlers.h>
#include <grpcpp/impl/service_type.h>
#include <nats/nats.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "apps/coach-gateway/coach_call.h"
#include "apps/coach-gateway/grpc_mapping.h"
#include "apps/coach-gateway/notification_watch.h"
#include "schema/coach_service.pb.h"
#include "wire/api_codec.h"
#include "wire/operations.h"

namespace coach::apps {
namespace {

using Clock = std::chrono::system_clock;

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string metadata(const grpc::CallbackServerContext* context, const char* key) {
  const auto& all = context->client_metadata();
  auto it = all.find(key);
  return it == all.end() ? std::string() : std::string(it->second.data(), it->second.size());
}

// A message's bytes as they came; nullopt when gRPC cannot hand them out.
std::optional<std::string> bytes_of(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  if (!buffer.Dump(&slices).ok()) return std::nullopt;
  std::string bytes;
  for (const auto& slice : slices)
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  return bytes;
}

// Calls waiting for a worker: bounded, so that a flood is refused at once.
class CallQueue {
 public:
  CallQueue(int workers, size_t bound) : bound_(bound) {
    for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { run(); });
  }
  ~CallQueue() { stop(); }
  bool try_push(std::function<void()> call) {
    std::lock_guard lock(mu_);
    if (stopping_ || calls_.size() >= bound_) return false;
    calls_.push_back(std::move(call));
    wake_.notify_one();
    return true;
  }
  // Runs what is queued, then joins the workers.
  void stop() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }

 private:
  void run() {
    std::unique_lock lock(mu_);
    for (;;) {
      wake_.wait(lock, [&] { return stopping_ || !calls_.empty(); });
      if (calls_.empty()) return;
      auto call = std::move(calls_.front());
      calls_.pop_front();
      lock.unlock();
      call();
      lock.lock();
    }
  }
  size_t bound_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> calls_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

// One call forwarded to coach: runs on a worker, finishes the reactor.
struct Forwarded {
  grpc::CallbackServerContext* context;
  grpc::ServerUnaryReactor* reactor;
  grpc::ByteBuffer* response;
  const actors::Operation* operation;
  std::string body, authorization, user, idempotency_key;
  Clock::time_point deadline;  // the caller's, less a margin; or the default wait
  const std::atomic<bool>* draining;
};

grpc::Status status_of(const v1::ErrorReply& error, grpc::CallbackServerContext* context) {
  if (error.retry_after_ms() > 0)
    context->AddTrailingMetadata("coach-retry-after-ms", std::to_string(error.retry_after_ms()));
  return grpc::Status(static_cast<grpc::StatusCode>(grpc_code_for(error.code())),
                      error.code() + ": " + error.message(), error.SerializeAsString());
}

grpc::Status forward(natsConnection* nats, const Forwarded& call) {
  // Waiting for a worker counts against the deadline: a call whose caller
  // left, or which the gateway's stop overtook, goes no further.
  if (call.draining->load())
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "unavailable: the gateway is stopping");
  if (call.context->IsCancelled())
    return grpc::Status(grpc::StatusCode::CANCELLED, "the caller cancelled the call");
  CoachCall request{call.operation->name,
                    call.body,
                    std::string(actors::content_type_of(actors::Encoding::protobuf)),
                    call.authorization,
                    call.user,
                    call.idempotency_key,
                    call.deadline};
  auto answer = call_coach(nats, request);
  if (answer.outcome == CoachAnswer::Outcome::timed_out)
    return grpc::Status(
        grpc::StatusCode::DEADLINE_EXCEEDED,
        "coach did not answer " + call.operation->name + " in time (" + answer.why + ")");
  if (answer.outcome == CoachAnswer::Outcome::unreachable)
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "coach is not reachable: " + answer.why);
  v1::Reply reply;
  if (!reply.ParseFromString(answer.reply))
    return grpc::Status(grpc::StatusCode::INTERNAL, "coach's answer is not a Reply");
  if (reply.has_error()) return status_of(reply.error(), call.context);
  grpc::Slice slice(answer.reply);
  *call.response = grpc::ByteBuffer(&slice, 1);
  return grpc::Status::OK;
}

// WatchNotifications: a watch (notification_watch.h) written to the
// stream one message at a time; opened on a worker, since opening asks
// coach twice.
class WatchStream final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  explicit WatchStream(grpc::CallbackServerContext* context) : context_(context) {}

  // Who may still touch this object: gRPC until OnDone, a queued open, and
  // each watch callback while it runs. The last to let go deletes it; after
  // OnDone nobody new takes hold (hold() is false), so a callback from
  // NATS's thread never reaches a deleted stream.
  bool hold() { return hold(*life_); }
  void let_go() {
    auto life = life_;
    bool last;
    {
      std::lock_guard lock(life->mu);
      last = --life->holders == 0;
    }
    if (last) delete this;
  }

  // On a worker, holding the stream: opens the watch, or finishes with why
  // not. A caller gone meanwhile finds its watch closed at once.
  void open(WatchHub& hub, WatchCaller caller) {
    auto opened = hub.open(std::move(caller));
    if (!opened.watch) return finish(status_of(opened.error, context_));
    {
      std::lock_guard lock(mu_);
      if (finished_) return;  // the watch goes with `opened`
      watch_ = opened.watch;
    }
    // The client learns the stream is open before any notification; the
    // first write waits for OnSendInitialMetadataDone.
    StartSendInitialMetadata();
    // From NATS's or the hub's thread: `this` may be gone, `life` is not.
    opened.watch->on_change([life = life_, this] {
      if (!hold(*life)) return;  // OnDone came first
      pump();
      let_go();
    });
    // A client that reads nothing never takes the end either: cut it.
    opened.watch->on_stuck([life = life_, this] {
      if (!hold(*life)) return;
      context_->TryCancel();
      let_go();
    });
  }
  void finish(grpc::Status status) {
    {
      std::lock_guard lock(mu_);
      if (finished_) return;
      finished_ = true;
    }
    Finish(std::move(status));
  }

  void OnSendInitialMetadataDone(bool ok) override {
    {
      std::lock_guard lock(mu_);
      metadata_sent_ = true;
    }
    if (!ok) return finish(grpc::Status(grpc::StatusCode::CANCELLED, "the stream broke"));
    pump();
  }
  void OnWriteDone(bool ok) override {
    {
      std::lock_guard lock(mu_);
      writing_ = false;
    }
    if (!ok) return finish(grpc::Status(grpc::StatusCode::CANCELLED, "the stream broke"));
    pump();
  }
  void OnCancel() override {
    if (auto watch = current()) watch->end(cancelled());
    finish(grpc::Status(grpc::StatusCode::CANCELLED, "the caller cancelled the call"));
  }
  void OnDone() override {
    {
      std::lock_guard lock(life_->mu);
      life_->done = true;
    }
    if (auto watch = current()) watch->end(cancelled());  // its subscription goes now
    let_go();
  }

 private:
  ~WatchStream() override = default;  // by let_go only
  static v1::ErrorReply cancelled() {
    v1::ErrorReply e;
    e.set_code("cancelled");
    e.set_message("the caller left");
    return e;
  }
  std::shared_ptr<NotificationWatch> current() {
    std::lock_guard lock(mu_);
    return watch_;
  }
  // Writes the next notification unless one is being written; finishes
  // when the watch ended.
  void pump() {
    // gRPC's calls are made unlocked: a reaction may run inline.
    std::unique_lock lock(mu_);
    if (!metadata_sent_ || writing_ || finished_ || !watch_) return;
    if (auto record = watch_->pop()) {
      auto bytes = record->SerializeAsString();
      grpc::Slice slice(bytes);
      out_ = grpc::ByteBuffer(&slice, 1);
      writing_ = true;
      lock.unlock();
      StartWrite(&out_);
    } else if (auto why = watch_->ended()) {
      finished_ = true;
      lock.unlock();
      Finish(status_of(*why, context_));
    }
  }

  struct Life {
    std::mutex mu;
    int holders = 1;  // gRPC's
    bool done = false;
  };
  static bool hold(Life& life) {
    std::lock_guard lock(life.mu);
    if (life.done) return false;
    ++life.holders;
    return true;
  }
  grpc::CallbackServerContext* context_;
  std::shared_ptr<Life> life_ = std::make_shared<Life>();
  std::mutex mu_;
  std::shared_ptr<NotificationWatch> watch_;
  grpc::ByteBuffer out_;
  bool metadata_sent_ = false, writing_ = false, finished_ = false;
};

// coach.v1.CoachService without generated service code: one raw callback
// method per row of the operation table, in the table's order (the
// proto declares them in the same order; grpc_service_test checks it).
class CoachService final : public grpc::Service {
 public:
  CoachService(natsConnection* nats, CallQueue& queue, WatchHub& watches,
               std::chrono::milliseconds default_timeout)
      : nats_(nats), queue_(queue), watches_(watches), default_timeout_(default_timeout) {
    const auto& table = actors::operation_table();
    names_.reserve(table.size() + 1);  // names_ must not move: gRPC keeps pointers
    for (const auto& op : table) {
      names_.push_back("/" + std::string(kGrpcService) + "/" + grpc_method_name(op.name));
      AddMethod(new grpc::internal::RpcServiceMethod(
          names_.back().c_str(), grpc::internal::RpcMethod::NORMAL_RPC, nullptr));
      MarkMethodRawCallback(
          static_cast<int>(op.index),
          new grpc::internal::CallbackUnaryHandler<grpc::ByteBuffer, grpc::ByteBuffer>(
              [this, &op](grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
                          grpc::ByteBuffer* response) {
                return start(context, op, *request, response);
              }));
    }
    names_.push_back("/" + std::string(kGrpcService) + "/WatchNotifications");
    AddMethod(new grpc::internal::RpcServiceMethod(
        names_.back().c_str(), grpc::internal::RpcMethod::SERVER_STREAMING, nullptr));
    MarkMethodRawCallback(
        static_cast<int>(table.size()),
        new grpc::internal::CallbackServerStreamingHandler<grpc::ByteBuffer, grpc::ByteBuffer>(
            [this](grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) {
              return watch(context, *request);
            }));
  }

 private:
  grpc::ServerUnaryReactor* start(grpc::CallbackServerContext* context, const actors::Operation& op,
                                  const grpc::ByteBuffer& request, grpc::ByteBuffer* response) {
    auto* reactor = context->DefaultReactor();
    Forwarded call{context, reactor, response, &op, {}, {}, {}, {}, {}, nullptr};
    auto body = bytes_of(request);
    if (!body) {
      reactor->Finish(grpc::Status(grpc::StatusCode::INTERNAL, "unreadable request"));
      return reactor;
    }
    call.body = std::move(*body);
    if (call.body.size() > actors::kMaxRequestBytes) {
      reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                   "payload_too_large: a request holds at most " +
                                       std::to_string(actors::kMaxRequestBytes) + " bytes"));
      return reactor;
    }
    call.authorization = metadata(context, "authorization");
    call.user = metadata(context, "coach-user");
    call.idempotency_key = metadata(context, "coach-idempotency-key");
    auto now = Clock::now();
    call.deadline = now + default_timeout_;
    call.draining = &draining_;
    if (context->deadline() != Clock::time_point::max()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(context->deadline() - now);
      if (left.count() <= 0) {
        reactor->Finish(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "deadline already past"));
        return reactor;
      }
      // Answered a little before the caller's own deadline, so that it
      // hears why (coach's silence) rather than its own timer; at most
      // kMaxWait (call_coach).
      call.deadline = now + left - std::min(std::chrono::milliseconds(50), left / 10);
    }
    auto* nats = nats_;
    if (!queue_.try_push(
            [nats, call = std::move(call)] { call.reactor->Finish(forward(nats, call)); })) {
      context->AddTrailingMetadata("coach-retry-after-ms", "100");
      reactor->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                   "busy: the gateway has too many calls waiting; retry"));
    }
    return reactor;
  }

  grpc::ServerWriteReactor<grpc::ByteBuffer>* watch(grpc::CallbackServerContext* context,
                                                    const grpc::ByteBuffer& request) {
    auto* stream = new WatchStream(context);
    v1::WatchNotifications query;
    auto bytes = bytes_of(request);
    if (!bytes || !query.ParseFromString(*bytes)) {
      stream->finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                  "invalid_argument: the request is not a WatchNotifications"));
      return stream;
    }
    // Opening waits for coach at most as long as a call would.
    auto open_by = std::min(Clock::now() + default_timeout_, context->deadline());
    WatchCaller caller{metadata(context, "authorization"), metadata(context, "coach-user"),
                       query.after_position(), open_by};
    if (draining_ || !queue_.try_push([this, stream, caller = std::move(caller)] {
          if (draining_)
            return stream->finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                               "unavailable: the gateway is stopping"));
          stream->open(watches_, caller);
        })) {
      context->AddTrailingMetadata("coach-retry-after-ms", "100");
      stream->finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                  "busy: the gateway has too many calls waiting; retry"));
    }
    return stream;
  }

 public:
  // From now on queued calls are answered unavailable at once.
  void drain() { draining_ = true; }

 private:
  std::atomic<bool> draining_{false};
  natsConnection* nats_;
  CallQueue& queue_;
  WatchHub& watches_;
  std::chrono::milliseconds default_timeout_;
  std::vector<std::string> names_;
};

}  // namespace

struct GrpcGateway::Impl {
  natsConnection* nats = nullptr;
  std::unique_ptr<CallQueue> queue;
  std::unique_ptr<WatchHub> watches;
  std::unique_ptr<CoachService> service;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<HttpGateway> http;
  int port = 0;
  bool stopped = false;
};

GrpcGateway::GrpcGateway(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

GrpcGateway::~GrpcGateway() {
  shutdown();
}

int GrpcGateway::port() const {
  return impl_->port;
}

int GrpcGateway::http_port() const {
  return impl_->http ? impl_->http->port() : 0;
}

Result<std::unique_ptr<GrpcGateway>> GrpcGateway::start(GrpcGatewayOptions options) {
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (!options.cert_file.empty()) {
    auto cert = read_file(options.cert_file), key = read_file(options.key_file);
    if (!cert || !key)
      return make_error(Errc::invalid_argument,
                        "cannot read " + (cert ? options.key_file : options.cert_file));
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({*key, *cert});
    credentials = grpc::SslServerCredentials(ssl);
  }
  options.nats.shared_delivery = true;  // a live feed's callback never blocks
  auto connected = actors::connect_nats(options.nats);
  if (!connected) return connected.error();
  auto impl = std::make_unique<Impl>();
  impl->nats = *connected;
  impl->queue = std::make_unique<CallQueue>(options.workers, options.queue);
  impl->watches = std::make_unique<WatchHub>(impl->nats, options.watch);
  if (!impl->watches->may_listen()) {
    impl->watches.reset();
    impl->queue->stop();
    natsConnection_Destroy(impl->nats);
    return make_error(Errc::permission_denied,
                      "this bus identity may not hear live feeds (coach.live.>): issue it with "
                      "coachctl admin bus-creds --role gateway");
  }
  impl->service = std::make_unique<CoachService>(impl->nats, *impl->queue, *impl->watches,
                                                 options.default_timeout);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, credentials, &impl->port);
  builder.RegisterService(impl->service.get());
  impl->server = builder.BuildAndStart();
  if (!impl->server || impl->port == 0) {
    impl->queue->stop();
    natsConnection_Destroy(impl->nats);
    impl->nats = nullptr;
    return make_error(Errc::invalid_argument, "cannot listen on " + options.listen);
  }
  impl->server->GetHealthCheckService()->SetServingStatus(std::string(kGrpcService), true);
  if (options.http) {
    auto http = HttpGateway::start(impl->nats, impl->watches.get(), *options.http);
    if (!http) {
      std::unique_ptr<GrpcGateway> stopping(new GrpcGateway(std::move(impl)));
      stopping->shutdown();
      return http.error();
    }
    impl->http = std::move(*http);
  }
  return std::unique_ptr<GrpcGateway>(new GrpcGateway(std::move(impl)));
}

void GrpcGateway::shutdown(std::chrono::milliseconds grace) {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  // Live feeds last as long as their callers: ended first, so that neither
  // server waits for them.
  if (impl_->watches) impl_->watches->stop();
  impl_->http.reset();  // no new HTTP calls; those in flight finish first
  if (impl_->service) impl_->service->drain();
  if (impl_->server) impl_->server->Shutdown(Clock::now() + grace);
  if (impl_->queue) impl_->queue->stop();
  if (impl_->server) impl_->server->Wait();
  impl_->watches.reset();
  if (impl_->nats) natsConnection_Destroy(impl_->nats);
  impl_->nats = nullptr;
}

}  // namespace coach::apps
