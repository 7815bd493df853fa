#include "gateway/nats_gateway.h"

#include <nats/nats.h>

#include <chrono>
#include <optional>

#include "wire/api_codec.h"
#include "wire/log.h"

namespace coach::actors {
namespace {

Error nats_error(natsStatus s, const std::string& what) {
  return make_error(Errc::unavailable, what + ": " + natsStatus_GetText(s));
}

std::string header(natsMsg* msg, const char* name) {
  const char* value = nullptr;
  if (natsMsgHeader_Get(msg, name, &value) == NATS_OK && value) return value;
  return {};
}

natsStatus publish_encoded(natsConnection* connection, const std::string& subject,
                           Encoding encoding, const v1::Reply& reply, const std::string& body) {
  natsMsg* msg = nullptr;
  auto s =
      natsMsg_Create(&msg, subject.c_str(), nullptr, body.data(), static_cast<int>(body.size()));
  if (s != NATS_OK) return s;
  natsMsgHeader_Set(msg, kContentTypeHeader, std::string(content_type_of(encoding)).c_str());
  natsMsgHeader_Set(msg, "Coach-Status", reply.has_error() ? "error" : "ok");
  if (reply.has_error()) natsMsgHeader_Set(msg, "Coach-Error-Code", reply.error().code().c_str());
  s = natsConnection_PublishMsg(connection, msg);
  natsMsg_Destroy(msg);
  return s;
}

// Publishes a reply. One over the server's max payload is answered by a
// payload_too_large error instead, so the client learns why rather than
// waiting out its timeout. False when nothing could be published.
bool publish_reply(natsConnection* connection, const std::string& subject, Encoding encoding,
                   const v1::Reply& reply) {
  auto body = encode_reply(reply, encoding);
  auto s = publish_encoded(connection, subject, encoding, reply, body);
  if (s == NATS_MAX_PAYLOAD) {
    auto too_large = error_reply(make_error(
        Errc::payload_too_large,
        "the reply is " + std::to_string(body.size()) + " bytes, over the NATS server's limit of " +
            std::to_string(natsConnection_GetMaxPayload(connection)) +
            " bytes; ask for less at once (a smaller page_size or max_events)"));
    s = publish_encoded(connection, subject, encoding, too_large,
                        encode_reply(too_large, encoding));
  }
  if (s == NATS_OK) return true;
  log_line(LogLevel::warn, "gateway", "reply not published",
           {{"status", std::string(natsStatus_GetText(s))}, {"bytes", int64_t(body.size())}});
  return false;
}

// The user, command and idempotency key a message carries, or why not.
struct Decoded {
  const Operation* operation = nullptr;  // its row in the operation table
  Uuid user;
  bool from_user = false;  // the token is the target user's own
  v1::Command command;
  std::string idempotency_key;
  std::optional<std::chrono::system_clock::time_point> deadline;  // Coach-Deadline
};

// Coach-Deadline: epoch milliseconds, digits only; absent: none.
Result<std::optional<std::chrono::system_clock::time_point>> deadline_of(natsMsg* msg) {
  auto text = header(msg, kDeadlineHeader);
  if (text.empty()) return std::optional<std::chrono::system_clock::time_point>{};
  if (text.size() > 15 || text.find_first_not_of("0123456789") != std::string::npos)
    return make_error(Errc::invalid_argument,
                      "Coach-Deadline must be milliseconds since the Unix epoch, got " + text);
  return std::optional{
      std::chrono::system_clock::time_point(std::chrono::milliseconds(std::stoll(text)))};
}

// Who is asking, for whom: the token's claims and the target user.
Result<std::pair<Claims, Uuid>> authenticate(natsMsg* msg, const CachingVerifier& verifier,
                                             const Operation* operation) {
  if (operation && operation->access == Access::feed_secret) {
    auto user = Uuid::parse(header(msg, kUserHeader), "header Coach-User");
    if (!user) return user.error();
    Claims anonymous;  // no token: the actor checks the request's secret
    anonymous.user = *user;
    return std::pair{std::move(anonymous), *user};
  }
  auto claims =
      verifier.verify_header(header(msg, kAuthorizationHeader), std::chrono::system_clock::now());
  if (!claims) return claims.error();
  Uuid target = claims->user;
  if (auto user_header = header(msg, kUserHeader); !user_header.empty()) {
    auto user = Uuid::parse(user_header, "header Coach-User");
    if (!user) return user.error();
    target = *user;
  }
  if (operation)
    if (auto allowed = authorize(*claims, target, operation->access); !allowed)
      return allowed.error();
  return std::pair{std::move(*claims), target};
}

// `operation`: the subject's row, null for an unknown one (then `name`).
Result<Decoded> decode(natsMsg* msg, std::string_view name, const Operation* operation,
                       Encoding encoding, const CachingVerifier& verifier) {
  // The token first: nothing of a stranger's body is parsed, and a stranger
  // learns nothing of the operations.
  auto who = authenticate(msg, verifier, operation);
  if (!who) return who.error();
  if (!operation) return unknown_operation(name);
  auto command = decode_command(
      *operation, {natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg))},
      encoding);
  if (!command) return command.error();
  auto key = header(msg, kIdempotencyHeader);
  if (key.size() > 128)
    return make_error(Errc::invalid_argument, "Coach-Idempotency-Key is longer than 128 bytes");
  auto deadline = deadline_of(msg);
  if (!deadline) return deadline.error();
  bool from_user = operation->access != Access::feed_secret && who->first.user == who->second &&
                   who->first.role == v1::ROLE_USER;
  return Decoded{operation, who->second, from_user, std::move(*command), std::move(key), *deadline};
}

}  // namespace

