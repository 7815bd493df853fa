#include "adapters/notifier.h"

#include <google/protobuf/util/json_util.h>
#include <nats/nats.h>

#include "schema/internal.pb.h"
#include "wire/api_codec.h"
#include "wire/log.h"

namespace coach::actors {
namespace {

constexpr int64_t kNanos = 1'000'000;  // per millisecond
constexpr int64_t kDuplicateWindow = 24LL * 3600 * 1000 * kNanos;
constexpr int64_t kDeadKept = 30LL * 24 * 3600 * 1000 * kNanos;
constexpr jsErrCode kStreamNameInUse = static_cast<jsErrCode>(10058);

// The server's own words (nats_GetLastError) say more than the status.
Error js_error(natsStatus s, jsErrCode code, const std::string& what) {
  natsStatus last = NATS_OK;
  const char* detail = nats_GetLastError(&last);
  std::string words = detail && *detail ? detail : natsStatus_GetText(s);
  return make_error(Errc::unavailable,
                    what + ": " + words +
                        (code ? " (JetStream error " + std::to_string(code) + ")"
                              : std::string("; is nats-server running with -js?")));
}

const v1::DeliveryChannel kChannels[] = {v1::DELIVERY_CHANNEL_PUSH, v1::DELIVERY_CHANNEL_EMAIL,
                                         v1::DELIVERY_CHANNEL_SMS};

// A stream, made or brought up to date with this config.
Status ensure_stream(jsCtx* js, jsStreamConfig& config) {
  jsErrCode code = static_cast<jsErrCode>(0);
  auto s = static_cast<natsStatus>(retry_while_jetstream_starts(
      [&] {
        jsStreamInfo* info = nullptr;
        natsStatus added = js_AddStream(&info, js, &config, nullptr, &code);
        if (added != NATS_OK && code == kStreamNameInUse)
          added = js_UpdateStream(&info, js, &config, nullptr, &code);
        if (info) jsStreamInfo_Destroy(info);
        return static_cast<int>(added);
      },
      [&] { return static_cast<int>(code); }));
  if (s != NATS_OK) return js_error(s, code, std::string("cannot set up stream ") + config.Name);
  return Ok{};
}

uint64_t number_after(std::string_view json, std::string_view key) {
  auto at = json.find(key);
  if (at == std::string_view::npos) return 0;
  at += key.size();
  while (at < json.size() && (json[at] == ' ' || json[at] == ':' || json[at] == '"')) ++at;
  uint64_t n = 0;
  while (at < json.size() && json[at] >= '0' && json[at] <= '9') n = n * 10 + (json[at++] - '0');
  return n;
}

}  // namespace

Result<std::unique_ptr<Notifier>> Notifier::start(NotifierOptions options) {
  std::unique_ptr<Notifier> n(new Notifier(std::move(options)));
  auto nats = n->options_.nats;
  nats.name = "coachd-notifier";
  nats.reconnect_forever = true;
  auto connection = connect_nats(nats);
  if (!connection) return connection.error();
  n->connection_ = *connection;
  jsOptions js_options;
  jsOptions_Init(&js_options);
  js_options.PublishAsync.MaxPending = 10000;
  js_options.PublishAsync.ErrHandler = [](jsCtx*, jsPubAckErr*, void* closure) {
    ++static_cast<Notifier*>(closure)->errors_;
  };
  js_options.PublishAsync.ErrHandlerClosure = n.get();
  if (auto s = natsConnection_JetStream(&n->js_, n->connection_, &js_options); s != NATS_OK)
    return js_error(s, static_cast<jsErrCode>(0), "no JetStream context");
  if (auto s = n->set_up_streams(); !s) return s.error();
  std::string advisory =
      "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + std::string(kNotifyStream) + ".*";
  if (auto s = natsConnection_Subscribe(&n->advisories_, n->connection_, advisory.c_str(),
                                        &Notifier::on_advisory, n.get());
      s != NATS_OK)
    return js_error(s, static_cast<jsErrCode>(0), "cannot subscribe to " + advisory);
  natsConnection_FlushTimeout(n->connection_, 5000);
  return n;
}

Status Notifier::set_up_streams() {
  std::string notify_name(kNotifyStream), dead_name(kDeadStream);
  const char* notify_subjects[] = {"coach.notify.*.*"};  // channel, user
  jsStreamConfig notify;
  jsStreamConfig_Init(&notify);
  notify.Name = notify_name.c_str();
  notify.Subjects = notify_subjects;
  notify.SubjectsLen = 1;
  notify.Retention = js_WorkQueuePolicy;
  notify.Storage = js_FileStorage;
  notify.Duplicates = kDuplicateWindow;
  if (auto s = ensure_stream(js_, notify); !s) return s;

  const char* dead_subjects[] = {"coach.dead.*.*"};
  jsStreamConfig dead;
  jsStreamConfig_Init(&dead);
  dead.Name = dead_name.c_str();
  dead.Subjects = dead_subjects;
  dead.SubjectsLen = 1;
  dead.Storage = js_FileStorage;
  dead.MaxAge = kDeadKept;
  if (auto s = ensure_stream(js_, dead); !s) return s;

  for (auto channel : kChannels) {
    auto durable = consumer_name(channel), filter = notify_filter(channel);
    jsConsumerConfig c;
    jsConsumerConfig_Init(&c);
    c.Durable = durable.c_str();
    c.AckPolicy = js_AckExplicit;
    c.AckWait = options_.ack_wait.count() * kNanos;
    c.MaxDeliver = options_.max_deliver;
    c.FilterSubject = filter.c_str();
    jsErrCode code = static_cast<jsErrCode>(0);
    auto s = static_cast<natsStatus>(retry_while_jetstream_starts(
        [&] {
          jsConsumerInfo* info = nullptr;
          natsStatus added = js_AddConsumer(&info, js_, notify_name.c_str(), &c, nullptr, &code);
          if (added != NATS_OK) {
            // The add's code says whether the cluster is settling; the
            // update's would hide it.
            jsErrCode update_code = static_cast<jsErrCode>(0);
            if (js_UpdateConsumer(&info, js_, notify_name.c_str(), &c, nullptr, &update_code) ==
                NATS_OK)
              added = NATS_OK;
          }
          if (info) jsConsumerInfo_Destroy(info);
          return static_cast<int>(added);
        },
        [&] { return static_cast<int>(code); }));
    if (s != NATS_OK) return js_error(s, code, "cannot set up consumer " + durable);
  }
  return Ok{};
}

Notifier::~Notifier() {
  if (advisories_) {
    natsSubscription_Unsubscribe(advisories_);
    natsSubscription_Destroy(advisories_);
  }
  if (js_) {
    jsPubOptions wait;
    jsPubOptions_Init(&wait);
    wait.MaxWait = 2000;
    js_PublishAsyncComplete(js_, &wait);  // what was handed over reaches the stream
    jsCtx_Destroy(js_);
  }
  if (connection_) {
    natsConnection_Close(connection_);
    natsConnection_Destroy(connection_);
  }
}

void Notifier::publish(const v1::OutboundNotification& notification) {
  auto body = to_json(notification);
  auto subject =
      notify_subject(notification.notification().channel(), notification.notification().user_id());
  jsPubOptions options;
  jsPubOptions_Init(&options);
  options.MsgId = notification.notification().id().c_str();
  auto s =
      js_PublishAsync(js_, subject.c_str(), body.data(), static_cast<int>(body.size()), &options);
  if (s == NATS_OK)
    ++published_;
  else
    ++errors_;
}

void Notifier::publish_live(const Uuid& user, const v1::LiveNotification& live) {
  auto body = live.SerializeAsString();
  auto subject = live_subject(user.to_string());
  if (natsConnection_Publish(connection_, subject.c_str(), body.data(),
                             static_cast<int>(body.size())) != NATS_OK)
    ++errors_;
}

Status Notifier::purge_user(const Uuid& user) {
  // Whatever was handed to publish_async before is in the stream by now, so
  // the purge finds it.
  jsPubOptions wait;
  jsPubOptions_Init(&wait);
  wait.MaxWait = 5000;
  js_PublishAsyncComplete(js_, &wait);
  for (auto [stream, prefix] :
       {std::pair{kNotifyStream, "coach.notify.*."}, std::pair{kDeadStream, "coach.dead.*."}}) {
    std::string name(stream), filter = prefix + user.to_string();
    jsOptions options;
    jsOptions_Init(&options);
    options.Stream.Purge.Subject = filter.c_str();
    jsErrCode code = static_cast<jsErrCode>(0);
    if (auto s = js_PurgeStream(js_, name.c_str(), &options, &code); s != NATS_OK)
      return js_error(s, code, "cannot purge " + filter + " from " + name);
  }
  return Ok{};
}

NotifierStats Notifier::stats() const {
  NotifierStats out{published_.load(), errors_.load(), dead_.load(), 0, 0};
  jsOptions options;
  jsOptions_Init(&options);
  options.Wait = 250;
  std::string notify_name(kNotifyStream), dead_name(kDeadStream);
  bool complete = true;
  for (auto channel : kChannels) {
    jsConsumerInfo* info = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    auto name = consumer_name(channel);
    auto s = js_GetConsumerInfo(&info, js_, notify_name.c_str(), name.c_str(), &options, &code);
    if (s == NATS_OK) {
      out.pending += info->NumPending + static_cast<uint64_t>(info->NumAckPending);
      jsConsumerInfo_Destroy(info);
    } else if (s != NATS_NOT_FOUND && code != JSConsumerNotFoundErr) {
      complete = false;  // JetStream did not answer (timeout, no responders, an election)
      break;             // the others would fare the same
    }
  }
  out.pending = complete ? (last_pending_ = out.pending) : last_pending_.load();
  jsStreamInfo* dead = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  if (complete && js_GetStreamInfo(&dead, js_, dead_name.c_str(), &options, &code) == NATS_OK) {
    last_dead_stored_ = dead->State.Msgs;
    jsStreamInfo_Destroy(dead);
  }
  out.dead_stored = last_dead_stored_;
  return out;
}

void Notifier::on_advisory(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  static_cast<Notifier*>(closure)->dead_letter(msg);
  natsMsg_Destroy(msg);
}

void Notifier::dead_letter(natsMsg* advisory) {
  std::string_view json(natsMsg_GetData(advisory),
                        static_cast<size_t>(natsMsg_GetDataLength(advisory)));
  auto sequence = number_after(json, "\"stream_seq\"");
  auto deliveries = number_after(json, "\"deliveries\"");
  if (sequence == 0) return;
  std::string notify_name(kNotifyStream);
  natsMsg* original = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  if (js_GetMsg(&original, js_, notify_name.c_str(), sequence, nullptr, &code) != NATS_OK) return;
  v1::OutboundNotification outbound;
  std::string body(natsMsg_GetData(original), static_cast<size_t>(natsMsg_GetDataLength(original)));
  natsMsg_Destroy(original);
  google::protobuf::util::JsonParseOptions parse;
  parse.ignore_unknown_fields = true;
  if (!google::protobuf::util::JsonStringToMessage(body, &outbound, parse).ok()) return;
  // Another node's user: left in the work queue for its owner.
  if (options_.handles && !options_.handles(outbound.notification().user_id())) return;
  auto target = dead_subject(outbound.notification().channel(), outbound.notification().user_id());
  jsPubOptions options;
  jsPubOptions_Init(&options);
  auto id = outbound.notification().id() + "/dead";
  options.MsgId = id.c_str();
  if (js_Publish(nullptr, js_, target.c_str(), body.data(), static_cast<int>(body.size()), &options,
                 &code) != NATS_OK)
    return;  // stays in the work queue; the next advisory tries again
  js_DeleteMsg(js_, notify_name.c_str(), sequence, nullptr, &code);
  ++dead_;
  log_line(LogLevel::warn, "notifier", "notification dead-lettered",
           {{"notification", outbound.notification().id()},
            {"channel", target},
            {"deliveries", static_cast<int64_t>(deliveries)}});
  if (options_.on_dead) options_.on_dead(outbound, deliveries);
}

}  // namespace coach::actors
