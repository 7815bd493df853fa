// How coach's programs connect to NATS: one place for the URL, TLS with a
// client certificate (the default), and the options every connection wants.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "base/result.h"

typedef struct __natsConnection natsConnection;

namespace coach::actors {

struct NatsConfig {
  std::string url = "tls://127.0.0.1:4222";
  // TLS: trust ca_file, present cert_file/key_file. With plaintext set none
  // is used: only by explicit choice (--plaintext).
  std::string ca_file, cert_file, key_file;
  bool plaintext = false;
  // The identity on the bus: a NATS credentials file (mode 0600) issued by
  // coachctl admin bus-creds (wire/bus_identity.h). Replies then come to
  // this identity's own inbox prefix, the only one it may subscribe to.
  // Empty: no identity (only a server without authorization accepts that).
  std::string creds_file;
  std::string name = "coach";
  int timeout_ms = 5000;
  bool reconnect_forever = false;
  // What the client keeps of publishes made while it reconnects, to send
  // once connected: 0 for nats.c's default (8 MiB).
  int reconnect_buffer_bytes = 0;
  // Async subscriptions share nats.c's delivery thread pool instead of a
  // thread each (coach-gateway: one subscription per live feed). Default
  // off.
  bool shared_delivery = false;

  // Fills the three files from a directory made by scripts/make-certs.sh.
  void use_tls_dir(const std::string& dir);
};

// A connected natsConnection (destroy with natsConnection_Destroy), or why
// not: unreachable server, refused certificate, missing files.
Result<natsConnection*> connect_nats(const NatsConfig& config);

// JetStream's API answers late, or not at all, while a cluster elects its
// leaders or when its servers are loaded: `call` (a JetStream request
// returning a natsStatus) is made again while it times out, until `bound`
// has passed, 200 ms apart. Returns call's last status. "No responders"
// (a server without JetStream) is not retried. `call` must be safe to
// repeat (get-or-create, idempotent).
//
// When `js_code` is given (it reads the jsErrCode `call` filled in), a failure
// whose code says the cluster is still settling is retried too: 10008
// (JetStream temporarily unavailable), 10049 (stream create failed: seen
// when nodes create the same stream at once), 10012 (consumer create
// failed, likewise). Any other code is an answer and is returned at once.
int retry_while_jetstream_starts(const std::function<int()>& call,
                                 const std::function<int()>& js_code = nullptr,
                                 std::chrono::milliseconds bound = std::chrono::seconds(30));

}  // namespace coach::actors