std::string forwarded_prefix(const std::string& node_id) {
  return "coach.node." + node_id + ".";
}

NatsGateway::NatsGateway(Registry& registry, GatewayOptions options)
    : registry_(registry), options_(std::move(options)), verifier_(options_.verifier) {
  if (!options_.node_id.empty()) forwarded_prefix_ = forwarded_prefix(options_.node_id);
}

Result<std::unique_ptr<NatsGateway>> NatsGateway::start(Registry& registry,
                                                        GatewayOptions options) {
  std::unique_ptr<NatsGateway> gateway(new NatsGateway(registry, std::move(options)));
  auto nats = gateway->options_.nats;
  nats.name = "coachd";
  nats.reconnect_forever = true;  // NATS may restart; coachd waits for it
  auto connection = connect_nats(nats);
  if (!connection) return connection.error();
  gateway->connection_ = *connection;
  natsStatus s = NATS_OK;
  std::string subject = std::string(kSubjectPrefix) + ">";
  for (int i = 0; i < std::max(1, gateway->options_.subscriptions); ++i) {
    natsSubscription* sub = nullptr;
    s = natsConnection_QueueSubscribe(&sub, gateway->connection_, subject.c_str(),
                                      gateway->options_.queue_group.c_str(),
                                      &NatsGateway::on_message, gateway.get());
    if (s != NATS_OK) return nats_error(s, "cannot subscribe to " + subject);
    gateway->subscriptions_.push_back(sub);
    // The byte bound is nats.c's default (64 MiB); the count is ours.
    s = natsSubscription_SetPendingLimits(sub, std::max(1, gateway->options_.pending_limit),
                                          64 * 1024 * 1024);
    if (s != NATS_OK) return nats_error(s, "cannot set the pending limits of " + subject);
  }
  if (!gateway->forwarded_prefix_.empty()) {
    natsSubscription* sub = nullptr;
    std::string forwarded = gateway->forwarded_prefix_ + ">";
    s = natsConnection_Subscribe(&sub, gateway->connection_, forwarded.c_str(),
                                 &NatsGateway::on_message, gateway.get());
    if (s != NATS_OK) return nats_error(s, "cannot subscribe to " + forwarded);
    gateway->subscriptions_.push_back(sub);
  }
  // Make sure the server has the subscriptions before anyone is told we are up.
  if (s = natsConnection_FlushTimeout(gateway->connection_, 5000); s != NATS_OK)
    return nats_error(s, "NATS did not confirm the subscriptions");
  return gateway;
}

NatsGateway::~NatsGateway() {
  stop_accepting();
  if (connection_) {
    natsConnection_FlushTimeout(connection_, 2000);
    natsConnection_Close(connection_);
    natsConnection_Destroy(connection_);
  }
}

