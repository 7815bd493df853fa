// coach-deliver: a delivery gateway for one channel. It pulls notifications
// from coachd's JetStream consumer (deliver-push, deliver-email or
// deliver-sms), asks coach whether it is still to be sent (its user may
// have been deleted since it was fetched), hands it to the outside world as
// an outbound message (a JSON line in --out: where a real gateway would call
// APNs/FCM, SMTP or an SMS provider), confirms it to coach with
// admin.notification.report and acks it. A message it cannot hand over is nak'ed and comes back;
// after coachd's --notify-max-deliver attempts it is dead-lettered.
//
//   coach-deliver --channel email --token-file deliver.token --out outbox.jsonl
// --fail-all / --fail-first N make it refuse deliveries, --hold-ms holds each
// message before handling it (drills and tests).
//
// Its bearer token never appears on a command line (where any local user
// reads it in /proc): it comes from COACH_TOKEN or from --token-file, a file
// only its owner may read (mode 0600), read again whenever it changes, so a
// short-lived token can be renewed under a running gateway
// (scripts/run.sh renews it hourly). The outbox is created mode 0600.
#include <fcntl.h>
#include <fmt/core.h>
#include <nats/nats.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <google/protobuf/util/json_util.h>
#include <CLI/CLI.hpp>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <fstream>

#include "apps/common/coach_client.h"
#include "apps/common/secret_file.h"
#include "schema/internal.pb.h"
#include "wire/api_codec.h"
#include "wire/nats_connect.h"
#include "wire/notify_subjects.h"