void NatsGateway::stop_accepting() {
  // Drain: the server stops sending, and messages already here are still
  // handled before the subscription goes.
  std::vector<natsSubscription*> subscriptions;
  {
    std::lock_guard lock(subscriptions_mu_);
    subscriptions.swap(subscriptions_);
  }
  for (auto* sub : subscriptions) natsSubscription_Drain(sub);
  // One deadline for all: the drain's bound is the node's, not each one's.
  auto until = std::chrono::steady_clock::now() + options_.drain_timeout;
  for (auto* sub : subscriptions) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    natsSubscription_WaitForDrainCompletion(sub, std::max<int64_t>(1, left.count()));
    int64_t dropped = 0;
    if (natsSubscription_GetDropped(sub, &dropped) == NATS_OK)
      dropped_before_.fetch_add(static_cast<uint64_t>(dropped));
    natsSubscription_Destroy(sub);
  }
}

bool NatsGateway::connected() const {
  return connection_ && natsConnection_Status(connection_) == NATS_CONN_STATUS_CONNECTED;
}

GatewayStats NatsGateway::stats() const {
  std::lock_guard lock(subscriptions_mu_);
  uint64_t dropped = dropped_before_.load();
  for (auto* sub : subscriptions_) {
    int64_t n = 0;
    if (natsSubscription_GetDropped(sub, &n) == NATS_OK) dropped += static_cast<uint64_t>(n);
  }
  return {requests_.load(), bad_requests_.load(), failed_publishes_->load(), dropped,
          forwarded_.load()};
}

void NatsGateway::on_message(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  static_cast<NatsGateway*>(closure)->handle(msg);
  natsMsg_Destroy(msg);
}

v1::Reply NatsGateway::node_reply(const Operation& operation, const v1::Command& command) {
  // The operation table's handler column; the user actor's handlers never
  // reach here (handle() sends only node rows).
  switch (operation.handler) {
    case Handler::node_stats: {
      v1::Reply stats;
      *stats.mutable_node_stats() = registry_.node_stats();
      return stats;
    }
    case Handler::batch:
      return batch_reply(command);
    case Handler::metrics: {
      if (!options_.batch)
        return error_reply(make_error(Errc::unavailable, "this node runs no batch job"));
      auto report = options_.batch->metrics(command.get_metrics());
      if (!report) return error_reply(report.error());
      v1::Reply reply;
      *reply.mutable_metrics_report() = std::move(*report);
      return reply;
    }
    case Handler::ops_snapshot: {
      if (!options_.ops) return error_reply(make_error(Errc::unavailable, "no ops view"));
      v1::Reply ops;
      *ops.mutable_ops() = options_.ops->snapshot();
      return ops;
    }
    case Handler::list_actors:
    case Handler::stop_actor:
      return actors_reply(command);
    case Handler::decide:
    case Handler::state_reply:
    case Handler::export_page:
    case Handler::features:
    case Handler::insights:
    case Handler::nudge_now:
    case Handler::erase:
      break;
  }
  return error_reply(make_error(Errc::internal, "a user operation the gateway cannot answer"));
}

v1::Reply NatsGateway::batch_reply(const v1::Command& command) {
  if (!options_.batch)
    return error_reply(make_error(Errc::unavailable, "this node runs no batch job"));
  if (command.has_run_batch())
    if (auto started = options_.batch->start(command.run_batch().full()); !started)
      return error_reply(started.error());
  v1::Reply reply;
  *reply.mutable_batch_status() = options_.batch->status();
  return reply;
}

v1::Reply NatsGateway::actors_reply(const v1::Command& command) {
  size_t limit = 100;
  if (command.has_stop_actor()) {
    auto user = Uuid::parse(command.stop_actor().user_id(), "user_id");
    if (!user) return error_reply(user.error());
    auto revived = registry_.kill_and_revive(*user, std::chrono::seconds(1));
    if (!revived)
      return error_reply(make_error(Errc::not_found, "user " + user->to_string() +
                                                         " has no resident actor (coachctl ops "
                                                         "actors lists them)"));
    log_line(LogLevel::warn, "gateway", "user actor stopped by an admin",
             {{"user", user->to_string()}});
    v1::Reply reply;
    reply.mutable_actor_list()->set_resident(registry_.stats().resident);
    *reply.mutable_actor_list()->add_actors() = std::move(*revived);
    return reply;
  } else if (command.list_actors().limit() > 1000) {
    return error_reply(make_error(Errc::invalid_argument, "limit must be 1 to 1000 (0: 100)"));
  } else if (command.list_actors().limit() > 0) {
    limit = command.list_actors().limit();
  }
  v1::Reply reply;
  auto* list = reply.mutable_actor_list();
  list->set_resident(registry_.stats().resident);
  for (auto& actor : registry_.actors(limit)) *list->add_actors() = std::move(actor);
  return reply;
}

bool NatsGateway::forward(natsMsg* msg, std::string_view subject, const std::string& owner) {
  natsMsg* out = nullptr;
  auto to = forwarded_prefix(owner) + std::string(subject);
  natsStatus s = natsMsg_Create(&out, to.c_str(), natsMsg_GetReply(msg), natsMsg_GetData(msg),
                                natsMsg_GetDataLength(msg));
  const char** keys = nullptr;
  int count = 0;
  if (s == NATS_OK && natsMsgHeader_Keys(msg, &keys, &count) == NATS_OK) {
    for (int i = 0; i < count && s == NATS_OK; ++i) {
      const char** values = nullptr;
      int n = 0;
      if (natsMsgHeader_Values(msg, keys[i], &values, &n) != NATS_OK) continue;
      for (int j = 0; j < n && s == NATS_OK; ++j) s = natsMsgHeader_Add(out, keys[i], values[j]);
      free(values);
    }
    free(keys);
  }
  if (s == NATS_OK) s = natsConnection_PublishMsg(connection_, out);
  natsMsg_Destroy(out);
  if (s != NATS_OK) return false;
  forwarded_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void NatsGateway::handle(natsMsg* msg) {
  requests_.fetch_add(1, std::memory_order_relaxed);
  const char* reply_to = natsMsg_GetReply(msg);
  if (!reply_to || !*reply_to) return;  // a publish, not a request: nobody to answer
  auto encoding = encoding_from_content_type(header(msg, kContentTypeHeader));
  std::string_view subject = natsMsg_GetSubject(msg);
  // Forwarded by another node: served here or answered, never sent on.
  bool was_forwarded = !forwarded_prefix_.empty() && subject.starts_with(forwarded_prefix_);
  if (was_forwarded) subject.remove_prefix(forwarded_prefix_.size());
  auto name = subject.substr(std::min(subject.size(), kSubjectPrefix.size()));
  const Operation* operation = find_operation(name);  // the one lookup of the request
  auto* metrics = options_.metrics;
  size_t slot = metrics ? metrics->slot(operation) : 0;
  auto reply = [connection = connection_, subject = std::string(reply_to),
                enc = encoding ? *encoding : Encoding::json, metrics, slot,
                failed = failed_publishes_,
                received = std::chrono::steady_clock::now()](const v1::Reply& r) {
    // Counted first: a client that has its answer must find it counted.
    if (metrics) metrics->record(slot, r.has_error(), std::chrono::steady_clock::now() - received);
    if (!publish_reply(connection, subject, enc, r)) failed->fetch_add(1);
  };
  auto decoded = encoding ? decode(msg, name, operation, *encoding, verifier_)
                          : Result<Decoded>(encoding.error());
  if (!decoded) {
    bad_requests_.fetch_add(1, std::memory_order_relaxed);
    auto code = decoded.error().code;
    if (code == Errc::unauthenticated || code == Errc::permission_denied)
      refused_.fetch_add(1, std::memory_order_relaxed);
    return reply(error_reply(decoded.error()));
  }
  if (node_handler(decoded->operation->handler))  // no user actor involved
    return reply(node_reply(*decoded->operation, decoded->command));
  if (options_.forward_to && !was_forwarded)
    if (auto owner = options_.forward_to(decoded->user); !owner.empty()) {
      if (forward(msg, subject, owner)) return;
      return reply(error_reply(
          make_error(Errc::unavailable, "the node serving this user could not be reached; retry")));
    }
  auto request = std::make_shared<Request>(decoded->user, std::move(decoded->command),
                                           std::move(decoded->idempotency_key), std::move(reply),
                                           decoded->operation);
  request->set_from_user(decoded->from_user);
  if (decoded->deadline) {
    request->set_deadline(*decoded->deadline);
    if (request->expired(std::chrono::system_clock::now()))
      return request->reply_error(deadline_passed());
  }
  registry_.dispatch(std::move(request));
}

}  // namespace coach::actors