namespace {

std::atomic<bool> stop{false};

struct Flags {
  std::string channel = "push";
  std::string nats_url = "tls://127.0.0.1:4222";
  std::string tls_dir = ".coach/tls";
  bool plaintext = false;
  std::string nats_creds;
  std::string token;
  std::string token_file;
  std::string out = "-";
  bool fail_all = false;
  int fail_first = 0;    // nak the first N attempts of every message
  int max_messages = 0;  // exit after delivering this many (0: run until SIGTERM)
  int batch = 64;
  int hold_ms = 0;  // wait after fetching each message (drills and tests)
};

coach::v1::DeliveryChannel channel_of(const std::string& name) {
  if (name == "email") return coach::v1::DELIVERY_CHANNEL_EMAIL;
  if (name == "sms") return coach::v1::DELIVERY_CHANNEL_SMS;
  return coach::v1::DELIVERY_CHANNEL_PUSH;
}

// The outbound message, one JSON line.
std::string outbound_line(const coach::v1::OutboundNotification& n, uint64_t attempt) {
  coach::v1::OutboundNotification copy = n;
  auto json = coach::actors::to_json(copy);
  return fmt::format("{{\"attempt\":{},\"notification\":{}}}\n", attempt, json);
}

// Asks coach, just before sending, whether the notification is still to be
// sent: a message fetched before its user was deleted (coachd purged the
// rest) is terminated unsent, one sent already is acked, and one coach
// cannot answer for now is redelivered later. True: send it.
bool still_to_send(natsConnection* nc, natsMsg* msg, const coach::v1::OutboundNotification& n,
                   const coach::apps::RequestHeaders& headers) {
  coach::v1::ReportDelivery check;
  check.set_user_id(n.notification().user_id());
  check.set_notification_id(n.notification().id());
  check.set_check_only(true);
  auto reply = coach::apps::coach_request(nc, "admin.notification.report",
                                          coach::actors::to_json(check), headers, 5000);
  if (reply && !reply->has_error()) return true;
  std::string code = reply ? reply->error().code() : "unavailable";
  std::string why = reply ? reply->error().message() : reply.error().message;
  if (code == "not_found") {
    fmt::print(stderr, "coach-deliver: not sent, {} terminated: {}\n", n.notification().id(), why);
    natsMsg_Term(msg, nullptr);
  } else if (code == "conflict") {
    fmt::print(stderr, "coach-deliver: not sent again: {}\n", why);
    natsMsg_Ack(msg, nullptr);
  } else {
    fmt::print(stderr, "coach-deliver: cannot check {} ({}: {}), retried later\n",
               n.notification().id(), code, why);
    natsMsg_NakWithDelay(msg, 1000, nullptr);
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"coach-deliver: a delivery gateway for one notification channel"};
  Flags f;
  if (const char* t = std::getenv("COACH_TOKEN")) f.token = t;
  if (const char* c = std::getenv("COACH_NATS_CREDS")) f.nats_creds = c;
  app.add_option("--channel", f.channel, "push, email or sms")
      ->check(CLI::IsMember({"push", "email", "sms"}))
      ->capture_default_str();
  app.add_option("--nats-url", f.nats_url, "NATS server")->capture_default_str();
  app.add_option("--tls-dir", f.tls_dir, "ca.pem, client.pem, client.key")->capture_default_str();
  app.add_flag("--plaintext", f.plaintext, "connect without TLS");
  app.add_option("--nats-creds", f.nats_creds,
                 "the gateway's NATS identity, mode 0600 (coachctl admin bus-creds --role "
                 "deliver); or COACH_NATS_CREDS");
  app.add_option("--token-file", f.token_file,
                 "file holding the gateway's bearer token, mode 0600 (or COACH_TOKEN)");
  app.add_option("--out", f.out, "where outbound messages go, one JSON line each ('-': stdout)")
      ->capture_default_str();
  app.add_flag("--fail-all", f.fail_all, "refuse every delivery (drill: dead letters)");
  app.add_option("--fail-first", f.fail_first, "refuse the first N attempts of each message")
      ->check(CLI::Range(0, 100));
  app.add_option("--max-messages", f.max_messages, "exit after delivering this many");
  app.add_option("--batch", f.batch, "messages fetched at once")->check(CLI::Range(1, 1024));
  app.add_option("--hold-ms", f.hold_ms,
                 "wait this long with each fetched message before handling it (drills: a user "
                 "deleted meanwhile is never sent to)")
      ->check(CLI::Range(0, 60000));
  CLI11_PARSE(app, argc, argv);
  auto token_changed = coach::apps::changed_at(f.token_file);
  if (!f.token_file.empty()) {
    auto token = coach::apps::read_secret_file(f.token_file);
    if (!token) {
      fmt::print(stderr, "coach-deliver: {}\n", token.error().message);
      return 2;
    }
    f.token = *token;
  }
  if (f.token.empty()) {
    fmt::print(stderr, "coach-deliver: a token is required (--token-file or COACH_TOKEN)\n");
    return 2;
  }
  signal(SIGTERM, [](int) { stop = true; });
  signal(SIGINT, [](int) { stop = true; });

  coach::actors::NatsConfig config;
  config.url = f.nats_url;
  config.name = "coach-deliver";
  config.plaintext = f.plaintext;
  config.reconnect_forever = true;
  config.use_tls_dir(f.tls_dir);
  config.creds_file = f.nats_creds;
  auto connected = coach::actors::connect_nats(config);
  if (!connected) {
    fmt::print(stderr, "coach-deliver: {}\n", connected.error().message);
    return 1;
  }
  natsConnection* nc = *connected;
  jsCtx* js = nullptr;
  natsConnection_JetStream(&js, nc, nullptr);
  auto channel = channel_of(f.channel);
  auto subject = coach::actors::notify_filter(channel);
  auto durable = coach::actors::consumer_name(channel);
  std::string stream(coach::actors::kNotifyStream);
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = stream.c_str();
  so.Consumer = durable.c_str();  // bind to coachd's consumer, never make one
  natsSubscription* sub = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  if (auto s = js_PullSubscribe(&sub, js, subject.c_str(), durable.c_str(), nullptr, &so, &jerr);
      s != NATS_OK) {
    fmt::print(stderr, "coach-deliver: cannot bind to consumer {} of {}: {} (is coachd running?)\n",
               durable, stream, natsStatus_GetText(s));
    return 1;
  }
  std::FILE* out = stdout;
  if (f.out != "-") {  // outbound messages hold people's addresses: owner only
    int fd = ::open(f.out.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd >= 0) ::fchmod(fd, 0600);  // also when it existed already
    out = fd >= 0 ? ::fdopen(fd, "a") : nullptr;
  }
  if (!out) {
    fmt::print(stderr, "coach-deliver: cannot open {}\n", f.out);
    return 1;
  }
  fmt::print(stderr, "coach-deliver: delivering {} from {}\n", f.channel, durable);
  coach::apps::RequestHeaders headers;
  headers.token = f.token;
  int delivered = 0;
  while (!stop && (f.max_messages == 0 || delivered < f.max_messages)) {
    if (!f.token_file.empty() && coach::apps::changed_at(f.token_file) != token_changed) {
      token_changed = coach::apps::changed_at(f.token_file);
      if (auto renewed = coach::apps::read_secret_file(f.token_file))
        headers.token = *renewed;
      else
        fmt::print(stderr, "coach-deliver: {}\n", renewed.error().message);
    }
    natsMsgList list{};
    auto s = natsSubscription_Fetch(&list, sub, f.batch, 500, &jerr);
    if (s == NATS_TIMEOUT) continue;
    if (s != NATS_OK) {
      nats_Sleep(200);
      continue;
    }
    for (int i = 0; i < list.Count; ++i) {
      natsMsg* msg = list.Msgs[i];
      jsMsgMetaData* meta = nullptr;
      uint64_t attempt = 1;
      if (natsMsg_GetMetaData(&meta, msg) == NATS_OK) {
        attempt = meta->NumDelivered;
        jsMsgMetaData_Destroy(meta);
      }
      coach::v1::OutboundNotification n;
      google::protobuf::util::JsonParseOptions parse;
      parse.ignore_unknown_fields = true;
      std::string body(natsMsg_GetData(msg), static_cast<size_t>(natsMsg_GetDataLength(msg)));
      if (!google::protobuf::util::JsonStringToMessage(body, &n, parse).ok()) {
        natsMsg_Term(msg, nullptr);  // never deliverable
        continue;
      }
      if (f.hold_ms > 0) nats_Sleep(f.hold_ms);
      if (f.fail_all || attempt <= static_cast<uint64_t>(f.fail_first)) {
        natsMsg_Nak(msg, nullptr);
        continue;
      }
      headers.user = n.notification().user_id();
      if (!still_to_send(nc, msg, n, headers)) continue;
      std::fputs(outbound_line(n, attempt).c_str(), out);
      std::fflush(out);
      coach::v1::ReportDelivery report;
      report.set_user_id(n.notification().user_id());
      report.set_notification_id(n.notification().id());
      report.set_status(coach::v1::NOTIFICATION_STATUS_SENT);
      report.set_attempts(static_cast<uint32_t>(attempt));
      auto reply = coach::apps::coach_request(nc, "admin.notification.report",
                                              coach::actors::to_json(report), headers, 5000);
      if (!reply || (reply->has_error() && reply->error().code() == "unavailable")) {
        natsMsg_NakWithDelay(msg, 1000, nullptr);  // coach is away: deliver the report later
        continue;
      }
      if (reply->has_error() && reply->error().code() == "not_found") {
        // The user was deleted while this message was in this gateway's
        // hands (coachd purged what was still queued): never retried.
        fmt::print(stderr, "coach-deliver: user gone, {} terminated: {}\n", n.notification().id(),
                   reply->error().message());
        natsMsg_Term(msg, nullptr);
        continue;
      }
      if (reply->has_error())
        fmt::print(stderr, "coach-deliver: report for {}: {}: {}\n", n.notification().id(),
                   reply->error().code(), reply->error().message());
      natsMsg_Ack(msg, nullptr);
      ++delivered;
    }
    natsMsgList_Destroy(&list);
  }
  if (out != stdout) std::fclose(out);
  natsSubscription_Destroy(sub);
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  return 0;
}
